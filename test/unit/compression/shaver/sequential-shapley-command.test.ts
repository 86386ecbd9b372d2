// `pocketrec shapley` and `pocketrec prune` on a sequence model, end to end: an untrained
// d = 8 SASRec on the first 30 ML-1M users (fast, and no accuracy claim). The estimate is
// written and resumed, prune keeps exactly the top elements by |value| (row 0 never), the
// packages verify, evaluate, report their pruning in `info` and quantise; what the
// sequential kind does not have (progressive layout, fine-tuning) is refused by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShapleyEstimate } from '../../../../src/compression/shaver/estimate-store.ts';
import { keptCount, maskFromRanking, ranking } from '../../../../src/compression/shaver/prune.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DENSE_TABLE } from '../../../../src/model/item-table.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../../src/model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../../src/package/reader.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';
import { runCli as run, tinyModel } from '../../cli/helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-sequential-shapley-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const DATA = ['--dataset', 'ml-1m', '--users', '30'];
const DIM = 8;

let model: string;
let table: Float32Array;
beforeAll(async () => {
  await useWasmBackend();
  model = join(scratch, 'sasrec');
  const m = tinyModel(3416, 4, 0.3);
  table = (m.items.weights[DENSE_TABLE] as tf.Tensor).dataSync() as Float32Array;
  const built = await buildModelPackage(
    await sequentialPackageSpec(m, { name: 'sasrec', dataset: 'ml-1m' }),
  );
  await writePackageDirectory(model, built.files);
});

async function json<T>(...argv: string[]): Promise<T> {
  const result = await run(...argv, '--json');
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.out) as T;
}

async function tableOf(dir: string): Promise<Float32Array> {
  const loaded = sequentialFromPackage(await readModelPackage(directorySource(dir)));
  return (loaded.items.weights[DENSE_TABLE] as tf.Tensor).dataSync() as Float32Array;
}

