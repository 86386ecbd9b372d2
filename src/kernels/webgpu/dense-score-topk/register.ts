/**
 * The PocketrecDenseScoreTopK kernel for tfjs's WebGPU backend, and denseScoreTopKPacked(),
 * which returns the best k rows of a dense table for one query as one packed list, read back
 * in one map (../top-k-selection/run.ts, readPackedCandidates): a request on WebGPU then
 * reads 8k bytes, not a score per item. It runs DenseScoreTopKProgram (./program.ts), then
 * the merge of the workgroups' lists.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { checkSelection, requireWebgpu, selectScoredRows } from '../top-k-selection/run.ts';
import { DenseScoreTopKProgram } from './program.ts';

export const DENSE_SCORE_TOP_K = 'PocketrecDenseScoreTopK';

/**
 * Inputs: query float32 [1, d], tableT float32 [d, N] with N >= numRows, exclude int32 [E]
 * sorted ascending ([-1] for none). Attributes: numRows, k. Output: int32 [k * 2], (score
 * bits, row) pairs best first, ties to the lower row; row 0, rows >= numRows and excluded
 * rows are never returned.
 */
const denseScoreTopKKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const webgpu = backend as unknown as WebGPUBackend;
  const { query, tableT, exclude } = inputs as Record<
    'query' | 'tableT' | 'exclude',
    tf.TensorInfo
  >;
  const { numRows, k } = attrs as unknown as { numRows: number; k: number };
  if (query === undefined || tableT === undefined || exclude === undefined) {
    throw new Error(`${DENSE_SCORE_TOP_K} needs inputs query, tableT and exclude`);
  }
  return selectScoredRows(
    webgpu,
    (layout) => new DenseScoreTopKProgram(layout, k),
    [query, tableT, exclude],
    numRows,
    k,
    false,
  );
};

/** Registers PocketrecDenseScoreTopK for the 'webgpu' backend; idempotent. */
export function registerDenseScoreTopK(): void {
  if (tf.getKernel(DENSE_SCORE_TOP_K, 'webgpu') !== undefined) return;
  tf.registerKernel({
    kernelName: DENSE_SCORE_TOP_K,
    backendName: 'webgpu',
    kernelFunc: denseScoreTopKKernel,
  });
}

/**
 * The k best rows of a dense table for one query, on the WebGPU backend, packed: int32
 * [k * 2] of (score bits, row) pairs, best first, equal scores in ascending row order.
 * tableT: float32 [d, N], N >= numRows (row 0 pads); query: float32 [1, d]; k: 1..MAX_TOP_K;
 * exclude: row ids sorted ascending (duplicates and ids outside the table are allowed).
 * Throws unless the current backend is 'webgpu', or when fewer than k rows can be returned.
 */
export function denseScoreTopKPacked(
  tableT: tf.Tensor2D,
  numRows: number,
  query: tf.Tensor2D,
  k: number,
  exclude: Int32Array,
): tf.Tensor1D {
  requireWebgpu('denseScoreTopKPacked', 'score with tf.matMul elsewhere');
  const [dim, rows] = tableT.shape;
  if (query.shape[0] !== 1 || query.shape[1] !== dim) {
    throw new Error(`denseScoreTopKPacked: the query must be [1, ${dim}], not [${query.shape}]`);
  }
  checkSelection('denseScoreTopKPacked', numRows, rows, k, exclude);
  registerDenseScoreTopK();
  return tf.tidy(() => {
    // A storage binding cannot be empty, and -1 matches no row.
    const excludeRows = tf.tensor1d(exclude.length > 0 ? exclude : [-1], 'int32');
    const [packed] = tf
      .engine()
      .runKernel(
        DENSE_SCORE_TOP_K,
        { query: query.toFloat(), tableT: tableT.toFloat(), exclude: excludeRows },
        { numRows, k },
      ) as tf.Tensor1D[];
    return packed as tf.Tensor1D;
  });
}
