// Shaver on a sequence model's item table: each sample's credits telescope to its loss with
// every player absent minus its full loss, computed here independently (the whole model
// re-run with the table edited); the estimate matches exact Shapley values by enumeration on
// a model small enough to enumerate; threads and resuming change nothing.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { itemCodebook, itemFrequencies } from '../../../../src/compression/shaver/codebook.ts';
import {
  DEFAULT_SHAPLEY,
  estimateSequentialShapley,
  type SequentialShapleyInputs,
  type ShapleyConfig,
} from '../../../../src/compression/shaver/estimator.ts';
import { sequentialSampleCredits } from '../../../../src/compression/shaver/sequential-credits.ts';
import type { EvalCases } from '../../../../src/eval/splits.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DENSE_TABLE, denseItemTable } from '../../../../src/model/item-table.ts';
import { encode, initEncoderWeights, padHistories } from '../../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../../src/model/sequential.ts';
import { tinyConfig } from '../../cli/helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/** A dense model with rows large enough that an element's absence moves the loss. */
function model(numItems: number, config = tinyConfig(numItems), seed = 3): SequentialModel {
  return {
    config,
    encoder: initEncoderWeights(config, seed),
    items: denseItemTable(tf.randomNormal([numItems + 1, config.dim], 0, 1, 'float32', seed + 1)),
  };
}

const tableOf = (m: SequentialModel) =>
  (m.items.weights[DENSE_TABLE] as tf.Tensor2D).dataSync<'float32'>();

function inputsOf(
  m: SequentialModel,
  cases: EvalCases,
  train: Int32Array[],
): SequentialShapleyInputs {
  const rows = m.config.numItems + 1;
  return {
    model: m,
    cases,
    codebook: itemCodebook(tableOf(m), m.config.dim, itemFrequencies(train, rows)),
  };
}

/** The reference loss: the whole model re-run with `table`, full softmax over items 1..N. */
function referenceLoss(
  m: SequentialModel,
  table: Float32Array,
  history: Int32Array,
  target: number,
) {
  const { dim, numItems, maxLen } = m.config;
  return tf.tidy(() => {
    const T = tf.tensor2d(table, [numItems + 1, dim]);
    const ids = padHistories([history], maxLen);
    const length = ids.shape[1];
    const hidden = encode(
      m.config,
      m.encoder,
      ids,
      tf.gather(T, ids.reshape([-1])).reshape([1, length, dim]) as tf.Tensor3D,
      {
        training: false,
      },
    ).slice([0, length - 1, 0], [1, 1, dim]);
    const scores = tf.matMul(hidden.reshape([1, dim]), T, false, true).dataSync();
    const bonus = m.repeatBonus ?? 0;
    const window = new Set(history.subarray(Math.max(0, history.length - maxLen)));
    const logits = Array.from(scores, (s, r) => s + (window.has(r) ? bonus : 0)).slice(1);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0));
    return lse - (logits[target - 1] as number);
  });
}

/** The rows a case reads: its window's items and its target. */
function playerRows(m: SequentialModel, history: Int32Array, target: number): number[] {
  const window = history.subarray(Math.max(0, history.length - m.config.maxLen));
  return [...new Set([...window, target])];
}

function withAbsent(
  table: Float32Array,
  dim: number,
  elements: Iterable<number>,
  fill: Float32Array,
) {
  const out = table.slice();
  for (const g of elements) out[g] = fill[g % dim] as number;
  return out;
}

const config = (over: Partial<ShapleyConfig>): ShapleyConfig => ({
  ...DEFAULT_SHAPLEY,
  tolerance: 0,
  samplesPerStep: 4,
  ...over,
});

// Windows longer than maxLen (6), a repeated item, a target also in the window.
const cases: EvalCases = {
  inputs: [
    Int32Array.from([3, 5, 7]),
    Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    Int32Array.from([4, 4, 9, 2]),
    Int32Array.from([11]),
    Int32Array.from([6, 10, 12, 1, 3]),
  ],
  targets: Int32Array.from([2, 10, 9, 12, 7]),
};
const train = [Int32Array.from([1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 7, 7])];

