// `pocketrec shapley` and `pocketrec prune` on a sequence model, end to end: an untrained
// d = 8 SASRec on the first 30 ML-1M users (fast, and no accuracy claim). The estimate reads
// exactly the rows of the split's cases, is written and resumed, prune keeps exactly the top elements by |value| (row 0 never), the
// packages verify, evaluate, report their pruning in `info` and quantise; what the
// sequential kind does not have (progressive layout, fine-tuning) is refused by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShapleyEstimate } from '../../../../src/compression/shaver/estimate-store.ts';
import { keptCount, maskFromRanking, ranking } from '../../../../src/compression/shaver/prune.ts';
import { loadUserSequences } from '../../../../src/data/datasets.ts';
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
import { useGeneratedDataAsDefault } from '../../fixtures-gen/data-dir.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

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

/** The rows an estimate credits (those with samples), sorted. */
function creditedRows(counts: ArrayLike<number>): number[] {
  const rows = new Set<number>();
  for (let g = 0; g < counts.length; g++) if (counts[g]! > 0) rows.add(Math.floor(g / DIM));
  return [...rows].sort((a, b) => a - b);
}

/** The distinct items among the `count` items before the last `drop` of each of the 30 users. */
async function latestItems(drop: number, count: number): Promise<number[]> {
  const { sequences } = await loadUserSequences('ml-1m');
  const items = new Set<number>();
  for (const s of sequences.slice(0, 30)) {
    for (const item of s.subarray(0, s.length - drop).slice(-count)) items.add(item);
  }
  return [...items].sort((a, b) => a - b);
}

async function tableOf(dir: string): Promise<Float32Array> {
  const loaded = sequentialFromPackage(await readModelPackage(directorySource(dir)));
  return (loaded.items.weights[DENSE_TABLE] as tf.Tensor).dataSync() as Float32Array;
}

describe('pocketrec shapley and prune on a sequence model', () => {
  const values = join(scratch, 'values');

  it("estimates on each user's last training step in one pass by default, then resumes for more", async () => {
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
      split: 'train',
      elements: 3417 * DIM,
    });
    const stored = await readShapleyEstimate(values);
    expect(stored.dim).toBe(DIM);
    expect(stored.codebook).toHaveLength(DIM);
    expect(stored.source).toMatchObject({ dataset: 'ml-1m', split: 'train' });
    // Exactly the rows the 30 users' last training steps read have values: the window (the
    // latest maxLen = 6 items before s[-3]) and the target s[-3], so the last 7 of s[:-2];
    // padding row 0 none.
    expect(creditedRows(stored.counts)).toEqual(await latestItems(2, 7));

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

  it('estimates on the validation cases when asked, reading the validation items', async () => {
    const onValidation = join(scratch, 'values-validation');
    const result = await json<{ samples: number; split: string }>(
      'shapley',
      model,
      ...DATA,
      '--split',
      'validation',
      '--out',
      onValidation,
    );
    expect(result).toMatchObject({ samples: 30, split: 'validation' });
    const stored = await readShapleyEstimate(onValidation);
    expect(stored.source).toMatchObject({ split: 'validation' });
    expect(creditedRows(stored.counts)).toEqual(await latestItems(1, 7));
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
    const split = await run(
      'shapley',
      model,
      ...DATA,
      '--out',
      never,
      '--split',
      'train+validation',
    );
    expect(split.code).toBe(2);
    expect(split.err).toMatch(/--split must be one of train, validation/);
  });
});
