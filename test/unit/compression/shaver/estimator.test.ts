// Shaver's permutation estimator against exact Shapley values by enumeration, its
// efficiency, and its batched, per-removal and resumed runs agreeing.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { codebookFromRows } from '../../../../src/compression/shaver/codebook.ts';
import {
  DEFAULT_SHAPLEY,
  estimateShapley,
  type ShapleyConfig,
  type ShapleyInputs,
} from '../../../../src/compression/shaver/estimator.ts';
import type { FillMode } from '../../../../src/compression/shaver/values.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { ctrBatch } from '../../../../src/model/ctr/field-embedding.ts';
import { binaryCrossEntropyPerRow } from '../../../../src/model/ctr/loss.ts';
import { type CtrModel, ctrForward, initCtrModel } from '../../../../src/model/ctr/model.ts';
import type { CtrRows, CtrSchema } from '../../../../src/model/ctr/schema.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const DIM = 2;

/** Two single-valued fields, three ids each: 4 players per sample, 16 coalitions. */
const flat: { schema: CtrSchema; rows: CtrRows } = {
  schema: {
    fields: [
      { name: 'a', kind: 'categorical', vocabularySize: 3 },
      { name: 'b', kind: 'categorical', vocabularySize: 3 },
    ],
  },
  rows: {
    numRows: 6,
    ids: [Int32Array.from([1, 2, 0, 1, 2, 1]), Int32Array.from([2, 1, 1, 0, 2, 2])],
    labels: Float32Array.from([1, 0, 1, 0, 0, 1]),
  },
};

/** A categorical field and a multi-valued one (up to 2 ids; one row has none). */
const pooled: { schema: CtrSchema; rows: CtrRows } = {
  schema: {
    fields: [
      { name: 'user', kind: 'categorical', vocabularySize: 3 },
      { name: 'genres', kind: 'multi', vocabularySize: 4, maxValues: 2 },
    ],
  },
  rows: {
    numRows: 5,
    ids: [Int32Array.from([1, 2, 1, 0, 2]), Int32Array.from([1, 3, 2, -1, 3, -1, -1, -1, 1, 2])],
    labels: Float32Array.from([1, 0, 1, 0, 1]),
  },
};

/** A model with embeddings large enough that removing an element matters. */
function model(kind: 'fm' | 'deepfm', schema: CtrSchema, seed: number): CtrModel {
  const m =
    kind === 'fm'
      ? initCtrModel({ kind: 'fm', config: { dim: DIM } }, schema, seed)
      : initCtrModel(
          { kind: 'deepfm', config: { dim: DIM, mlp: [6], norm: 'none', dropout: 0 } },
          schema,
          seed,
        );
  const rows = (m.weights.embedding as tf.Tensor).shape[0] as number;
  m.weights.embedding = tf.randomUniform([rows, DIM], -1.5, 1.5, 'float32', seed + 7);
  m.weights.linear = tf.randomUniform([rows, 1], -0.5, 0.5, 'float32', seed + 8);
  return m;
}

function inputsOf(m: CtrModel, rows: CtrRows): ShapleyInputs {
  const table = (m.weights.embedding as tf.Tensor2D).dataSync() as Float32Array;
  return { model: m, rows, codebook: codebookFromRows(m.schema, table, DIM, rows) };
}

/** Per-row losses of `sample` with each given [slots, dim] slot buffer, one forward pass. */
function coalitionLosses(m: CtrModel, rows: CtrRows, sample: number, buffers: Float32Array[]) {
  const batch = ctrBatch(m.schema, rows, new Array(buffers.length).fill(sample));
  const S = batch.rows.shape[1];
  const embedded = tf.tensor3d(Float32Array.from(buffers.flatMap((b) => [...b])), [
    buffers.length,
    S,
    DIM,
  ]);
  const loss = tf.tidy(() =>
    binaryCrossEntropyPerRow(ctrForward(m, batch, { training: false, embedded }), batch.labels),
  );
  const out = loss.dataSync();
  tf.dispose([loss, embedded, batch.rows, batch.poolWeights, batch.labels]);
  return out;
}

