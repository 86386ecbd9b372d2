/**
 * The field embedding shared by every CTR model: one table for all fields, looked up and
 * mean-pooled into one vector per field.
 *
 * Layout. The fields' rows are stacked in schema order in one table, `embedding`
 * [totalRows, dim]: field f owns rows offsets[f] .. offsets[f] + vocabularySize_f - 1, its
 * id i at global row offsets[f] + i, so id 0 (out of vocabulary) is the field's first row.
 * Element (row r, dimension k) is number r * dim + k of the row-major table: one global
 * index per element, which is what Shaver's element-wise Shapley values and pruning masks
 * address (embeddingElementIndex). `linear` [totalRows, 1] holds the first-order weight of
 * every row in the same layout, and `bias` [1] the global bias (FM and DeepFM only).
 *
 * A batch is looked up in two steps so that a caller can work on its m x d elements alone:
 * lookupSlots gives the rows of every slot (a single-valued field has one slot, a
 * multi-valued field maxValues), and poolSlots averages each field's slots. A forward pass
 * takes those slot vectors ready-made (CtrForwardOptions.embedded), or reads any table put
 * under `embedding` in a shallow copy of the weights: neither copies the model.
 */
import * as tf from '@tensorflow/tfjs';
import { gatherRows } from '../ops/gather-rows.ts';
import { type Weights, weight } from './layers.ts';
import { type CtrField, type CtrRows, type CtrSchema, idsPerRow } from './schema.ts';

/** Where each field's rows and slots lie; derived from the schema alone. */
export interface FieldLayout {
  numFields: number;
  /** First global row of each field. */
  offsets: number[];
  totalRows: number;
  /** First slot of each field within a batch row. */
  slotOffsets: number[];
  /** Slots per batch row: the sum of idsPerRow over the fields. */
  numSlots: number;
  /** Whether some field is multi-valued, i.e. slots need pooling. */
  pooled: boolean;
}

const layouts = new WeakMap<CtrSchema, FieldLayout>();

/** The layout of a schema's fields (cached per schema object: forward passes ask often). */
export function fieldLayout(schema: CtrSchema): FieldLayout {
  const cached = layouts.get(schema);
  if (cached) return cached;
  const offsets: number[] = [];
  const slotOffsets: number[] = [];
  let totalRows = 0;
  let numSlots = 0;
  for (const field of schema.fields) {
    checkField(field);
    offsets.push(totalRows);
    slotOffsets.push(numSlots);
    totalRows += field.vocabularySize;
    numSlots += idsPerRow(field);
  }
  const layout: FieldLayout = {
    numFields: schema.fields.length,
    offsets,
    totalRows,
    slotOffsets,
    numSlots,
    pooled: schema.fields.some((f) => f.kind === 'multi'),
  };
  layouts.set(schema, layout);
  return layout;
}

function checkField(field: CtrSchema['fields'][number]): void {
  if (!Number.isInteger(field.vocabularySize) || field.vocabularySize < 1) {
    throw new Error(`CTR field "${field.name}" needs at least its out-of-vocabulary row`);
  }
  if (field.kind === 'multi' && !(idsPerRow(field) >= 1)) {
    throw new Error(`multi-valued CTR field "${field.name}" needs maxValues >= 1`);
  }
  // A bucket past the table would silently read the next field's rows.
  const buckets = (field.boundaries?.length ?? 0) + 2;
  if (field.kind === 'numeric' && field.vocabularySize < buckets) {
    throw new Error(
      `numeric CTR field "${field.name}" has ${buckets} buckets but ${field.vocabularySize} rows`,
    );
  }
}

/** The global index of element (field, id, k) of the embedding table (see the layout above). */
export function embeddingElementIndex(
  layout: FieldLayout,
  dim: number,
  field: number,
  id: number,
  k: number,
): number {
  return ((layout.offsets[field] as number) + id) * dim + k;
}

/** Every field embedding weight with its shape: the table, and the first-order part if asked. */
export function fieldEmbeddingShapes(
  schema: CtrSchema,
  dim: number,
  firstOrder: boolean,
): [string, number[]][] {
  const rows = fieldLayout(schema).totalRows;
  const shapes: [string, number[]][] = [['embedding', [rows, dim]]];
  if (firstOrder) shapes.push(['linear', [rows, 1]], ['bias', [1]]);
  return shapes;
}

/** A batch of CTR rows as tensors; the caller disposes them. */
export interface CtrBatch {
  /** [batch, numSlots] int32: each slot's global embedding row (padding: its field's row 0). */
  rows: tf.Tensor2D;
  /**
   * [batch, numSlots] float32: each slot's share of its field's vector: 1 for a
   * single-valued field, 1/n for each of n present ids of a multi-valued one, 0 for padding.
   */
  poolWeights: tf.Tensor2D;
  /** [batch] float32, 1 for a click. */
  labels: tf.Tensor1D;
}

/** Which rows of a CtrRows make a batch: a range, or any indices (a shuffled batch). */
export type RowSelection = { start: number; end: number } | ArrayLike<number>;

function selectedRows(rows: CtrRows, select?: RowSelection): ArrayLike<number> {
  const range = select === undefined ? { start: 0, end: rows.numRows } : select;
  if (!('start' in range)) return range;
  if (range.start < 0 || range.end > rows.numRows || range.start > range.end) {
    throw new Error(`rows ${range.start}..${range.end} are outside 0..${rows.numRows}`);
  }
  return Int32Array.from({ length: range.end - range.start }, (_, i) => range.start + i);
}

