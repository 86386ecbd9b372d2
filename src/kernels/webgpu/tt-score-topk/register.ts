/**
 * The PocketrecTtScoreTopK kernel for tfjs's WebGPU backend, and ttScoreTopK(), which scores
 * every row of a tensor-train item table against one query and returns the best k rows without
 * building the table or a score per row (see ./program.ts for the shaders).
 *
 * The query is first contracted into cores n..2 with tfjs ops (ttContractQueries,
 * src/model/tt-matrix.ts): those stages are sized by the factors, not by N (the largest result,
 * contractedQuery [J_1 r_1, N_pad / I_1], is 2.5 MB for a 1,000,000-row table of rank 16 and
 * d = 64, against 256 MB for the table). The kernel then runs, in order:
 *   1. TtScoreTopKProgram: the last, per-row stage, fused with each workgroup's top k;
 *   2. CandidateMergeProgram (when there is more than one workgroup): the final top k;
 *   3. PackedCandidatesUnpackProgram twice: scores (float32) and rows (int32); or nothing, for
 *      ttScoreTopKPacked, whose caller reads the packed pairs back in one map.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { type TtShape, ttContractQueries, ttCoreShapes } from '../../../model/tt-matrix.ts';
import { MAX_TOP_K } from '../top-k-selection/program.ts';
import { checkSelection, requireWebgpu, selectScoredRows } from '../top-k-selection/run.ts';
import { TtScoreTopKProgram } from './program.ts';

export const TT_SCORE_TOP_K = 'PocketrecTtScoreTopK';

/**
 * Inputs: firstCore float32 [I_1, 1, K], contractedQuery float32 [K, R] with I_1 R the padded
 * row count, exclude int32 [E] sorted ascending ([-1] for none). Attributes: numRows (rows at or
 * past it are padding), k, unpack. Outputs: values float32 [k] and indices int32 [k], best
 * first, ties to the lower row; row 0, rows >= numRows and excluded rows are never returned.
 * With unpack false, the one output int32 [k * 2] holds them as (score bits, row) pairs.
 */
interface TtScoreTopKAttrs {
  numRows: number;
  k: number;
  /** false: one output, the packed int32 [k * 2] (score bits, row) pairs, read in one go. */
  unpack: boolean;
}

const ttScoreTopKKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const webgpu = backend as unknown as WebGPUBackend;
  const { firstCore, contractedQuery, exclude } = inputs as Record<
    'firstCore' | 'contractedQuery' | 'exclude',
    tf.TensorInfo
  >;
  const { numRows, k, unpack } = attrs as unknown as TtScoreTopKAttrs;
  if (firstCore === undefined || contractedQuery === undefined || exclude === undefined) {
    throw new Error(`${TT_SCORE_TOP_K} needs inputs firstCore, contractedQuery and exclude`);
  }
  const [firstRows, firstRank, width] = firstCore.shape;
  const [contractedWidth, restCount] = contractedQuery.shape;
  if (
    firstCore.shape.length !== 3 ||
    firstRank !== 1 ||
    contractedQuery.shape.length !== 2 ||
    contractedWidth !== width ||
    exclude.shape.length !== 1 ||
    exclude.dtype !== 'int32' ||
    firstCore.dtype !== 'float32' ||
    contractedQuery.dtype !== 'float32'
  ) {
    throw new Error(
      `${TT_SCORE_TOP_K}: expected firstCore float32 [I, 1, K], contractedQuery float32 [K, R] ` +
        `and exclude int32 [E]; got [${firstCore.shape}] ${firstCore.dtype}, ` +
        `[${contractedQuery.shape}] ${contractedQuery.dtype}, [${exclude.shape}] ${exclude.dtype}`,
    );
  }
  const paddedRows = (firstRows as number) * (restCount as number);
  if (!Number.isInteger(numRows) || numRows < 1 || numRows > paddedRows) {
    throw new Error(`${TT_SCORE_TOP_K}: numRows ${numRows} is not in [1, ${paddedRows}]`);
  }
  if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K) {
    throw new Error(`${TT_SCORE_TOP_K}: k ${k} is not in [1, ${MAX_TOP_K}]`);
  }

  return selectScoredRows(
    webgpu,
    (layout) => new TtScoreTopKProgram(layout, k),
    [firstCore, contractedQuery, exclude],
    numRows,
    k,
    unpack,
  );
};

/** Registers PocketrecTtScoreTopK for the 'webgpu' backend; idempotent. */
export function registerTtScoreTopK(): void {
  if (tf.getKernel(TT_SCORE_TOP_K, 'webgpu') !== undefined) return;
  tf.registerKernel({
    kernelName: TT_SCORE_TOP_K,
    backendName: 'webgpu',
    kernelFunc: ttScoreTopKKernel,
  });
}

