import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { seededRandom } from '../../../src/random.ts';
import { blockTopK } from '../../../src/runtime/engine/block-top-k.ts';

beforeAll(async () => {
  await useWasmBackend();
});

function scoresWith(n: number, seed: number, masked: number[]): Float32Array {
  const random = seededRandom(seed);
  const values = Float32Array.from({ length: n }, () => random() * 10 - 5);
  for (const i of masked) values[i] = Number.NEGATIVE_INFINITY;
  return values;
}

/** The best k by a full sort: indices, best first. */
function sortedBest(values: Float32Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, k);
}

describe('blockTopK', () => {
  it.each([
    [1, 101],
    [10, 101],
    [37, 50],
  ])('finds the best %i of 5,050 scores through blocks of %i', async (k, width) => {
    // Cluster the best scores in one block, the case a per-block top-1 would get wrong.
    const values = scoresWith(5050, k, [0, 7, 5049]);
    for (let i = 0; i < 20; i++) values[width * 3 + i] = 100 + i;
    const { values: top, indices } = blockTopK(tf.tensor1d(values), k, width);
    const want = sortedBest(values, k);
    expect(Array.from(await indices.data())).toEqual(want);
    expect(Array.from(await top.data())).toEqual(want.map((i) => values[i] as number));
    tf.dispose([top, indices]);
  });

  it('falls back to one top-k when there are few blocks', async () => {
    const values = scoresWith(400, 3, []);
    const { indices } = blockTopK(tf.tensor1d(values), 30, 100);
    expect(Array.from(await indices.data())).toEqual(sortedBest(values, 30));
    indices.dispose();
  });

  it('refuses a row that is not whole blocks', () => {
    expect(() => blockTopK(tf.zeros([10]) as tf.Tensor1D, 1, 3)).toThrow(/not blocks of 3/);
  });
});