describe('sequentialSampleCredits', () => {
  it.each([
    ['codebook fill', 'codebook', 0],
    ['zero fill, with a repeat bonus', 'zero', 1.5],
  ] as const)(
    '%s: each sample credits loss(every player absent) - loss(full)',
    async (_, fill, bonus) => {
      const m = { ...model(12), ...(bonus ? { repeatBonus: bonus } : {}) };
      const inputs = inputsOf(m, cases, train);
      const indices = [0, 1, 2, 3, 4];
      const credits = await sequentialSampleCredits(
        inputs,
        { fill, forward: 'batched' },
        indices,
        [11, 12, 13, 14, 15],
      );
      const { dim } = m.config;
      const table = tableOf(m);
      const fillValues = fill === 'codebook' ? inputs.codebook : new Float32Array(dim);
      let at = 0;
      const gaps: number[] = [];
      for (const c of indices) {
        const history = cases.inputs[c] as Int32Array;
        const target = cases.targets[c] as number;
        const rows = playerRows(m, history, target);
        const elements = rows.flatMap((r) => Array.from({ length: dim }, (_, k) => r * dim + k));
        const own = credits.elements.subarray(at, at + elements.length);
        expect([...own].sort((a, b) => a - b)).toEqual(elements.sort((a, b) => a - b));
        const sum = credits.deltas.subarray(at, at + elements.length).reduce((a, v) => a + v, 0);
        const absent = referenceLoss(
          m,
          withAbsent(table, dim, elements, fillValues),
          history,
          target,
        );
        const full = referenceLoss(m, table, history, target);
        gaps.push(Math.abs(absent - full));
        expect(sum).toBeCloseTo(absent - full, 4);
        at += elements.length;
      }
      expect(at).toBe(credits.elements.length);
      expect(Math.max(...gaps)).toBeGreaterThan(0.05);
    },
  );

  it('refuses the per-removal forward: every removal is batched', async () => {
    const m = model(12);
    const inputs = inputsOf(m, cases, train);
    await expect(
      sequentialSampleCredits(inputs, { fill: 'codebook', forward: 'per-removal' }, [0], [1]),
    ).rejects.toThrow(/batched/);
  });
});

describe('estimateSequentialShapley', () => {
  it('converges to the exact Shapley values on a model small enough to enumerate', async () => {
    // dim 2, windows of 2: at most 3 rows, 6 players, 64 coalitions per sample.
    const c = { ...tinyConfig(5), dim: 2, maxLen: 2 };
    const m = model(5, c, 7);
    const small: EvalCases = {
      inputs: [Int32Array.from([1, 2]), Int32Array.from([3, 3]), Int32Array.from([4, 1, 5])],
      targets: Int32Array.from([3, 2, 1]),
    };
    const inputs = inputsOf(m, small, [Int32Array.from([1, 2, 3, 4, 5, 1, 1, 2])]);
    const table = tableOf(m);
    const exact = new Float64Array(table.length);
    small.inputs.forEach((history, i) => {
      const target = small.targets[i] as number;
      const players = playerRows(m, history, target).flatMap((r) => [r * 2, r * 2 + 1]);
      const n = players.length;
      const loss = Array.from({ length: 2 ** n }, (_, mask) =>
        referenceLoss(
          m,
          withAbsent(
            table,
            2,
            players.filter((_, j) => !(mask & (1 << j))),
            inputs.codebook,
          ),
          history,
          target,
        ),
      );
      const factorial = (x: number): number => (x <= 1 ? 1 : x * factorial(x - 1));
      players.forEach((g, j) => {
        for (let mask = 0; mask < 2 ** n; mask++) {
          if (mask & (1 << j)) continue;
          const size = [...mask.toString(2)].filter((b) => b === '1').length;
          const weight = (factorial(size) * factorial(n - size - 1)) / factorial(n);
          exact[g] = (exact[g] as number) + (weight * (loss[mask]! - loss[mask | (1 << j)]!)) / 3;
        }
      });
    });
    const result = await estimateSequentialShapley(
      inputs,
      config({ maxPasses: 800, samplesPerStep: 3 }),
    );
    const { values, standardErrors, counts } = result.estimate;
    const range = Math.max(...exact) - Math.min(...exact);
    expect(range).toBeGreaterThan(0.05);
    expect(Math.max(...standardErrors)).toBeLessThan(0.05 * range);
    exact.forEach((v, g) => {
      expect(Math.abs(values[g]! - v)).toBeLessThanOrEqual(4 * standardErrors[g]! + 1e-5);
      if (counts[g] === 0) expect(values[g]).toBe(0);
    });
    // Row 0 pads: no sample reads it.
    expect(counts[0]).toBe(0);
  }, 60_000);

  it('gives the same sums on two threads as on one, and resumed as uninterrupted', async () => {
    const inputs = inputsOf(model(12), cases, train);
    const run = (
      over: Partial<ShapleyConfig>,
      resume?: Parameters<typeof estimateSequentialShapley>[2],
    ) => estimateSequentialShapley(inputs, config(over), resume);
    const one = await run({ maxPasses: 2 });
    const two = await run({ maxPasses: 2, threads: 2 });
    expect(two.sums.samples).toBe(10);
    expect([...two.sums.counts]).toEqual([...one.sums.counts]);
    one.sums.sum.forEach((v, g) => {
      // Another split of a step pads its windows to another length: float32 noise only.
      expect(two.sums.sum[g]).toBeCloseTo(v, 5);
    });
    // Stopped after the first step (4 of the pass's 5 samples), as a checkpoint is.
    const first = await run({ maxSamples: 4 });
    expect(first.stop).toBe('max-samples');
    const second = await run({ maxPasses: 2 }, { resume: first.sums });
    expect(second.runSamples).toBe(6);
    expect([...second.sums.sum]).toEqual([...one.sums.sum]);
    expect([...second.sums.counts]).toEqual([...one.sums.counts]);
  }, 60_000);
});