/**
 * Exact Shapley values by enumerating every coalition of each sample's looked-up elements
 * (v(S) = -loss with the others filled), averaged over the samples, 0 where not looked up.
 */
function exactShapley(inputs: ShapleyInputs, fill: FillMode): Float64Array {
  const { model: m, rows, codebook } = inputs;
  const table = (m.weights.embedding as tf.Tensor2D).dataSync();
  const out = new Float64Array(table.length);
  for (let r = 0; r < rows.numRows; r++) {
    const batch = ctrBatch(m.schema, rows, [r]);
    const slotRows = batch.rows.dataSync();
    const shares = batch.poolWeights.dataSync();
    const fieldOfSlot = m.schema.fields.flatMap((f, i) =>
      new Array(f.kind === 'multi' ? (f.maxValues as number) : 1).fill(i),
    );
    tf.dispose([batch.rows, batch.poolWeights, batch.labels]);
    const looked = [...new Set([...slotRows].filter((_, s) => shares[s]! > 0))];
    const players = looked.flatMap((row) => Array.from({ length: DIM }, (_, k) => row * DIM + k));
    const n = players.length;
    const buffers = Array.from({ length: 2 ** n }, (_, mask) =>
      Float32Array.from({ length: slotRows.length * DIM }, (_, q) => {
        const s = Math.floor(q / DIM);
        const k = q % DIM;
        const g = slotRows[s]! * DIM + k;
        const j = players.indexOf(g);
        if (j >= 0 && !(mask & (1 << j))) {
          return fill === 'zero' ? 0 : codebook[fieldOfSlot[s]! * DIM + k]!;
        }
        return table[g]!;
      }),
    );
    const loss = coalitionLosses(m, rows, r, buffers);
    const factorial = (x: number): number => (x <= 1 ? 1 : x * factorial(x - 1));
    players.forEach((g, j) => {
      let phi = 0;
      for (let mask = 0; mask < 2 ** n; mask++) {
        if (mask & (1 << j)) continue;
        const size = bitCount(mask);
        const weight = (factorial(size) * factorial(n - size - 1)) / factorial(n);
        phi += weight * (loss[mask]! - loss[mask | (1 << j)]!);
      }
      out[g]! += phi / rows.numRows;
    });
  }
  return out;
}

function bitCount(x: number): number {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
}

const config = (over: Partial<ShapleyConfig>): ShapleyConfig => ({
  ...DEFAULT_SHAPLEY,
  tolerance: 0,
  ...over,
});