describe('pocketrec shapley and prune on a sequence model', () => {
  const values = join(scratch, 'values');

  it('estimates on the validation cases in one pass by default, then resumes for more', async () => {
    const first = await json<{ samples: number; passes: number; split: string; elements: number }>(
      'shapley',
      model,
      ...DATA,
      '--out',
      values,
    );
    expect(first).toMatchObject({
      samples: 30,
      passes: 1,
      split: 'validation',
      elements: 3417 * DIM,
    });
    const stored = await readShapleyEstimate(values);
    expect(stored.dim).toBe(DIM);
    expect(stored.codebook).toHaveLength(DIM);
    expect(stored.source).toMatchObject({ dataset: 'ml-1m', split: 'validation' });
    // Only the rows the 30 users read have values; padding row 0 none.
    const credited = new Set(
      [...stored.counts.keys()]
        .filter((g) => stored.counts[g]! > 0)
        .map((g) => Math.floor(g / DIM)),
    );
    expect(credited.has(0)).toBe(false);
    expect(credited.size).toBeGreaterThan(30);
    expect(credited.size).toBeLessThan(30 * 7 + 1);

    const again = await json<{ samples: number; resumed: boolean; runSamples: number }>(
      'shapley',
      model,
      ...DATA,
      '--out',
      values,
      '--max-passes',
      '2',
    );
    expect(again).toMatchObject({ samples: 60, resumed: true, runSamples: 30 });
  });

  it('prunes to each budget, keeping the elements of largest |value| and the codebook elsewhere', async () => {
    const out = join(scratch, 'shaver');
    const summary = await json<{ packages: { out: string; kept: number; layout: string }[] }>(
      'prune',
      model,
      '--method',
      'shaver',
      '--shapley',
      values,
      '--sparsity',
      '0.5,0.97',
      '--out',
      out,
    );
    // At dim 8 a bitmap row is one byte: CSR's count alone costs as much.
    expect(summary.packages.map((p) => p.layout)).toEqual(['bitmap', 'bitmap']);
    const estimate = await readShapleyEstimate(values);
    const scores = estimate.values.map(Math.abs);
    scores.fill(Number.NEGATIVE_INFINITY, 0, DIM);
    const order = ranking(scores);
    for (const [i, sparsity] of [0.5, 0.97].entries()) {
      const pkg = summary.packages[i]!;
      const kept = keptCount(table.length, sparsity);
      expect(pkg.kept).toBe(kept);
      const mask = maskFromRanking(order, kept);
      expect(mask.subarray(0, DIM).every((m) => m === 0)).toBe(true);
      const got = await tableOf(pkg.out);
      const expected = table.map((v, g) => (mask[g] ? v : estimate.codebook[g % DIM]!));
      expect([...got]).toEqual([...expected]);
      expect((await run('verify', pkg.out)).code).toBe(0);
    }
    const info = await json<{
      kind: string;
      pruning: { sparsity: number; method: string };
      flopsRatio: number;
    }>('info', `${out}-s50`);
    expect(info).toMatchObject({
      kind: 'sequential-pruned',
      pruning: { sparsity: 0.5, method: 'shaver' },
      flopsRatio: 1,
    });
    const evaluated = await json<{ cases: number; metrics: Record<string, number> }>(
      'eval',
      `${out}-s50`,
      ...DATA,
    );
    expect(evaluated.cases).toBe(30);
    expect(evaluated.metrics['NDCG@10']).toBeGreaterThanOrEqual(0);
  });

  it('magnitude fills with zero; quantize takes a pruned package, codebook and all', async () => {
    const out = join(scratch, 'magnitude');
    await json('prune', model, '--method', 'magnitude', '--sparsity', '0.8', '--out', out);
    const got = await tableOf(out);
    const kept = keptCount(table.length, 0.8);
    const byMagnitude = table.map(Math.abs);
    byMagnitude.fill(Number.NEGATIVE_INFINITY, 0, DIM);
    const mask = maskFromRanking(ranking(byMagnitude), kept);
    expect([...got]).toEqual([...table.map((v, g) => (mask[g] ? v : 0))]);

    const quantized = join(scratch, 'shaver-int8');
    const q = await json<{ kind: string; bytes: number; sourceBytes: number }>(
      'quantize',
      join(scratch, 'shaver-s50'),
      '--out',
      quantized,
      '--users',
      '40',
      '--probe',
      '16',
    );
    expect(q.kind).toBe('sequential-pruned');
    expect(q.bytes).toBeLessThan(q.sourceBytes);
    expect((await run('verify', quantized)).code).toBe(0);
    // The codebook row is a matrix to quantise like any other; the loader dequantises it.
    const stored = await readModelPackage(directorySource(quantized));
    expect(stored.tensors.get('items.table.codebook')?.dtype).toMatch(/int8|float16/);
    expect(stored.tensors.get('items.table.values')?.dtype).toBe('float16');
    const source = await tableOf(join(scratch, 'shaver-s50'));
    const rebuilt = await tableOf(quantized);
    const error = Math.max(...rebuilt.map((v, g) => Math.abs(v - source[g]!)));
    expect(error).toBeGreaterThan(0);
    expect(error).toBeLessThan(0.02);
  });

  it('refuses what the sequential kind does not have, and a CTR option', async () => {
    const never = join(scratch, 'never');
    const progressive = await run(
      'prune',
      model,
      '--method',
      'magnitude',
      '--sparsity',
      '0.5',
      '--layout',
      'progressive',
      '--out',
      never,
    );
    expect(progressive.code).toBe(2);
    expect(progressive.err).toMatch(/--layout progressive is for CTR packages/);
    const finetune = await run(
      'prune',
      model,
      '--method',
      'magnitude',
      '--sparsity',
      '0.5',
      '--finetune',
      '1',
      '--out',
      never,
    );
    expect(finetune.code).toBe(2);
    expect(finetune.err).toMatch(/--finetune is for CTR packages/);
    const split = await run('shapley', model, ...DATA, '--out', never, '--split', 'train');
    expect(split.code).toBe(2);
    expect(split.err).toMatch(/--split must be one of validation/);
  });
});
