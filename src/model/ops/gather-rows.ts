/**
 * Row lookup with a gradient every backend can run.
 *
 * `tf.gather`'s gradient needs the UnsortedSegmentSum kernel, which tfjs's WASM backend
 * lacks, so an embedding table looked up with it cannot be trained there. The gradient of
 * a row lookup is a scatter-add of the incoming rows, which ScatterNd does (it sums
 * duplicate indices) on every backend.
 */
import * as tf from '@tensorflow/tfjs';

/** `table[indices]` for a 2-D table and int32 indices of any shape: [...indices.shape, cols]. */
export function gatherRows(table: tf.Tensor2D, indices: tf.Tensor): tf.Tensor {
  const [rows, cols] = table.shape;
  const flat = indices.reshape([-1]) as tf.Tensor1D;
  const lookup = tf.customGrad((t, i, save) => {
    (save as tf.GradSaveFunc)([i as tf.Tensor1D]);
    return {
      value: tf.gather(t as tf.Tensor2D, i as tf.Tensor1D),
      gradFunc: (dy, saved) => {
        const [ids] = saved as [tf.Tensor1D];
        const dTable = tf.scatterND(ids.expandDims(1), dy as tf.Tensor2D, [rows, cols]);
        return [dTable, tf.zerosLike(ids)];
      },
    };
  });
  return (lookup(table, flat) as tf.Tensor2D).reshape([...indices.shape, cols]);
}
