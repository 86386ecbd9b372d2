/**
 * The item table of a sequential model: a dense matrix (the teacher) or a tensor-train
 * matrix (the compressed student). Row 0 is the padding item. Both answer the same three
 * questions, so the encoder, the losses and the runtime never ask which one they hold.
 */
import * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../errors.ts';
import { gatherRows } from './ops/gather-rows.ts';
import type { Weights } from './sasrec.ts';
import { type TtShape, ttMaterialise, ttParamCount, ttRows, ttScoreAll } from './tt-matrix.ts';

export interface ItemTable {
  readonly kind: 'dense' | 'tt';
  /** numItems + 1: row 0 pads. */
  readonly numRows: number;
  readonly dim: number;
  readonly params: number;
  /** The table's tensors, named as in the model package. */
  readonly weights: Weights;
  /** A tensor-train table's cores and shape, for kernels that contract them directly. */
  readonly tt: { cores: readonly tf.Tensor[]; shape: TtShape } | null;
  /** Vectors of `ids` (any shape), without building the whole table. */
  lookup(ids: tf.Tensor): tf.Tensor;
  /** queries [Q, dim] times the table: [Q, numRows]. */
  scoreAll(queries: tf.Tensor2D): tf.Tensor2D;
  /** The whole table [numRows, dim]; training uses it once per step for lookups and scores. */
  materialise(): tf.Tensor2D;
}

export const DENSE_TABLE = 'items.table';
export const ttCoreName = (k: number): string => `items.tt.core${k}`;

export function denseItemTable(table: tf.Tensor2D): ItemTable {
  const [numRows, dim] = table.shape;
  return {
    kind: 'dense',
    numRows,
    dim,
    params: numRows * dim,
    weights: { [DENSE_TABLE]: table },
    tt: null,
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
    lookup: (ids) => ttRows(cores as tf.Tensor[], shape, ids),
    scoreAll: (queries) => cut(ttScoreAll(cores as tf.Tensor[], shape, queries)),
    materialise: () => {
      const full = ttMaterialise(cores as tf.Tensor[], shape);
      return padded === numRows ? full : (full.slice([0, 0], [numRows, dim]) as tf.Tensor2D);
    },
  };
}
