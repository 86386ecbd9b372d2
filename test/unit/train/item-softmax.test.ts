import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { seededRandom } from '../../../src/random.ts';
import { itemCrossEntropy } from '../../../src/train/item-softmax.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/** Float64 reference: loss and gradients of mean CE with row 0 excluded from the softmax. */
function reference(h: number[][], w: number[][], y: number[]) {
  const T = h.length;
  const R = w.length;
  const d = (h[0] as number[]).length;
  const dH = h.map(() => new Array<number>(d).fill(0));
  const dW = w.map(() => new Array<number>(d).fill(0));
  let loss = 0;
  for (let t = 0; t < T; t++) {
    const z = w.map((row, r) =>
      r === 0
        ? Number.NEGATIVE_INFINITY
        : row.reduce((s, v, j) => s + v * (h[t] as number[])[j]!, 0),
    );
    const max = Math.max(...z);
    const sum = z.reduce((s, v) => s + Math.exp(v - max), 0);
    const lse = max + Math.log(sum);
    loss += (lse - (z[y[t] as number] as number)) / T;
    for (let r = 0; r < R; r++) {
      const g = (Math.exp((z[r] as number) - lse) - (r === y[t] ? 1 : 0)) / T;
      for (let j = 0; j < d; j++) {
        dH[t]![j]! += g * w[r]![j]!;
        dW[r]![j]! += g * h[t]![j]!;
      }
    }
  }
  return { loss, dH, dW };
}

describe('itemCrossEntropy', () => {
  for (const chunkLogits of [1_000_000, 37]) {
    it(`matches a float64 reference, value and gradients (chunk ${chunkLogits} logits)`, () => {
      const random = seededRandom(3);
      const T = 23;
      const R = 11;
      const d = 5;
      const h = Array.from({ length: T }, () => Array.from({ length: d }, () => random() * 2 - 1));
      const w = Array.from({ length: R }, () => Array.from({ length: d }, () => random() * 2 - 1));
      const y = Array.from({ length: T }, (_, t) => 1 + ((t * 7) % (R - 1)));
      const ref = reference(h, w, y);
      const hT = tf.tensor2d(h);
      const wT = tf.tensor2d(w);
      const yT = tf.tensor1d(y, 'int32');
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
        itemCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, yT, { chunkLogits }),
      )([hT, wT]);
      expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5);
      const [gH, gW] = grads as [tf.Tensor, tf.Tensor];
      const flatH = gH.dataSync();
      const flatW = gW.dataSync();
      for (const [i, v] of ref.dH.flat().entries()) expect(flatH[i]).toBeCloseTo(v, 5);
      for (const [i, v] of ref.dW.flat().entries()) expect(flatW[i]).toBeCloseTo(v, 5);
      // The padding row is never a candidate, so it gets no gradient.
      expect(Array.from(flatW.slice(0, d))).toEqual(new Array(d).fill(0));
    });
  }
});
