// `pocketrec train --item-table jpq`: a SASRec with a RecJPQ item table, end to end on the
// first 40 ML-1M users (fast, and too small for any accuracy claim). The codes are drawn
// from the training split before the first epoch and are the same over 2 threads; the
// package verifies, `info` counts it, `umec` keeps its table and `tune-repeats` rewrites it.
// A resumed run reads its codes back from the checkpoint. Usage errors name the option.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingData } from '../../../src/cli/training-data.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { jpqItemTable } from '../../../src/model/item-table.ts';
import { assignJpqCodes } from '../../../src/model/jpq-codes.ts';
import { initEncoderWeights } from '../../../src/model/sasrec.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../src/model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { repackageSpec } from '../../../src/package/repackage.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { loadFixedTensor } from '../../../src/train/checkpoint.ts';
import { DEFAULT_TRAIN, runJpqCodes, trainSasrec } from '../../../src/train/train-sasrec.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyConfig } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-train-jpq-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeAll(async () => {
  await useWasmBackend();
});

const TRAIN = ['train', '--model', 'sasrec', '--dataset', 'ml-1m'];
const QUICK = ['--users', '40', '--epochs', '1', '--dim', '8', '--max-len', '6'];

/** Exit 2, nothing on stdout, and stderr matching `message`. */
async function expectUsage(argv: string[], message: RegExp): Promise<void> {
  const { code, out, err } = await run(...argv);
  expect(err).toMatch(message);
  expect(out).toBe('');
  expect(code).toBe(2);
}

const codesOf = (pkg: ModelPackage): Uint8Array =>
  pkg.tensors.get('items.jpq.codes')?.data as Uint8Array;

describe('pocketrec train --item-table jpq: usage errors name the option', () => {
  const never = ['--out', join(scratch, 'never-written')];
  it.each([
    [['--item-table', 'jpq', '--jpq-splits', '3'], /--jpq-splits 3 does not divide --dim 8/],
    [['--jpq-splits', '2'], /--jpq-splits shapes a RecJPQ table: it needs --item-table jpq/],
    [
      ['--item-table', 'dense', '--jpq-centroids', '16'],
      /--jpq-centroids shapes a RecJPQ table: it needs --item-table jpq/,
    ],
    [['--item-table', 'tt'], /--item-table must be one of dense, jpq, qr, got "tt"/],
    [
      ['--item-table', 'jpq', '--jpq-centroids', '300'],
      /--jpq-centroids must be an integer >= 1 <= 256, got "300"/,
    ],
    [['--item-table', 'jpq', '--jpq-splits', '0'], /--jpq-splits must be an integer >= 1, got "0"/],
    [
      ['--item-table', 'jpq', '--init-from', join(scratch, 'any')],
      /--init-from starts from a dense package's table; --item-table jpq is trained from scratch/,
    ],
  ])('%j', async (options, message) => {
    await expectUsage([...TRAIN, ...never, '--dim', '8', ...options], message);
  });

  it('a CTR model', async () => {
    await expectUsage(
      ['train', '--model', 'fm', '--dataset', 'frappe', ...never, '--item-table', 'jpq'],
      /--item-table is for the next-item models, not fm/,
    );
  });

  it('--help shows the options and their defaults', async () => {
    const { out } = await run('train', '--help');
    expect(out).toMatch(/--item-table <kind>[\s\S]*\(default dense\)/);
    expect(out).toMatch(/--jpq-splits <m>[\s\S]*\(default 8\)/);
    expect(out).toMatch(/--jpq-centroids <k>[\s\S]*at most\s+256 \(default 256\)/);
  });
});