describe('estimateShapley', () => {
  const cases = [
    ['FM, 2 fields, codebook fill', 'fm', flat, 'codebook'],
    ['FM, 2 fields, zero fill', 'fm', flat, 'zero'],
    ['DeepFM with a multi-valued field, codebook fill', 'deepfm', pooled, 'codebook'],
  ] as const;
  for (const [name, kind, data, fill] of cases) {
    it(`converges to the exact Shapley values: ${name}`, async () => {
      const inputs = inputsOf(model(kind, data.schema, 11), data.rows);
      const exact = exactShapley(inputs, fill);
      const result = await estimateShapley(
        inputs,
        config({ fill, maxPasses: 600, samplesPerStep: data.rows.numRows }),
      );
      const { values, standardErrors, counts } = result.estimate;
      expect(result.stop).toBe('max-passes');
      const range = Math.max(...exact) - Math.min(...exact);
      expect(range).toBeGreaterThan(0.05);
      expect(Math.max(...standardErrors)).toBeLessThan(0.05 * range);
      exact.forEach((v, g) => {
        expect(Math.abs(values[g]! - v)).toBeLessThanOrEqual(4 * standardErrors[g]! + 1e-5);
        if (counts[g] === 0) expect(values[g]).toBe(0);
      });
    });
  }

  it('is efficient: the values sum to E[loss(all absent) - loss(full)]', async () => {
    const { schema, rows } = pooled;
    const inputs = inputsOf(model('deepfm', schema, 5), rows);
    const result = await estimateShapley(inputs, config({ maxPasses: 3, samplesPerStep: 2 }));
    const total = result.estimate.values.reduce((a, v) => a + v, 0);
    const gaps = Array.from({ length: rows.numRows }, (_, r) => {
      const batch = ctrBatch(schema, rows, [r, r]);
      const S = batch.rows.shape[1];
      const table = (inputs.model.weights.embedding as tf.Tensor2D).dataSync();
      const full = Float32Array.from(
        Array.from(batch.rows.dataSync().slice(0, S)).flatMap((row) =>
          Array.from(table.subarray(row * DIM, (row + 1) * DIM)),
        ),
      );
      const f = schema.fields.flatMap((field, i) =>
        new Array(field.kind === 'multi' ? 2 : 1).fill(i),
      );
      const absent = Float32Array.from(
        { length: S * DIM },
        (_, q) => inputs.codebook[f[Math.floor(q / DIM)]! * DIM + (q % DIM)]!,
      );
      tf.dispose([batch.rows, batch.poolWeights, batch.labels]);
      const [lossFull, lossAbsent] = coalitionLosses(inputs.model, rows, r, [full, absent]);
      return lossAbsent! - lossFull!;
    });
    const mean = gaps.reduce((a, v) => a + v, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, v) => a + (v - mean) ** 2, 0) / (gaps.length - 1));
    expect(Math.abs(total - mean)).toBeLessThanOrEqual(sd / Math.sqrt(gaps.length));
    // Each sample's credits telescope, so it holds far tighter than that.
    expect(Math.abs(total - mean)).toBeLessThan(1e-4);
  });

  it('gives the same sums batched and one removal at a time', async () => {
    const inputs = inputsOf(model('deepfm', pooled.schema, 3), pooled.rows);
    const run = (forward: 'batched' | 'per-removal') =>
      estimateShapley(inputs, config({ forward, maxPasses: 2, samplesPerStep: 3 }));
    const [a, b] = [await run('batched'), await run('per-removal')];
    expect(b.sums.samples).toBe(a.sums.samples);
    expect([...b.sums.counts]).toEqual([...a.sums.counts]);
    a.sums.sum.forEach((v, g) => {
      expect(b.sums.sum[g]).toBeCloseTo(v, 5);
    });
  });

  it('gives the same sums on two threads as on one', async () => {
    const inputs = inputsOf(model('deepfm', pooled.schema, 5), pooled.rows);
    const run = (threads: number) =>
      estimateShapley(inputs, config({ threads, maxPasses: 2, samplesPerStep: 5 }));
    const [one, two] = [await run(1), await run(2)];
    expect(two.sums.samples).toBe(one.sums.samples);
    expect([...two.sums.counts]).toEqual([...one.sums.counts]);
    one.sums.sum.forEach((v, g) => {
      expect(two.sums.sum[g]).toBeCloseTo(v, 5);
    });
  });

  it('resumed from its running sums, ends where an uninterrupted run does', async () => {
    const inputs = inputsOf(model('fm', flat.schema, 9), flat.rows);
    const straight = await estimateShapley(inputs, config({ maxPasses: 3, samplesPerStep: 4 }));
    // Stopped at a step boundary of the straight run (offset 4 of pass 1), as a checkpoint is.
    const first = await estimateShapley(inputs, config({ maxSamples: 10, samplesPerStep: 4 }));
    expect(first.stop).toBe('max-samples');
    expect(first.sums.passes).toBe(1);
    expect(first.sums.nextOffset).toBe(4);
    const second = await estimateShapley(inputs, config({ maxPasses: 3, samplesPerStep: 4 }), {
      resume: first.sums,
    });
    expect(second.sums.samples).toBe(18);
    expect(second.runSamples).toBe(8);
    expect([...second.sums.sum]).toEqual([...straight.sums.sum]);
    expect([...second.sums.counts]).toEqual([...straight.sums.counts]);
  });

  it('stops by the rule only after a full pass', async () => {
    const inputs = inputsOf(model('fm', flat.schema, 2), flat.rows);
    const seen: number[] = [];
    const result = await estimateShapley(
      inputs,
      config({ tolerance: 1e9, samplesPerStep: 4, maxPasses: 5 }),
      { onStep: (p) => void seen.push(p.sums.samples) },
    );
    expect(result.stop).toBe('converged');
    expect(result.estimate.converged).toBe(true);
    expect(seen).toEqual([4, 6]);
  });
});
