/**
 * Full softmax cross-entropy over every item, in chunks of rows.
 *
 * A batch of 128 histories of 200 items scores 25,600 positions against every item: on
 * ML-1M that is 87 M logits, which as one tensor (with its softmax and gradient beside it)
 * overruns the WASM heap, and `tf.oneHot` targets double it again. The forward pass runs
 * chunk by chunk and keeps only each chunk's softmax P (the gradient needs nothing else):
 * loss = -log P[y], and with  dH = P·W - W[y],  dW = Pᵀ·H - scatter(y, H)  the backward
 * pass never forms a one-hot matrix. The softmax is the backend's fused kernel: on WASM
 * it runs at about 5 ns per logit against 14 ns for the Exp kernel alone.
 * `chunkedSoftmaxLoss` is that machinery for any loss of the logits (distillation reuses it).
 */

import * as tf from '@tensorflow/tfjs';
import { gatherRows } from '../model/ops/gather-rows.ts';

/** Logits held at once, in floats (32 MB): small enough for the WASM heap, big enough for fast products. */
const CHUNK_LOGITS = 8 * 1024 * 1024;

/** Rows per chunk so a chunk holds about `chunkLogits` logits. */
export function chunkRows(numRows: number, numItems: number, chunkLogits: number): number {
  return Math.max(1, Math.min(numRows, Math.floor(chunkLogits / numItems)));
}

/** -1e9 for row 0 (padding, never a valid next item), 0 elsewhere. */
function paddingBias(numItems: number): tf.Tensor1D {
  const bias = new Float32Array(numItems);
  bias[0] = -1e9;
  return tf.tensor1d(bias);
}

/** The smallest probability whose log is taken: keeps -log p finite when p underflows. */
export const MIN_PROBABILITY = 1e-30;

