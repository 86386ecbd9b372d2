/**
 * What a CTR (content-based ranking) model reads: a row of fields about a (user, item,
 * context) triple, each encoded as ids into that field's own vocabulary. Shared by the data
 * loaders (src/data/ctr/), the models (src/model/ctr/), training, the package and the
 * browser runtime, so it holds types and pure functions only (no Node, no tfjs).
 *
 * Every field reserves id 0 for "out of vocabulary": a value not seen in training (or
 * missing) maps there, never to another value's row.
 */

export type CtrFieldKind =
  /** One value per row (user id, weekday, ...). */
  | 'categorical'
  /** A set of values per row, mean-pooled by the model (a movie's genres). */
  | 'multi'
  /** A number, bucketised by boundaries fitted on the training split. */
  | 'numeric';

export interface CtrField {
  name: string;
  kind: CtrFieldKind;
  /** Embedding rows the field needs: its vocabulary plus the out-of-vocabulary row 0. */
  vocabularySize: number;
  /** 'multi' only: values kept per row (the padded width). */
  maxValues?: number;
  /**
   * 'numeric' only: ascending bucket boundaries fitted on training data. A value v falls in
   * bucket 1 + (number of boundaries <= v); a missing or non-finite value is 0.
   */
  boundaries?: number[];
  /**
   * 'categorical' and 'multi' only: the raw value of ids 1..vocabularySize-1 in id order
   * (`values[i]` is id i + 1), as the data loader read it. What lets a client that knows
   * only raw values (a browser page) encode a row as training did. Absent in packages
   * written before vocabularies were packaged.
   */
  values?: readonly string[];
}

export interface CtrSchema {
  fields: CtrField[];
}

/**
 * Encoded rows, column by column in schema order. `ids[f]` holds field f's ids: for
 * 'categorical' and 'numeric' fields one per row ([numRows]); for 'multi' fields
 * `maxValues` per row ([numRows * maxValues]), unused slots -1 (a row with no value at all
 * holds one 0, the out-of-vocabulary row).
 */
export interface CtrRows {
  numRows: number;
  ids: Int32Array[];
  /** 1 click / positive, 0 not. */
  labels: Float32Array;
}

/** The ids a field takes per row: 1, or maxValues for a multi-valued field. */
export function idsPerRow(field: CtrField): number {
  return field.kind === 'multi' ? (field.maxValues ?? 1) : 1;
}

/** The bucket of a numeric value (see CtrField.boundaries). */
export function numericBucket(value: number, boundaries: readonly number[]): number {
  if (!Number.isFinite(value)) return 0;
  let lo = 0;
  let hi = boundaries.length;
  // Count the boundaries <= value by binary search.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((boundaries[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return 1 + lo;
}
