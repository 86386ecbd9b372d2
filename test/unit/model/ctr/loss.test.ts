import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { binaryCrossEntropy, binaryCrossEntropyPerRow } from '../../../../src/model/ctr/loss.ts';

beforeAll(async () => {
  await useWasmBackend();
});

describe('binary cross-entropy from logits', () => {
  const logits = [0, 0, 2, -3, 100, -100, 100, -100, 0.5];
  const labels = [1, 0, 0, 1, 0, 1, 1, 0, 0.25];
  // -y log σ(x) - (1 - y) log(1 - σ(x)), worked out by hand so that nothing overflows.
  const expected = [
    Math.log(2),
    Math.log(2),
    Math.log(1 + Math.exp(2)),
    Math.log(1 + Math.exp(3)),
    100,
    100,
    0,
    0,
    0.25 * Math.log(1 + Math.exp(-0.5)) + 0.75 * Math.log(1 + Math.exp(0.5)),
  ];

  it('matches hand-computed values, large logits included', () => {
    const rows = binaryCrossEntropyPerRow(tf.tensor1d(logits), tf.tensor1d(labels)).arraySync();
    rows.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i] as number, 5);
    });
    const mean = binaryCrossEntropy(tf.tensor1d(logits), tf.tensor1d(labels)).arraySync();
    expect(mean).toBeCloseTo(expected.reduce((a, b) => a + b) / expected.length, 5);
  });

  it('has gradient σ(x) − y, ½ − y at 0', () => {
    const y = tf.tensor1d(labels);
    const grad = tf
      .grad((x: tf.Tensor) => binaryCrossEntropyPerRow(x as tf.Tensor1D, y).sum())(
        tf.tensor1d(logits),
      )
      .arraySync() as number[];
    grad.forEach((g, i) => {
      const sigma = 1 / (1 + Math.exp(-(logits[i] as number)));
      expect(g).toBeCloseTo(sigma - (labels[i] as number), 6);
    });
    expect(grad[0]).toBeCloseTo(-0.5, 6);
  });
});