/**
 * The query [1, d] contracted into cores n..2: [J_1 r_1, I_2⋯I_n], so that
 * score[i_1 * R + rest] = Σ_c cores[0][i_1, 0, c] · result[c, rest]: ttContractQueries'
 * stages k = n-1..1 for one query, then the first core's operand transposed so rows run
 * along the fast axis.
 */
function contractQueryIntoTrailingCores(
  cores: readonly tf.Tensor[],
  shape: TtShape,
  query: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    // [J_1, R, r_1] -> [(j_1, r_1), R], the first core's column order.
    const e = ttContractQueries(cores, shape, query, 1);
    const [m, r, rank] = e.shape;
    return e.transpose([0, 2, 1]).reshape([m * rank, r]) as tf.Tensor2D;
  });
}

/**
 * The k best rows of the tensor-train table for one query, on the WebGPU backend.
 *
 * cores: as stored (ttCoreShapes(shape)); numRows: the table's rows (row 0 pads, rows numRows..
 * N_pad - 1 pad the product); query: float32 [1, d]; k: 1..MAX_TOP_K (768); exclude: row ids
 * sorted ascending (duplicates and ids outside the table are allowed). Returns values [k] (the
 * scores, as ttScoreAll would give them) and indices [k] (int32 row ids), best first, equal
 * scores in ascending row order. Throws unless the current backend is 'webgpu', or when fewer
 * than k rows can be returned.
 */
export function ttScoreTopK(
  cores: tf.Tensor[],
  shape: TtShape,
  numRows: number,
  query: tf.Tensor2D /* [1, d] */,
  k: number,
  exclude: Int32Array /* sorted ascending */,
): { values: tf.Tensor1D; indices: tf.Tensor1D } {
  const [values, indices] = runTtScoreTopK(cores, shape, numRows, query, k, exclude, true);
  return { values: values as tf.Tensor1D, indices: indices as tf.Tensor1D };
}

/**
 * ttScoreTopK's answer as one int32 tensor [k * 2] of (score bits, row) pairs, best first, so
 * a request reads it back in one map (readPackedCandidates in ../top-k-selection/run.ts
 * decodes it) rather than two.
 */
export function ttScoreTopKPacked(
  cores: tf.Tensor[],
  shape: TtShape,
  numRows: number,
  query: tf.Tensor2D /* [1, d] */,
  k: number,
  exclude: Int32Array /* sorted ascending */,
): tf.Tensor1D {
  return runTtScoreTopK(cores, shape, numRows, query, k, exclude, false)[0] as tf.Tensor1D;
}

function runTtScoreTopK(
  cores: tf.Tensor[],
  shape: TtShape,
  numRows: number,
  query: tf.Tensor2D,
  k: number,
  exclude: Int32Array,
  unpack: boolean,
): tf.Tensor1D[] {
  requireWebgpu('ttScoreTopK', 'use ttScoreAll with tf.topk elsewhere');
  const coreShapes = ttCoreShapes(shape);
  if (cores.length !== coreShapes.length) {
    throw new Error(`ttScoreTopK: ${coreShapes.length} cores expected, ${cores.length} given`);
  }
  coreShapes.forEach((expected, i) => {
    const actual = (cores[i] as tf.Tensor).shape;
    if (actual.length !== 3 || expected.some((size, axis) => actual[axis] !== size)) {
      throw new Error(`ttScoreTopK: core ${i + 1} is [${actual}], expected [${expected}]`);
    }
  });
  const dim = shape.cols.reduce((a, b) => a * b, 1);
  if (query.shape[0] !== 1 || query.shape[1] !== dim) {
    throw new Error(`ttScoreTopK: the query must be [1, ${dim}], not [${query.shape}]`);
  }
  const paddedRows = shape.rows.reduce((a, b) => a * b, 1);
  checkSelection('ttScoreTopK', numRows, paddedRows, k, exclude);

  registerTtScoreTopK();
  return tf.tidy(() => {
    const contractedQuery = contractQueryIntoTrailingCores(cores, shape, query.toFloat());
    // A storage binding cannot be empty, and -1 matches no row.
    const excludeRows = tf.tensor1d(exclude.length > 0 ? exclude : [-1], 'int32');
    return tf
      .engine()
      .runKernel(
        TT_SCORE_TOP_K,
        { firstCore: (cores[0] as tf.Tensor).toFloat(), contractedQuery, exclude: excludeRows },
        { numRows, k, unpack },
      ) as tf.Tensor1D[];
  });
}