describe('pocketrec train --item-table jpq, end to end', () => {
  const one = join(scratch, 'jpq-1');
  const two = join(scratch, 'jpq-2');
  let pkg: ModelPackage;

  beforeAll(async () => {
    for (const [out, threads] of [
      [one, '1'],
      [two, '2'],
    ] as const) {
      const args = [...TRAIN, '--out', out, ...QUICK, '--item-table', 'jpq', '--jpq-splits', '2'];
      const { code, err } = await run(...args, '--threads', threads, '--json');
      expect(err).toBe('');
      expect(code).toBe(0);
    }
    pkg = await readModelPackage(directorySource(one));
  }, 240_000);

  it('writes a sequential-jpq package that records its command, verifies and is counted', async () => {
    expect(pkg.manifest.kind).toBe('sequential-jpq');
    expect(pkg.manifest.architecture).toMatchObject({
      dim: 8,
      maxLen: 6,
      jpqSplits: 2,
      jpqCentroids: 256,
    });
    const notes = JSON.parse(pkg.manifest.training.notes as string);
    expect(notes.command).toMatch(/^npx pocketrec train .*--item-table jpq --jpq-splits 2/);
    expect(notes.config.jpq).toEqual({ splits: 2, centroids: 256 });
    expect((await run('verify', one)).code).toBe(0);
    const info = JSON.parse((await run('info', one, '--json')).out);
    expect(info.kind).toBe('sequential-jpq');
    expect(info.flops).toBeGreaterThan(0);
    // The ML-1M catalogue is under the engine's 100,000 rows: the table is built at load.
    expect(info.size.embeddingBytes).toBe(4 * 256 * 8 + 2 * (pkg.manifest.items.count + 1));
  });

  it('codes drawn from the training split with the run seed, the same over 2 threads', async () => {
    const data = await trainingData('ml-1m', { users: '40' });
    const want = assignJpqCodes(
      data.train,
      data.numItems,
      { splits: 2, centroids: 256 },
      { seed: 42 },
    );
    expect(codesOf(pkg)).toEqual(want.codes);
    const parallel = await readModelPackage(directorySource(two));
    expect(codesOf(parallel)).toEqual(want.codes);
    // And the codebooks trained (they left their draw), in both runs alike.
    const books = (p: ModelPackage) => sequentialFromPackage(p).items.jpq?.codebooks as tf.Tensor;
    const drawn = tf.randomNormal([2, 256, 4], 0, 1 / Math.sqrt(8), 'float32', 42 + 1000);
    const moved = tf.max(tf.abs(books(pkg).sub(drawn))).dataSync()[0] as number;
    expect(moved).toBeGreaterThan(1e-4);
    const apart = tf.max(tf.abs(books(pkg).sub(books(parallel)))).dataSync()[0] as number;
    expect(apart).toBeLessThan(0.05);
  });

  it('evaluates, and umec narrows its encoder but keeps its table', async () => {
    const evaluated = await run('eval', one, '--dataset', 'ml-1m', '--users', '40', '--json');
    expect(evaluated.code).toBe(0);
    const out = join(scratch, 'jpq-umec');
    const {
      code,
      err,
      out: printed,
    } = await run(
      ...['umec', one, '--dataset', 'ml-1m', '--flops-budget', '0.6', '--out', out],
      ...['--users', '40', '--method', 'magnitude', '--batch', '256', '--finetune', '1', '--json'],
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(printed).kind).toBe('sequential-jpq');
    const cut = await readModelPackage(directorySource(out));
    expect(cut.manifest.architecture).toMatchObject({ jpqSplits: 2, jpqCentroids: 256 });
    expect(codesOf(cut)).toEqual(codesOf(pkg));
    expect(cut.tensors.get('items.jpq.codebooks')?.shape).toEqual([2, 256, 4]);
    expect(sequentialFromPackage(cut).config.inner).toBeDefined();
    expect((await run('verify', out)).code).toBe(0);
    expect(JSON.parse((await run('info', out, '--json')).out).flopsRatio).toBeLessThan(1);
  }, 240_000);

  it('training saves its codes with each checkpoint, and a resumed run trains over those', async () => {
    const data = await trainingData('ml-1m', { users: '40' });
    const shape = { splits: 2, centroids: 256 };
    const dir = join(scratch, 'jpq-resume.checkpoint');
    const config = { ...DEFAULT_TRAIN, dim: 8, maxLen: 6, batchSize: 256, epochs: 1, jpq: shape };
    const hooks = { checkpointDir: dir, validate: async () => 0 };
    const first = await trainSasrec(data.train, data.numItems, config, hooks);
    expect(Uint8Array.from(first.model.items.jpq?.codes.dataSync() ?? [])).toEqual(codesOf(pkg));
    expect((await loadFixedTensor(dir, 'items.jpq.codes'))?.data).toEqual(codesOf(pkg));
    // Codes in the checkpoint that this data would not draw: the resumed run takes them.
    const checkpoint = await readModelPackage(directorySource(dir));
    const saved = checkpoint.tensors.get('fixed/items.jpq.codes')?.data as Uint8Array;
    saved.forEach((c, i) => {
      saved[i] = 255 - c;
    });
    const { notes } = checkpoint.manifest.training;
    const rewritten = repackageSpec(checkpoint, {
      name: 'checkpoint',
      notes: notes ?? '',
      metrics: {},
    });
    await writePackageDirectory(dir, (await buildModelPackage(rewritten)).files);
    const resumed = await trainSasrec(data.train, data.numItems, { ...config, epochs: 2 }, hooks);
    expect(resumed.resumed).toBe(true);
    expect(resumed.state.epoch).toBe(2);
    expect(Uint8Array.from(resumed.model.items.jpq?.codes.dataSync() ?? [])).toEqual(saved);
    // Codes of another shape belong to another run: drawn afresh, and its checkpoint refused.
    const other = await runJpqCodes(
      data.train,
      data.numItems,
      { splits: 4, centroids: 256 },
      42,
      dir,
    );
    expect(other.codes).toHaveLength((data.numItems + 1) * 4);
    await expect(
      trainSasrec(
        data.train,
        data.numItems,
        { ...config, jpq: { splits: 4, centroids: 256 } },
        hooks,
      ),
    ).rejects.toThrow(/does not match this model \(variable "items\.jpq\.codebooks"\)/);
  }, 120_000);
});

