// `pocketrec quantize` end to end: an untrained d = 8 SASRec on the first 40 ML-1M users and a
// DeepFM trained two epochs on the Criteo sample (fast, and too small for any accuracy
// claim) are each written as int8 and as float16 packages (and a QAT-trained SASRec as int4)
// of their own kind that verify, evaluate, say where they came from, and are smaller by what
// their dtype implies. Packages without float weights are refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { PRIOR_TENSOR } from '../../../src/model/popularity.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyModel } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-quantize-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Summary {
  kind: string;
  dtype: string;
  bytes: number;
  sourceBytes: number;
  outputError: number;
  validation: { source: Record<string, number>; quantized: Record<string, number> };
  tensors: { name: string; scheme: string }[];
}

function manifestOf(dir: string) {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    kind: string;
    tensors: { name: string; dtype: string; scales?: unknown }[];
    training: { metrics: Record<string, number>; notes: string };
  };
}

async function quantize(source: string, out: string, ...extra: string[]): Promise<Summary> {
  const result = await run('quantize', source, '--out', out, ...extra, '--json');
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  expect((await run('verify', out)).code).toBe(0);
  return JSON.parse(result.out) as Summary;
}

let sasrec: string;
beforeAll(async () => {
  await useWasmBackend();
  sasrec = join(scratch, 'sasrec');
  const built = await buildModelPackage(
    await sequentialPackageSpec(tinyModel(3416, 4, 0.3), { name: 'sasrec', dataset: 'ml-1m' }),
  );
  await writePackageDirectory(sasrec, built.files);
});