/**
 * The batch tensors of some rows (all of them by default). Ids outside a field's vocabulary
 * throw: the loaders map unseen values to 0, so such an id means the schema and the rows
 * disagree, and looking it up would read another field's rows.
 */
export function ctrBatch(schema: CtrSchema, rows: CtrRows, select?: RowSelection): CtrBatch {
  const layout = fieldLayout(schema);
  const picked = selectedRows(rows, select);
  const n = picked.length;
  const S = layout.numSlots;
  const global = new Int32Array(n * S);
  const shares = new Float32Array(n * S);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = picked[i] as number;
    if (!(r >= 0 && r < rows.numRows)) throw new Error(`row ${r} is outside 0..${rows.numRows}`);
    labels[i] = rows.labels[r] as number;
  }
  schema.fields.forEach((field, f) => {
    const ids = fieldIds(rows, field, f);
    const width = idsPerRow(field);
    const offset = layout.offsets[f] as number;
    for (let i = 0; i < n; i++) {
      const from = (picked[i] as number) * width;
      const to = i * S + (layout.slotOffsets[f] as number);
      fillSlots(field, ids.subarray(from, from + width), offset, global, shares, to);
    }
  });
  return {
    rows: tf.tensor2d(global, [n, S], 'int32'),
    poolWeights: tf.tensor2d(shares, [n, S], 'float32'),
    labels: tf.tensor1d(labels, 'float32'),
  };
}

/** One row's slots of one field: global rows and pooling shares from `at` on. */
function fillSlots(
  field: CtrSchema['fields'][number],
  ids: Int32Array,
  offset: number,
  global: Int32Array,
  shares: Float32Array,
  at: number,
): void {
  let present = 0;
  for (const id of ids) {
    const padding = id === -1 && field.kind === 'multi';
    if (!padding && !(id >= 0 && id < field.vocabularySize)) {
      throw new Error(
        `id ${id} is outside CTR field "${field.name}" (0..${field.vocabularySize - 1})`,
      );
    }
    if (!padding) present++;
  }
  ids.forEach((id, j) => {
    global[at + j] = offset + Math.max(id, 0);
    shares[at + j] = id >= 0 ? 1 / present : 0;
  });
  // The schema writes a row without values as one 0; all padding reads as that too.
  if (present === 0) shares[at] = 1;
}

/** The table's rows of every slot of a batch: [batch, numSlots, dim], trainable on WASM. */
export function lookupSlots(table: tf.Tensor2D, batch: CtrBatch): tf.Tensor3D {
  return gatherRows(table, batch.rows) as tf.Tensor3D;
}

/**
 * Each field's vector from its slots' vectors [batch, numSlots, dim]: the mean over a
 * multi-valued field's present ids. Returns [batch, numFields, dim].
 */
export function poolSlots(
  layout: FieldLayout,
  slots: tf.Tensor3D,
  poolWeights: tf.Tensor2D,
): tf.Tensor3D {
  if (!layout.pooled) return slots;
  const [batch, S, dim] = slots.shape;
  // One 2-D product with a [slots, fields] 0/1 matrix sums each field's weighted slots: the
  // fast path on WASM, where 3-D batched products and per-field slicing are slow.
  const assign = new Float32Array(S * layout.numFields);
  for (let f = 0; f < layout.numFields; f++) {
    const end = layout.slotOffsets[f + 1] ?? S;
    for (let s = layout.slotOffsets[f] as number; s < end; s++)
      assign[s * layout.numFields + f] = 1;
  }
  return slots
    .mul(poolWeights.expandDims(2))
    .transpose([0, 2, 1])
    .reshape([batch * dim, S])
    .matMul(tf.tensor2d(assign, [S, layout.numFields]))
    .reshape([batch, dim, layout.numFields])
    .transpose([0, 2, 1]) as tf.Tensor3D;
}

/**
 * The batch's field vectors [batch, numFields, dim], from `embedded` slot vectors when given
 * (a masked or filled copy of the batch's elements) or else from the `embedding` weight.
 */
export function embedFields(
  schema: CtrSchema,
  weights: Weights,
  batch: CtrBatch,
  embedded?: tf.Tensor3D,
): tf.Tensor3D {
  const slots = embedded ?? lookupSlots(weight(weights, 'embedding') as tf.Tensor2D, batch);
  return poolSlots(fieldLayout(schema), slots, batch.poolWeights);
}

/** The first-order part, bias + Σ_f mean-pooled `linear` weight: [batch]. */
export function firstOrder(weights: Weights, batch: CtrBatch): tf.Tensor1D {
  const [n, S] = batch.rows.shape;
  return (gatherRows(weight(weights, 'linear') as tf.Tensor2D, batch.rows) as tf.Tensor3D)
    .reshape([n, S])
    .mul(batch.poolWeights)
    .sum(1)
    .add(weight(weights, 'bias')) as tf.Tensor1D;
}

/** Field f's ids in `rows`, checked to hold idsPerRow(field) per row. */
export function fieldIds(rows: CtrRows, field: CtrField, f: number): Int32Array {
  const ids = rows.ids[f];
  const need = rows.numRows * idsPerRow(field);
  if (!ids || ids.length !== need) throw new Error(`CTR field "${field.name}" needs ${need} ids`);
  return ids;
}