describe('pocketrec tune-repeats on a RecJPQ package', () => {
  it('writes it again as sequential-jpq with the bonus, codes and codebooks unchanged', async () => {
    const numItems = 40727;
    const config = tinyConfig(numItems);
    const codes = Int32Array.from({ length: (numItems + 1) * 2 }, (_, i) => (i * 37) % 256);
    const model = {
      config,
      encoder: initEncoderWeights(config, 1),
      items: jpqItemTable(
        tf.randomNormal([2, 256, 4], 0, 0.1, 'float32', 2),
        tf.tensor2d(codes, [numItems + 1, 2], 'int32'),
        numItems + 1,
      ),
    };
    const source = join(scratch, 'tmall-jpq');
    const built = await buildModelPackage(
      await sequentialPackageSpec(model, { name: 'tmall-jpq', dataset: 'tmall' }),
    );
    await writePackageDirectory(source, built.files);
    const out = join(scratch, 'tmall-jpq-tuned');
    const { code, err } = await run(
      'tune-repeats',
      source,
      '--dataset',
      'tmall',
      '--users',
      '300',
      '--out',
      out,
      '--json',
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const before = await readModelPackage(directorySource(source));
    const after = await readModelPackage(directorySource(out));
    expect(after.manifest.kind).toBe('sequential-jpq');
    expect(after.manifest.architecture.repeatBonus).toBeGreaterThan(0);
    expect(after.manifest.architecture).toMatchObject({ jpqSplits: 2, jpqCentroids: 256 });
    expect(codesOf(after)).toEqual(codesOf(before));
    expect(after.tensors.get('items.jpq.codebooks')?.data).toEqual(
      before.tensors.get('items.jpq.codebooks')?.data,
    );
  }, 120_000);
});
