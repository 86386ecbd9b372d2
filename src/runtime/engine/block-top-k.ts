/**
 * The backend's top-k over a long score row, in two short passes.
 *
 * tfjs's WASM TopK over a million scores costs several times a pass over them. Seen as
 * blocks of `width`, the best `k` scores all lie in the `k` blocks with the highest
 * maxima: each of them is at least the k-th best score, and so is its block's maximum, and
 * at most k blocks can have a maximum that high. So one Max over the blocks, a top-k of
 * the block maxima, and a top-k of the `k · width` scores in the chosen blocks give the
 * same answer (up to the order of equal scores).
 */
import * as tf from '@tensorflow/tfjs';

/** Best `k` of `scores` ([n], n a multiple of `width`): values and flat indices, best first. */
export function blockTopK(
  scores: tf.Tensor1D,
  k: number,
  width: number,
): { values: tf.Tensor; indices: tf.Tensor } {
  const blocks = scores.shape[0] / width;
  if (!Number.isInteger(blocks)) {
    throw new Error(`blockTopK: ${scores.shape[0]} scores are not blocks of ${width}`);
  }
  // Too few blocks for the two passes to save anything.
  if (k * 4 > blocks) return tf.topk(scores, k, true);
  return tf.tidy(() => {
    const grid = scores.reshape([blocks, width]);
    const chosen = tf.topk(grid.max(1), k, true).indices;
    const inChosen = tf.topk(tf.gather(grid, chosen).reshape([-1]), k, true);
    const w = tf.scalar(width, 'int32');
    const block = tf.gather(chosen, tf.floorDiv(inChosen.indices, w));
    const indices = block.mul(w).add(tf.mod(inChosen.indices, w));
    return { values: inChosen.values, indices };
  });
}
