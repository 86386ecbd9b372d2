/**
 * The item table of a sequential model: a dense matrix (the teacher), a tensor-train
 * matrix (the compressed student), a RecJPQ table (codebooks of sub-embeddings shared
 * through fixed per-item codes, jpq-codes.ts) or a quotient-remainder table (each row a
 * quotient row and a remainder row joined entry by entry, qr-partition.ts). Row 0 is the
 * padding item. All answer the same three questions, so the encoder, the losses and the
 * runtime never ask which one they hold; a kernel that works on one kind's own parts
 * narrows on `kind` to reach them.
 */
import * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../errors.ts';
import type { JpqShape } from './jpq-codes.ts';
import { gatherRows } from './ops/gather-rows.ts';
import { type QrShape, qrBucketsProblem, qrQuotientRows } from './qr-partition.ts';
import type { Weights } from './sasrec.ts';
import { type TtShape, ttMaterialise, ttParamCount, ttRows, ttScoreAll } from './tt-matrix.ts';

/** A tensor-train table's cores and shape, for kernels that contract them directly. */
export interface TtParts {
  cores: readonly tf.Tensor[];
  shape: TtShape;
}

/** A RecJPQ table's parts, for scorers that score through the codebooks. */
export interface JpqParts extends JpqShape {
  /** [splits, centroids, dim / splits]: the trained sub-embeddings. */
  codebooks: tf.Tensor3D;
  /** [numRows, splits] int32: row i's sub-embedding j is codebooks[j][codes[i][j]]; not trained. */
  codes: tf.Tensor2D;
}

/** A quotient-remainder table's factors, for code that works on them directly. */
export interface QrParts extends QrShape {
  /** [⌈numRows / buckets⌉, dim]: row i's first factor is quotient[⌊i / buckets⌋]. */
  quotient: tf.Tensor2D;
  /** [buckets, dim]: row i's second factor is remainder[i mod buckets]. */
  remainder: tf.Tensor2D;
}

interface ItemTableOps {
  /** numItems + 1: row 0 pads. */
  readonly numRows: number;
  readonly dim: number;
  /** Trained parameters (a RecJPQ table's codes are fixed, so not among them). */
  readonly params: number;
  /** The table's trained tensors, named as in the model package. */
  readonly weights: Weights;
  /** Vectors of `ids` (any shape), without building the whole table. */
  lookup(ids: tf.Tensor): tf.Tensor;
  /** queries [Q, dim] times the table: [Q, numRows]. */
  scoreAll(queries: tf.Tensor2D): tf.Tensor2D;
  /** The whole table [numRows, dim]; training uses it once per step for lookups and scores. */
  materialise(): tf.Tensor2D;
}

export type ItemTable = ItemTableOps &
  (
    | { readonly kind: 'dense'; readonly tt: null; readonly jpq: null; readonly qr: null }
    | { readonly kind: 'tt'; readonly tt: TtParts; readonly jpq: null; readonly qr: null }
    | { readonly kind: 'jpq'; readonly tt: null; readonly jpq: JpqParts; readonly qr: null }
    | { readonly kind: 'qr'; readonly tt: null; readonly jpq: null; readonly qr: QrParts }
  );

export * from './item-table-names.ts';

import {
  DENSE_TABLE,
  JPQ_CODEBOOKS,
  QR_QUOTIENT,
  QR_REMAINDER,
  ttCoreName,
} from './item-table-names.ts';

export function denseItemTable(table: tf.Tensor2D): ItemTable {
  const [numRows, dim] = table.shape;
  return {
    kind: 'dense',
    numRows,
    dim,
    params: numRows * dim,
    weights: { [DENSE_TABLE]: table },
    tt: null,
    jpq: null,
    qr: null,
    lookup: (ids) => gatherRows(table, ids),
    scoreAll: (queries) => tf.matMul(queries, table, false, true),
    materialise: () => table,
  };
}
export function ttItemTable(
  cores: readonly tf.Tensor[],
  shape: TtShape,
  numRows: number,
): ItemTable {
  const padded = shape.rows.reduce((a, b) => a * b, 1);
  if (padded < numRows) {
    throw new PocketrecError(
      'bad-tt-shape',
      `tensor-train rows ${shape.rows.join('x')} = ${padded} cannot hold ${numRows} table rows`,
    );
  }
  const dim = shape.cols.reduce((a, b) => a * b, 1);
  const cut = (t: tf.Tensor2D): tf.Tensor2D =>
    padded === numRows ? t : (t.slice([0, 0], [t.shape[0], numRows]) as tf.Tensor2D);
  return {
    kind: 'tt',
    numRows,
    dim,
    params: ttParamCount(shape),
    weights: Object.fromEntries(cores.map((c, k) => [ttCoreName(k), c])),
    tt: { cores, shape },
    jpq: null,
    qr: null,
    lookup: (ids) => ttRows(cores as tf.Tensor[], shape, ids),
    scoreAll: (queries) => cut(ttScoreAll(cores as tf.Tensor[], shape, queries)),
    materialise: () => {
      const full = ttMaterialise(cores as tf.Tensor[], shape);
      return padded === numRows ? full : (full.slice([0, 0], [numRows, dim]) as tf.Tensor2D);
    },
  };
}

/**
 * A RecJPQ table: row i is the concatenation over splits j of codebooks[j][codes[i][j]].
 * Scoring never builds the table: each split of the query meets its codebook once
 * ([Q, centroids] scores per split), and an item's score is the sum of its codes' scores.
 */
