/**
 * Click probabilities of encoded rows: sigmoid of ctrForward, batch by batch. What the
 * browser engine ranks candidates with, on whatever tfjs backend is active.
 */
import * as tf from '@tensorflow/tfjs';
import { ctrBatch } from './field-embedding.ts';
import { type CtrModel, ctrForward } from './model.ts';
import type { CtrRows } from './schema.ts';

/** Rows per forward pass: bounds the activations of one pass whatever the row count. */
export const CTR_SCORE_CHUNK = 8192;

/** One probability per row, in row order. */
export async function ctrProbabilities(
  model: CtrModel,
  rows: CtrRows,
  chunk = CTR_SCORE_CHUNK,
): Promise<Float32Array> {
  const out = new Float32Array(rows.numRows);
  for (let start = 0; start < rows.numRows; start += chunk) {
    const end = Math.min(rows.numRows, start + chunk);
    const batch = ctrBatch(model.schema, rows, { start, end });
    const probabilities = tf.tidy(() => tf.sigmoid(ctrForward(model, batch, { training: false })));
    try {
      out.set((await probabilities.data()) as Float32Array, start);
    } finally {
      tf.dispose([probabilities, batch.rows, batch.poolWeights, batch.labels]);
    }
  }
  return out;
}
