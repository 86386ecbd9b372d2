// `pocketrec train --teacher`: a d = 8 SASRec trained from scratch on the first 40 ML-1M users
// against a wider (d = 16) teacher by its logits (fast, and too small for any accuracy
// claim). The package is a plain dense one whose notes name its teacher and the loss
// weights, so the report and the frontier count it as distilled; options that need a teacher,
// or a teacher that cannot be distilled from, are refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights } from '../../../src/model/sasrec.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyModel } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-train-teacher-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const QUICK = ['--users', '40', '--epochs', '1', '--dim', '8', '--max-len', '6', '--loss', 'full'];
let teacher: string;

beforeAll(async () => {
  await useWasmBackend();
  const narrow = tinyModel(3416, 5, 0.3);
  const config = { ...narrow.config, dim: 16 };
  const wide = {
    config,
    encoder: initEncoderWeights(config, 6),
    items: denseItemTable(tf.randomNormal([3417, 16], 0, 0.3, 'float32', 7)),
  };
  teacher = join(scratch, 'teacher');
  const built = await buildModelPackage(
    await sequentialPackageSpec(wide, { name: 'wide-teacher', dataset: 'ml-1m' }),
  );
  await writePackageDirectory(teacher, built.files);
});

describe('pocketrec train --teacher', () => {
  it('trains a narrower dense model against the teacher, its notes naming it', async () => {
    const out = join(scratch, 'student');
    const result = await run(
      'train',
      '--model',
      'sasrec',
      '--dataset',
      'ml-1m',
      '--out',
      out,
      ...QUICK,
      '--teacher',
      teacher,
      '--kd-alpha',
      '0.7',
      '--json',
    );
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.kind).toBe('sequential-dense');
    expect(manifest.architecture.dim).toBe(8);
    const notes = JSON.parse(manifest.training.notes);
    expect(notes.teacher).toBe('wide-teacher');
    expect(notes.distilledByLogits).toEqual({ alpha: 0.7, temperature: 1 });
    expect(notes.command).toMatch(/--teacher .* --kd-alpha 0\.7/);
    expect((await run('verify', out)).code).toBe(0);
  });

  it('refuses KD weights without a teacher, a sampled loss and a teacher of other items', async () => {
    const base = ['train', '--model', 'sasrec', '--dataset', 'ml-1m', '--out', join(scratch, 'x')];
    const noTeacher = await run(...base, ...QUICK, '--kd-alpha', '0.5');
    expect(noTeacher.err).toMatch(/--kd-alpha and --kd-temperature weigh the KL to a --teacher/);
    const sampled = await run(
      ...base,
      ...QUICK.slice(0, -2),
      '--loss',
      'sampled',
      '--teacher',
      teacher,
    );
    expect(sampled.err).toMatch(/--teacher needs --loss full/);
    const other = join(scratch, 'other-items');
    const built = await buildModelPackage(
      await sequentialPackageSpec(tinyModel(50), { name: 'other', dataset: 'ml-1m' }),
    );
    await writePackageDirectory(other, built.files);
    const mismatch = await run(...base, ...QUICK, '--teacher', other);
    expect(mismatch.err).toMatch(/--teacher .* knows 50 items; ml-1m has 3416/);
  });
});