/** p[t, index[t]] for each row t of p [T, N]. */
export function pickPerRow(p: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor1D {
  const [rows, cols] = p.shape;
  const flat = tf.range(0, rows, 1, 'int32').mul(tf.scalar(cols, 'int32')).add(index);
  return tf.gather(p.reshape([-1]), flat) as tf.Tensor1D;
}

/** What a chunked softmax loss computes from one chunk of logits [rows, items]. */
export interface ChunkResult {
  /** The chunk's summed loss (not yet divided by the number of rows). */
  value: tf.Scalar;
  /**
   * dLoss/dLogits of the chunk without the one-hot part: the full gradient is
   * `gradient - targetWeight · onehot(targets)`, which is never formed as a matrix.
   */
  gradient: tf.Tensor2D;
}

/**
 * The shared body of every full-softmax loss over the item table: logits Z = H·Wᵀ (row 0
 * of W pads and gets a -1e9 bias) are made chunk by chunk, `chunk` turns each into its loss
 * and its gradient G, and only G is kept. The backward pass is then two products per chunk:
 *   dH = G·W - a·W[y],   dW = Gᵀ·H - a·scatter(y, H)      (a = `targetWeight`)
 * Mean over rows. hidden [T, d], table [R, d], targets int32 [T] in 1..R-1.
 */
export function chunkedSoftmaxLoss(
  hidden: tf.Tensor2D,
  table: tf.Tensor2D,
  targets: tf.Tensor1D,
  targetWeight: number,
  chunk: (logits: tf.Tensor2D, start: number, size: number) => ChunkResult,
  options: { chunkLogits?: number } = {},
): tf.Scalar {
  const [numRows, dim] = hidden.shape;
  const numItems = table.shape[0];
  const step = chunkRows(numRows, numItems, options.chunkLogits ?? CHUNK_LOGITS);

  const loss = tf.customGrad((h, w, save) => {
    const H = h as tf.Tensor2D;
    const W = w as tf.Tensor2D;
    const bias = paddingBias(numItems);
    const gradients: tf.Tensor2D[] = [];
    let total: tf.Scalar = tf.scalar(0);
    for (let start = 0; start < numRows; start += step) {
      const size = Math.min(step, numRows - start);
      const { value, gradient } = tf.tidy(() => {
        const logits = tf.matMul(H.slice([start, 0], [size, dim]), W, false, true).add(bias);
        return chunk(logits as tf.Tensor2D, start, size) as unknown as tf.TensorContainerObject;
      }) as unknown as ChunkResult;
      gradients.push(gradient);
      const next = total.add(value) as tf.Scalar;
      total.dispose();
      value.dispose();
      total = next;
    }
    // The engine frees what the forward pass made before gradients run, so what the
    // backward pass reads is saved explicitly.
    (save as tf.GradSaveFunc)([H, W, targets, ...gradients]);
    return {
      value: total.div(numRows) as tf.Scalar,
      gradFunc: (dy, saved) => {
        const [Hs, Ws, ys, ...gs] = saved as [
          tf.Tensor2D,
          tf.Tensor2D,
          tf.Tensor1D,
          ...tf.Tensor2D[],
        ];
        const scale = (dy as tf.Scalar).div(numRows);
        const dHParts: tf.Tensor2D[] = [];
        let dWT: tf.Tensor2D = tf.zeros([dim, numItems]);
        gs.forEach((g, c) => {
          const start = c * step;
          const size = g.shape[0];
          const [dHc, dWTc] = tf.tidy(() => {
            const hc = Hs.slice([start, 0], [size, dim]);
            // hcᵀ·G rather than Gᵀ·hc: transposing the small operand is the cheap one.
            return [tf.matMul(g, Ws), tf.matMul(hc, g, true, false)];
          });
          dHParts.push(dHc as tf.Tensor2D);
          const next = dWT.add(dWTc as tf.Tensor2D) as tf.Tensor2D;
          dWT.dispose();
          (dWTc as tf.Tensor).dispose();
          dWT = next;
        });
        let dH = dHParts.length === 1 ? (dHParts[0] as tf.Tensor2D) : tf.concat(dHParts);
        let dW = dWT.transpose();
        if (targetWeight !== 0) {
          dH = dH.sub(tf.gather(Ws, ys).mul(targetWeight));
          dW = dW.sub(tf.scatterND(ys.expandDims(1), Hs, [numItems, dim]).mul(targetWeight));
        }
        return [dH.mul(scale), dW.mul(scale)];
      },
    };
  });
  return loss(hidden, table) as tf.Scalar;
}

/** -Σ log p[t, y_t] over the rows of one chunk. */
export function chunkNegLogLikelihood(p: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return pickPerRow(p, targets).maximum(MIN_PROBABILITY).log().sum().neg() as tf.Scalar;
}

/**
 * Mean over rows of -log softmax(hidden · tableᵀ)[target]; row 0 of the table is never a
 * candidate. hidden [T, d], table [R, d], targets int32 [T] in 1..R-1.
 */
export function itemCrossEntropy(
  hidden: tf.Tensor2D,
  table: tf.Tensor2D,
  targets: tf.Tensor1D,
  options: { chunkLogits?: number } = {},
): tf.Scalar {
  return chunkedSoftmaxLoss(
    hidden,
    table,
    targets,
    1,
    (logits, start, size) => {
      const p = tf.softmax(logits) as tf.Tensor2D;
      return { value: chunkNegLogLikelihood(p, targets.slice([start], [size])), gradient: p };
    },
    options,
  );
}

/**
 * log Σ exp over each row of x [T, K], differentiable. tf.logSumExp's gradient goes through
 * a broadcast Equal against the row maximum, which tfjs's WASM backend runs at about
 * 6 ns per element (1.7 s for one [25600, 513] batch); the gradient is just softmax(x).
 */
export function rowLogSumExp(x: tf.Tensor2D): tf.Tensor1D {
  const op = tf.customGrad((input, save) => {
    const xs = input as tf.Tensor2D;
    const max = tf.max(xs, 1, true);
    const lse = tf.log(tf.exp(xs.sub(max)).sum(1, true)).add(max);
    (save as tf.GradSaveFunc)([xs, lse]);
    return {
      value: lse.reshape([-1]) as tf.Tensor1D,
      gradFunc: (dy, saved) => {
        const [xSaved, lseSaved] = saved as [tf.Tensor2D, tf.Tensor2D];
        return tf.exp(xSaved.sub(lseSaved)).mul((dy as tf.Tensor1D).reshape([-1, 1]));
      },
    };
  });
  return op(x) as tf.Tensor1D;
}

/**
 * Sampled softmax cross-entropy: each row's target against `negatives`, one set of
 * uniformly drawn items shared by the whole batch (so one dense product scores them all).
 * Uniform draws need no log-Q correction; a negative equal to a row's target is masked.
 * It is the documented cheaper alternative to `itemCrossEntropy` (see docs/results).
 */
export function sampledItemCrossEntropy(
  hidden: tf.Tensor2D,
  table: tf.Tensor2D,
  targets: Int32Array,
  negatives: Int32Array,
): tf.Scalar {
  // The collision mask is built here rather than with a broadcast Equal (slow on WASM).
  const column = new Map<number, number>();
  for (let k = 0; k < negatives.length; k++) column.set(negatives[k] as number, k);
  const collisions = new Float32Array(targets.length * negatives.length);
  targets.forEach((item, t) => {
    const k = column.get(item);
    if (k !== undefined) collisions[t * negatives.length + k] = -1e9;
  });
  return tf.tidy(() => {
    const positive = hidden.mul(gatherRows(table, tf.tensor1d(targets, 'int32'))).sum(1, true);
    const negativeRows = gatherRows(table, tf.tensor1d(negatives, 'int32')) as tf.Tensor2D;
    const negative = tf
      .matMul(hidden, negativeRows, false, true)
      .add(tf.tensor2d(collisions, [targets.length, negatives.length]));
    const logits = tf.concat([positive, negative], 1) as tf.Tensor2D;
    return rowLogSumExp(logits)
      .sub(positive.reshape([-1]))
      .mean() as tf.Scalar;
  });
}