describe('pocketrec quantize', () => {
  it('int8: a sequential package of the same kind, each matrix int8, its validation figures recorded', async () => {
    const out = join(scratch, 'sasrec-int8');
    const summary = await quantize(sasrec, out, '--users', '40', '--probe', '16');
    expect(summary.kind).toBe('sequential-dense');
    expect(summary.sourceBytes / summary.bytes).toBeGreaterThan(2.5);
    expect(summary.outputError).toBeGreaterThan(0);
    expect(summary.outputError).toBeLessThan(1e-2);
    const manifest = manifestOf(out);
    for (const t of manifest.tensors) {
      const scheme = summary.tensors.find((c) => c.name === t.name)?.scheme;
      expect(t.dtype, t.name).toBe(scheme?.startsWith('int8') ? 'int8' : scheme);
      expect(t.scales !== undefined, t.name).toBe(
        scheme === 'int8-rows' || scheme === 'int8-columns',
      );
    }
    expect(manifest.training.metrics['validation/NDCG@10']).toBe(
      summary.validation.quantized['validation/NDCG@10'],
    );
    const notes = JSON.parse(manifest.training.notes) as {
      command: string;
      quantizedFrom: { package: string };
      quantize: { dtype: string; schemes: Record<string, string> };
    };
    expect(notes.command).toMatch(/^npx pocketrec quantize .*--dtype int8/);
    expect(notes.quantizedFrom.package).toBe(sasrec);
    expect(Object.keys(notes.quantize.schemes)).toHaveLength(manifest.tensors.length);
    const evaluated = await run('eval', out, '--dataset', 'ml-1m', '--users', '40', '--json');
    expect(evaluated.code).toBe(0);
  });

  it('float16 and a CTR package: half the bytes, AUC and LogLoss before and after', async () => {
    const deepfm = join(scratch, 'deepfm');
    const trained = await run(
      'train',
      '--model',
      'deepfm',
      '--dataset',
      'criteo-sample',
      '--out',
      deepfm,
      '--epochs',
      '2',
      '--batch',
      '32',
      '--mlp',
      '16,16',
      '--dim',
      '4',
      '--json',
    );
    expect(trained.code).toBe(0);
    const half = await quantize(deepfm, join(scratch, 'deepfm-f16'), '--dtype', 'float16');
    expect(half.kind).toBe('ctr-dense');
    expect(half.bytes).toBeLessThanOrEqual(half.sourceBytes / 2 + 4 * 64);
    expect(Object.keys(half.validation.quantized).sort()).toEqual([
      'validation/AUC',
      'validation/LogLoss',
    ]);
    const int8 = await quantize(deepfm, join(scratch, 'deepfm-int8'));
    // d = 4 rows: a scale per row would make them as large as float16, so it is not tried.
    expect(int8.sourceBytes / int8.bytes).toBeGreaterThan(3.5);
    expect(
      (await run('eval', join(scratch, 'deepfm-int8'), '--dataset', 'criteo-sample')).code,
    ).toBe(0);
  });

  it('train --qat int4 records it in the config, and quantize --dtype int4 packs the result', async () => {
    const out = join(scratch, 'qat');
    const quick = ['--users', '40', '--epochs', '1', '--dim', '8', '--max-len', '6'];
    const base = ['train', '--model', 'sasrec', '--dataset', 'ml-1m', ...quick];
    const bad = await run(...base, '--out', out, '--qat', 'int2');
    expect(bad.err).toMatch(/--qat must be one of int8, int4, got "int2"/);
    const trained = await run(...base, '--out', out, '--qat', 'int4', '--json');
    expect(trained.code).toBe(0);
    const notes = JSON.parse(manifestOf(out).training.notes) as { config: { qat?: string } };
    expect(notes.config.qat).toBe('int4');
    const int4 = join(scratch, 'qat-int4');
    const summary = await quantize(out, int4, '--dtype', 'int4', '--users', '40', '--probe', '16');
    // The package holds the weights on the grid training saw (a scale per row), so storing
    // them by rows adds only the float16 rounding of the scales, and that is the scheme chosen.
    const rows = summary.tensors.filter((t) => t.scheme === 'int4-rows').map((t) => t.name);
    expect(rows).toContain('items.table');
    expect(summary.outputError).toBeLessThan(1e-3);
    // Every matrix in int4 (the table with a float16 scale per row: d = 8 rows allow it),
    // so the weights are about a sixth of float32's with the vectors and scales.
    const manifest = manifestOf(int4);
    const table = manifest.tensors.find((t) => t.name === 'items.table');
    expect(table?.dtype).toBe('int4');
    // The popularity prior is levels, not a weight: kept as the uint8 it was trained with.
    const weights = manifest.tensors.filter((t) => t.name !== PRIOR_TENSOR);
    expect(weights.every((t) => t.dtype === 'int4' || t.dtype === 'float16')).toBe(true);
    expect(manifest.tensors.find((t) => t.name === PRIOR_TENSOR)?.dtype).toBe('uint8');
    // The weights' bytes: the prior's (one per row, ML-1M's 3,417) are the same on both sides.
    const prior = 3417;
    expect((summary.sourceBytes - prior) / (summary.bytes - prior)).toBeGreaterThan(5);
    expect((await run('eval', int4, '--dataset', 'ml-1m', '--users', '40')).code).toBe(0);
  });

  it('measures a package trained for int4 but stored in float against the grid it was trained on', async () => {
    // What `train --qat int4` wrote before it stored its weights on the grid: float weights
    // and config.qat in the notes. Against the gridded model, a scale per row is exact but for
    // the float16 rounding of the scales; against the float one, any scheme would be off.
    const older = join(scratch, 'qat-float');
    const built = await buildModelPackage(
      await sequentialPackageSpec(tinyModel(3416, 5, 0.3), {
        name: 'qat-float',
        dataset: 'ml-1m',
        notes: JSON.stringify({ config: { qat: 'int4' } }),
      }),
    );
    await writePackageDirectory(older, built.files);
    const out = join(scratch, 'qat-float-int4');
    const summary = await quantize(older, out, '--dtype', 'int4', '--users', '40', '--probe', '16');
    const table = summary.tensors.find((t) => t.name === 'items.table');
    expect(table?.scheme).toBe('int4-rows');
    expect(summary.outputError).toBeLessThan(1e-3);
    const notes = JSON.parse(manifestOf(out).training.notes) as { quantize: object };
    expect(notes.quantize).toMatchObject({ fromTrainingGrid: true });
    // int8 is not the grid it was trained for: measured against the float weights as ever.
    const int8 = await quantize(
      older,
      join(scratch, 'qat-float-int8'),
      '--users',
      '40',
      '--probe',
      '16',
    );
    expect(int8.outputError).toBeGreaterThan(0);
    const int8Notes = JSON.parse(manifestOf(join(scratch, 'qat-float-int8')).training.notes) as {
      quantize: Record<string, unknown>;
    };
    expect(int8Notes.quantize.fromTrainingGrid).toBeUndefined();
  });

  it('quantises a package whose notes are plain text, carrying none of them over', async () => {
    const hand = join(scratch, 'hand');
    const built = await buildModelPackage(
      await sequentialPackageSpec(tinyModel(3416, 8, 0.3), {
        name: 'hand',
        dataset: 'ml-1m',
        notes: 'written by hand, not JSON',
      }),
    );
    await writePackageDirectory(hand, built.files);
    const out = join(scratch, 'hand-f16');
    await quantize(hand, out, '--dtype', 'float16', '--users', '40', '--probe', '8');
    const notes = JSON.parse(manifestOf(out).training.notes) as Record<string, unknown>;
    expect(notes.config).toBeUndefined();
    expect(notes.quantizedFrom).toEqual({ package: hand, version: expect.any(String) });
  });

  it('refuses a bad dtype, an existing package and a package with nothing to quantise', async () => {
    const out = join(scratch, 'refused');
    const bad = await run('quantize', sasrec, '--out', out, '--dtype', 'int2');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--dtype must be one of int8, int4, float16, got "int2"/);
    const taken = await run('quantize', sasrec, '--out', sasrec);
    expect(taken.err).toMatch(/already holds a model package/);
    const twice = await run('quantize', join(scratch, 'sasrec-int8'), '--out', out);
    // The int8 package still has float16 vectors, but no float32 weight is left.
    expect(twice.err).toMatch(/holds no float32 weights to quantise/);
  });
});