export function jpqItemTable(
  codebooks: tf.Tensor3D,
  codes: tf.Tensor2D,
  numRows: number,
): ItemTable {
  const [splits, centroids, width] = codebooks.shape;
  if (codes.dtype !== 'int32' || codes.shape[0] !== numRows || codes.shape[1] !== splits) {
    throw new PocketrecError(
      'bad-jpq-table',
      `RecJPQ codes must be int32 [${numRows}, ${splits}], got ${codes.dtype} [${codes.shape}]`,
    );
  }
  const dim = splits * width;
  // Codebook j's rows follow codebook j - 1's in one [splits·centroids, width] matrix, so one
  // look-up (whose gradient every backend runs, gather-rows.ts) reads every split's rows.
  const rowsOf = (rowCodes: tf.Tensor): tf.Tensor =>
    gatherRows(
      codebooks.reshape([splits * centroids, width]) as tf.Tensor2D,
      rowCodes.add(tf.range(0, splits * centroids, centroids, 'int32')),
    );
  return {
    kind: 'jpq',
    numRows,
    dim,
    params: splits * centroids * width,
    weights: { [JPQ_CODEBOOKS]: codebooks },
    tt: null,
    jpq: { codebooks, codes, splits, centroids },
    qr: null,
    lookup: (ids) => {
      const rows = rowsOf(tf.gather(codes, ids.reshape([-1])));
      return rows.reshape([...ids.shape, dim]);
    },
    scoreAll: (queries) => {
      const count = queries.shape[0];
      // [splits, Q, centroids]: every split of every query against its codebook.
      const splitScores = tf.matMul(
        queries.reshape([count, splits, width]).transpose([1, 0, 2]) as tf.Tensor3D,
        codebooks,
        false,
        true,
      );
      let scores: tf.Tensor2D | null = null;
      for (let j = 0; j < splits; j++) {
        const own = splitScores.slice([j, 0, 0], [1, count, centroids]).reshape([count, centroids]);
        const column = codes.slice([0, j], [numRows, 1]).reshape([numRows]);
        const picked = tf.gather(own, column, 1) as tf.Tensor2D;
        scores = scores ? (scores.add(picked) as tf.Tensor2D) : picked;
      }
      return scores as tf.Tensor2D;
    },
    materialise: () => rowsOf(codes).reshape([numRows, dim]) as tf.Tensor2D,
  };
}

/**
 * A quotient-remainder table (qr-partition.ts): row i is quotient[⌊i/m⌋] ∘ remainder[i mod m],
 * ∘ the element-wise product ('mult') or the sum ('add'), m the remainder's rows. A look-up
 * gathers the two factors of each id and never builds the table. scoreAll builds it: the
 * table is numRows × dim, no more than a dense table's, and scoring through the factors saves
 * no products for 'mult' (⌈numRows/m⌉·m ≥ numRows rows of dim products either way).
 */
export function qrItemTable(
  quotient: tf.Tensor2D,
  remainder: tf.Tensor2D,
  numRows: number,
  operation: QrShape['operation'],
): ItemTable {
  const [buckets, dim] = remainder.shape;
  const problem = qrBucketsProblem(numRows, buckets);
  const quotientRows = qrQuotientRows(numRows, buckets);
  if (problem || quotient.shape[0] !== quotientRows || quotient.shape[1] !== dim) {
    throw new PocketrecError(
      'bad-qr-table',
      `a quotient-remainder table of ${numRows} rows with a remainder of shape [${remainder.shape}] needs a quotient of shape [${quotientRows}, ${dim}], got [${quotient.shape}]${problem ? `: ${problem}` : ''}`,
    );
  }
  const join = (q: tf.Tensor, r: tf.Tensor): tf.Tensor =>
    operation === 'mult' ? tf.mul(q, r) : tf.add(q, r);
  // Every quotient row against every remainder row, [quotientRows, buckets, dim] flattened:
  // entry q·m + r is row q·m + r. Broadcasting needs no gather, so its gradient is two sums.
  const materialise = (): tf.Tensor2D => {
    const full = join(quotient.expandDims(1), remainder.expandDims(0)).reshape([
      quotientRows * buckets,
      dim,
    ]) as tf.Tensor2D;
    return quotientRows * buckets === numRows ? full : full.slice([0, 0], [numRows, dim]);
  };
  return {
    kind: 'qr',
    numRows,
    dim,
    params: (quotientRows + buckets) * dim,
    weights: { [QR_QUOTIENT]: quotient, [QR_REMAINDER]: remainder },
    tt: null,
    jpq: null,
    qr: { quotient, remainder, buckets, operation },
    lookup: (ids) => {
      const m = tf.scalar(buckets, 'int32');
      const rows = join(
        gatherRows(quotient, tf.floorDiv(ids, m)),
        gatherRows(remainder, tf.mod(ids, m)),
      );
      return rows.reshape([...ids.shape, dim]);
    },
    scoreAll: (queries) => tf.matMul(queries, materialise(), false, true),
    materialise,
  };
}

/**
 * The same table with each trained weight passed through `map` (codes, shapes and the
 * quotient-remainder operation kept):
 * what quantisation-aware training scores with, rebuilt inside each step's gradient tape.
 */
export function mapTableWeights(
  items: ItemTable,
  map: (weight: tf.Tensor) => tf.Tensor,
): ItemTable {
  switch (items.kind) {
    case 'dense':
      return denseItemTable(map(items.weights[DENSE_TABLE] as tf.Tensor) as tf.Tensor2D);
    case 'tt':
      return ttItemTable(items.tt.cores.map(map), items.tt.shape, items.numRows);
    case 'jpq':
      return jpqItemTable(map(items.jpq.codebooks) as tf.Tensor3D, items.jpq.codes, items.numRows);
    case 'qr': {
      const { quotient, remainder, operation } = items.qr;
      return qrItemTable(
        map(quotient) as tf.Tensor2D,
        map(remainder) as tf.Tensor2D,
        items.numRows,
        operation,
      );
    }
  }
}
