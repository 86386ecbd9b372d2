/**
 * Quantisation-aware training's forward pass: a weight on the symmetric integer grid with one
 * scale per row (the grid `pocketrec quantize` stores tables and kernels on), its gradient
 * passed straight through the rounding to the float weight (the straight-through estimator),
 * so training moves the float weights while the loss sees what a quantised package computes.
 */
import * as tf from '@tensorflow/tfjs';
import { INT_LEVELS, type IntDtype } from '../../package/dtypes.ts';

/** The integer widths training can prepare a model for: the grids a package stores. */
export const QAT_DTYPES = Object.keys(INT_LEVELS) as IntDtype[];
export type QatDtype = IntDtype;

/** Symmetric grid with a scale per row (axis 0): round(w / s) · s, s = max|row| / levels. */
export function gridRows(weight: tf.Tensor, levels: number): tf.Tensor {
  return tf.tidy(() => {
    const rows = weight.reshape([weight.shape[0] as number, -1]);
    const scale = rows.abs().max(1, true).div(levels).maximum(1e-12);
    return rows.div(scale).round().mul(scale).reshape(weight.shape);
  });
}

/** int8 with a scale per row. */
export function int8Rows(weight: tf.Tensor): tf.Tensor {
  return gridRows(weight, INT_LEVELS.int8);
}

/** gridRows forward, identity backward. */
export function fakeQuant(weight: tf.Tensor, dtype: QatDtype): tf.Tensor {
  const op = tf.customGrad((input) => ({
    value: gridRows(input as tf.Tensor, INT_LEVELS[dtype]),
    gradFunc: (dy) => dy as tf.Tensor,
  }));
  return op(weight) as tf.Tensor;
}

/** fakeQuant on the int8 grid. */
export function fakeQuantInt8(weight: tf.Tensor): tf.Tensor {
  return fakeQuant(weight, 'int8');
}

/** Matrices and higher go through fakeQuant; vectors, stored as float16, stay as they are. */
export function fakeQuantWeight(weight: tf.Tensor, dtype: QatDtype = 'int8'): tf.Tensor {
  return weight.rank >= 2 ? fakeQuant(weight, dtype) : weight;
}
