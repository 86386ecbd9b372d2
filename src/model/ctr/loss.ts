/**
 * Binary cross-entropy of click labels from logits, in the form that neither overflows nor
 * loses precision for large |logit|:
 *   ℓ(x, y) = max(x, 0) − x·y + log(1 + e^{−|x|}).
 * Its gradient is written out (σ(x) − y) because autodiff of max and |x| at x = 0 gives
 * 1 − y instead of ½ − y, and freshly initialised models sit near 0.
 */
import * as tf from '@tensorflow/tfjs';

/** Per-row loss [batch] of logits [batch] against labels [batch] in [0, 1]. */
export function binaryCrossEntropyPerRow(logits: tf.Tensor1D, labels: tf.Tensor1D): tf.Tensor1D {
  const loss = tf.customGrad((xArg, yArg, save) => {
    const x = xArg as tf.Tensor;
    const y = yArg as tf.Tensor;
    (save as tf.GradSaveFunc)([x, y]);
    const value = tf
      .relu(x)
      .sub(x.mul(y))
      .add(tf.log1p(tf.exp(tf.abs(x).neg())));
    return {
      value,
      gradFunc: (dy, saved) => {
        const [sx, sy] = saved as [tf.Tensor, tf.Tensor];
        return [dy.mul(tf.sigmoid(sx).sub(sy)), dy.mul(sx.neg())];
      },
    };
  });
  return loss(logits, labels) as tf.Tensor1D;
}

/** The batch mean of binaryCrossEntropyPerRow: the training loss. */
export function binaryCrossEntropy(logits: tf.Tensor1D, labels: tf.Tensor1D): tf.Scalar {
  return binaryCrossEntropyPerRow(logits, labels).mean();
}
