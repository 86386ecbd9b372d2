import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { distilledCrossEntropy, infoNce } from '../../../src/compression/distill/kd-losses.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { seededRandom } from '../../../src/random.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const matrix = (rows: number, cols: number, random: () => number) =>
  Array.from({ length: rows }, () => Array.from({ length: cols }, () => random() * 2 - 1));

function softmax(z: number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * Float64 (1 - α)·CE + α·τ²·KL(p_t ‖ p_s) over items 1..R-1 and its gradients, by the
 * textbook formulas, one term at a time.
 */
function reference(
  hs: number[][],
  es: number[][],
  ys: number[],
  ht: number[][],
  et: number[][],
  alpha: number,
  tau: number,
) {
  const T = hs.length;
  const d = (hs[0] as number[]).length;
  const dHs = hs.map(() => new Array<number>(d).fill(0));
  const dEs = es.map(() => new Array<number>(d).fill(0));
  const dot = (h: number[], w: number[]) => h.reduce((s, v, j) => s + v * (w[j] as number), 0);
  let loss = 0;
  for (let t = 0; t < T; t++) {
    const zs = es.slice(1).map((w) => dot(hs[t] as number[], w));
    const zt = et.slice(1).map((w) => dot(ht[t] as number[], w));
    const ps = softmax(zs);
    const psT = softmax(zs.map((z) => z / tau));
    const ptT = softmax(zt.map((z) => z / tau));
    const y = (ys[t] as number) - 1;
    const kl = ptT.reduce((s, p, i) => s + p * Math.log(p / (psT[i] as number)), 0);
    loss += ((1 - alpha) * -Math.log(ps[y] as number) + alpha * tau * tau * kl) / T;
    for (let i = 0; i < ps.length; i++) {
      const ce = (ps[i] as number) - (i === y ? 1 : 0);
      const g = ((1 - alpha) * ce + alpha * tau * ((psT[i] as number) - (ptT[i] as number))) / T;
      for (let j = 0; j < d; j++) {
        (dHs[t] as number[])[j] =
          ((dHs[t] as number[])[j] as number) + g * (es[i + 1] as number[])[j]!;
        (dEs[i + 1] as number[])[j] =
          ((dEs[i + 1] as number[])[j] as number) + g * (hs[t] as number[])[j]!;
      }
    }
  }
  return { loss, dHs, dEs };
}

describe('distilledCrossEntropy', () => {
  // The last case's teacher is wider than its student: only the logits meet.
  for (const [alpha, tau, chunk, teacherWidth] of [
    [0.8, 1, 1_000_000, 4],
    [0.8, 2, 25, 4],
    [1, 1.5, 1_000_000, 4],
    [0, 1, 14, 4],
    [0.6, 1.5, 25, 10],
  ] as const) {
    it(`matches the textbook CE and KL and their gradients (α ${alpha}, τ ${tau}, chunk ${chunk}, teacher width ${teacherWidth})`, () => {
      const random = seededRandom(11);
      const [T, R, d] = [9, 7, 4];
      const hs = matrix(T, d, random);
      const es = matrix(R, d, random);
      const ht = matrix(T, teacherWidth, random);
      const et = matrix(R, teacherWidth, random);
      const ys = Array.from({ length: T }, () => 1 + Math.floor(random() * (R - 1)));
      const ref = reference(hs, es, ys, ht, et, alpha, tau);
      const { value, grads } = tf.valueAndGrads((h: tf.Tensor, e: tf.Tensor) =>
        distilledCrossEntropy(
          h as tf.Tensor2D,
          e as tf.Tensor2D,
          tf.tensor1d(ys, 'int32'),
          tf.tensor2d(ht),
          tf.tensor2d(et),
          { alpha, temperature: tau, chunkLogits: chunk },
        ),
      )([tf.tensor2d(hs), tf.tensor2d(es)]);
      expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5);
      const [gH, gE] = grads as [tf.Tensor, tf.Tensor];
      for (const [i, v] of ref.dHs.flat().entries()) expect(gH.dataSync()[i]).toBeCloseTo(v, 5);
      for (const [i, v] of ref.dEs.flat().entries()) expect(gE.dataSync()[i]).toBeCloseTo(v, 5);
    });
  }

  it('the KL alone is zero, with zero gradient, when the student equals the teacher', () => {
    const random = seededRandom(5);
    const h = tf.tensor2d(matrix(6, 3, random));
    const e = tf.tensor2d(matrix(8, 3, random));
    const ys = tf.tensor1d([1, 2, 3, 4, 5, 6], 'int32');
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor) =>
      distilledCrossEntropy(a as tf.Tensor2D, e, ys, h, e, { alpha: 1, temperature: 1.5 }),
    )([h]);
    expect(Math.abs(value.dataSync()[0] as number)).toBeLessThan(1e-6);
    for (const g of (grads[0] as tf.Tensor).dataSync()) expect(Math.abs(g)).toBeLessThan(1e-6);
  });
});

describe('infoNce', () => {
  it('matches a hand computation on two sessions', () => {
    // a = [(1,0), (0,1)], b = [(1,0), (1,1)/√2] after normalisation; τ = 0.5.
    const a = tf.tensor2d([
      [2, 0],
      [0, 3],
    ]);
    const b = tf.tensor2d([
      [1, 0],
      [1, 1],
    ]);
    const s = Math.SQRT1_2;
    const sim = [
      [1 / 0.5, s / 0.5],
      [0, s / 0.5],
    ];
    const lse = (xs: number[]) => Math.log(xs.reduce((t, x) => t + Math.exp(x), 0));
    const ab = (lse(sim[0] as number[]) - 2 + (lse(sim[1] as number[]) - s / 0.5)) / 2;
    const ba =
      (lse([sim[0]![0]!, sim[1]![0]!]) - 2 + (lse([sim[0]![1]!, sim[1]![1]!]) - s / 0.5)) / 2;
    expect(infoNce(a, b, 0.5).dataSync()[0]).toBeCloseTo((ab + ba) / 2, 5);
  });

  it('is lower for matching views than for shuffled ones', () => {
    const random = seededRandom(8);
    const a = tf.tensor2d(matrix(16, 8, random));
    const noisy = a.add(tf.randomNormal([16, 8], 0, 0.05, 'float32', 1)) as tf.Tensor2D;
    const shuffled = tf.reverse(noisy, 0) as tf.Tensor2D;
    expect(infoNce(a, noisy, 0.2).dataSync()[0]).toBeLessThan(
      infoNce(a, shuffled, 0.2).dataSync()[0] as number,
    );
  });
});
