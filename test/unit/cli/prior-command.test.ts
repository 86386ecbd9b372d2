// The popularity prior on the command line, on the generated storefront (no data directory,
// a few hundred shoppers, seconds): `train` and `distill` write the training split's counts
// unless --no-prior; `prior` adds them to a package (in place), or writes a
// sequential-popularity package that `eval` ranks as MostPop ranks the same counts; `eval`
// reads a Markov package; `info` and `verify` say whether a package carries a prior; and
// what cannot take a prior, or would be written over, is refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trainingData } from '../../../src/cli/training-data.ts';
import { itemCounts } from '../../../src/eval/hot-items.ts';
import { PRIOR_MAX_COUNT, PRIOR_TENSOR } from '../../../src/model/popularity.ts';
import type { Manifest } from '../../../src/package/manifest.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-prior-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const root = join(import.meta.dirname, '../../..');
const USERS = '300';
const QUICK = ['--users', '40', '--epochs', '1', '--dim', '8', '--max-len', '6', '--loss', 'full'];

const manifestOf = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const hasPrior = (dir: string) => manifestOf(dir).tensors.some((t) => t.name === PRIOR_TENSOR);

async function json(...argv: string[]): Promise<Record<string, unknown>> {
  const result = await run(...argv, '--json');
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.out);
}

const metricsOf = async (model: string, ...options: string[]) =>
  (await json('eval', model, '--dataset', 'storefront', ...options)).metrics as Record<
    string,
    number
  >;

describe('train and distill write the prior of the split they trained on', () => {
  const teacher = join(scratch, 'teacher');

  it('train: by default, the counts of the training split; --no-prior: none', async () => {
    await json('train', '--model', 'sasrec', '--dataset', 'storefront', '--out', teacher, ...QUICK);
    const manifest = manifestOf(teacher);
    const data = await trainingData('storefront', { users: '40' });
    const counts = itemCounts(data.train, data.numItems);
    expect(manifest.architecture[PRIOR_MAX_COUNT]).toBe(Math.max(...counts));
    expect(manifest.tensors.find((t) => t.name === PRIOR_TENSOR)?.shape).toEqual([3001]);
    expect(JSON.parse(manifest.training.notes as string).command).not.toMatch(/ --(no-)?prior/);

    const bare = join(scratch, 'teacher-bare');
    await json(
      'train',
      '--model',
      'sasrec',
      '--dataset',
      'storefront',
      '--out',
      bare,
      ...QUICK,
      '--no-prior',
    );
    expect(hasPrior(bare)).toBe(false);
    expect(JSON.parse(manifestOf(bare).training.notes as string).command).toMatch(
      / --no-prior( |$)/,
    );
    expect(manifest.size.bytes - manifestOf(bare).size.bytes).toBe(3001);
  });

  it('distill: the student carries a prior too, unless --no-prior', async () => {
    const student = join(scratch, 'student');
    const distill = [
      'distill',
      '--teacher',
      teacher,
      '--rank',
      '2',
      '--cores',
      '2',
      '--epochs',
      '1',
    ];
    await json(...distill, '--users', '40', '--out', student);
    expect(hasPrior(student)).toBe(true);
    await json(...distill, '--users', '40', '--out', join(scratch, 'student-bare'), '--no-prior');
    expect(hasPrior(join(scratch, 'student-bare'))).toBe(false);
  });

  it('info and verify say so; eval ranks the package with a prior like any other', async () => {
    const info = await json('info', teacher);
    expect(info.prior).toEqual({
      bytes: 3001,
      maxCount: manifestOf(teacher).architecture[PRIOR_MAX_COUNT],
    });
    expect((await run('info', teacher)).out).toMatch(/^popularity prior +yes: 3,001 bytes/m);
    expect((await run('info', join(scratch, 'teacher-bare'))).out).toMatch(
      /^popularity prior +none: an empty history gets no recommendations/m,
    );
    expect((await run('verify', teacher)).out).toMatch(/popularity prior of 3000 items \(\d+ seen/);
    const metrics = await metricsOf(teacher, '--users', '40');
    expect(metrics['HR@10']).toBeGreaterThanOrEqual(0);
  });
});

describe('pocketrec prior', () => {
  it('writes a sequential-popularity package that eval ranks as MostPop ranks the same counts', async () => {
    const out = join(scratch, 'popularity');
    const written = await json('prior', '--dataset', 'storefront', '--users', USERS, '--out', out);
    expect(written).toMatchObject({ kind: 'sequential-popularity', items: 3000 });
    expect(manifestOf(out).size.bytes).toBe(3001);
    expect((await run('verify', out)).code).toBe(0);
    // On validation MostPop is fitted on the very split the prior counted.
    const split = ['--split', 'validation', '--users', USERS];
    const prior = await metricsOf(out, ...split);
    const mostpop = await metricsOf('mostpop', ...split);
    expect(prior['HR@10']).toBeGreaterThan(0.01);
    expect(Math.abs((prior['HR@10'] as number) - (mostpop['HR@10'] as number))).toBeLessThan(0.02);
    expect(Math.abs((prior['NDCG@10'] as number) - (mostpop['NDCG@10'] as number))).toBeLessThan(
      0.02,
    );
  });

  it('adds a prior to a package in place, keeping every other tensor, its name and metrics', async () => {
    const bare = join(scratch, 'teacher-bare');
    const before = manifestOf(bare);
    const written = await json('prior', bare, '--users', '40', '--out', bare);
    const after = manifestOf(bare);
    expect(hasPrior(bare)).toBe(true);
    expect(written.bytesAfter as number).toBeGreaterThan((written.bytesBefore as number) + 3001);
    expect(after.name).toBe(before.name);
    expect(after.createdAt).toBe(before.createdAt);
    expect(after.training.metrics).toEqual(before.training.metrics);
    expect(after.tensors.filter((t) => t.name !== PRIOR_TENSOR)).toEqual(before.tensors);
    expect(JSON.parse(after.training.notes as string).prior.command).toMatch(
      /^npx pocketrec prior /,
    );
    expect((await run('verify', bare)).code).toBe(0);
  });

  it('eval reads a Markov package', async () => {
    const markov = join(root, 'models/storefront-markov');
    const report = await json('eval', markov, '--dataset', 'storefront', '--users', USERS);
    expect(report.model).toBe('storefront-markov');
    expect((report.metrics as Record<string, number>)['HR@10']).toBeGreaterThan(0.1);
  });

  it.each([
    [
      'a Markov package',
      () => ['prior', join(root, 'models/storefront-markov'), '--out', join(scratch, 'x')],
      /is a sequential-markov package: .*a Markov package's popularity is its prior/,
    ],
    [
      'another package at --out',
      () => ['prior', '--dataset', 'storefront', '--out', join(scratch, 'teacher')],
      /already holds a model package; remove it, or pass --force/,
    ],
    [
      'no package and no --dataset',
      () => ['prior', '--out', join(scratch, 'y')],
      /--dataset is required without a package/,
    ],
    [
      'a data set the package was not trained on',
      () => ['prior', join(scratch, 'teacher'), '--dataset', 'ml-1m', '--out', join(scratch, 'z')],
      /was trained on storefront, not ml-1m/,
    ],
  ])('refuses %s', async (_what, argv, message) => {
    const result = await run(...argv());
    expect(result.err).toMatch(message);
    expect(result.code).toBe(2);
  });
});
