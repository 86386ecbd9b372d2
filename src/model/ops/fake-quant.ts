/**
 * Quantisation-aware training's forward pass: a weight as int8 with one scale per row (the
 * grid `pocketrec quantize` stores tables and kernels on), its gradient passed straight
 * through the rounding to the float weight (the straight-through estimator), so training
 * moves the float weights while the loss sees what an int8 package will compute.
 */
import * as tf from '@tensorflow/tfjs';

/** Symmetric int8 with a scale per row (axis 0): round(w / s) · s, s = max|row| / 127. */
export function int8Rows(weight: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const rows = weight.reshape([weight.shape[0] as number, -1]);
    const scale = rows.abs().max(1, true).div(127).maximum(1e-12);
    return rows.div(scale).round().mul(scale).reshape(weight.shape);
  });
}

/** int8Rows forward, identity backward. */
export function fakeQuantInt8(weight: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((input) => ({
    value: int8Rows(input as tf.Tensor),
    gradFunc: (dy) => dy as tf.Tensor,
  }));
  return op(weight) as tf.Tensor;
}

/** Matrices and higher go through fakeQuantInt8; vectors, stored as float16, stay as they are. */
export function fakeQuantWeight(weight: tf.Tensor): tf.Tensor {
  return weight.rank >= 2 ? fakeQuantInt8(weight) : weight;
}
