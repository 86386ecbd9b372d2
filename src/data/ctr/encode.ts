/**
 * From raw columns to CtrRows: vocabularies and numeric boundaries are fitted on the train
 * rows only, then every split is encoded with them. Fitting on all rows would leak the
 * validation/test values into the vocabulary and hide how a model meets unseen values.
 */
import {
  type CtrField,
  type CtrRows,
  type CtrSchema,
  numericBucket,
} from '../../model/ctr/schema.ts';

/**
 * One field before encoding. Raw codes are small non-negative integers (an Interner's code,
 * a feature offset or an id such as a MovieID); -1 is a missing value. `valueText` gives the
 * raw value a code stands for, as a client would name it (distinct codes, distinct text):
 * the vocabulary a package ships (CtrField.values).
 */
export type RawColumn =
  | {
      readonly kind: 'categorical';
      readonly name: string;
      readonly codes: Int32Array;
      readonly valueText: (code: number) => string;
    }
  | {
      readonly kind: 'multi';
      readonly name: string;
      /** Codes per row; a row's codes come first, then -1s. */
      readonly width: number;
      readonly codes: Int32Array;
      readonly valueText: (code: number) => string;
    }
  /** NaN is a missing value. */
  | { readonly kind: 'numeric'; readonly name: string; readonly values: Float64Array };

/** A whole data set in raw codes, rows in file order. */
export interface RawTable {
  readonly numRows: number;
  /** 1 positive, 0 negative. */
  readonly labels: Uint8Array;
  readonly columns: readonly RawColumn[];
}

/** Row indices (into a RawTable) of each split, ascending. */
export interface SplitRows {
  readonly train: Int32Array;
  readonly validation: Int32Array;
  readonly test: Int32Array;
}

export interface EncodedSplits {
  readonly schema: CtrSchema;
  readonly train: CtrRows;
  readonly validation: CtrRows;
  readonly test: CtrRows;
}

/** Gives each distinct raw value a code 0, 1, 2, … in order of first appearance. */
export class Interner<K> {
  private readonly codes = new Map<K, number>();
  private readonly inOrder: K[] = [];

  code(value: K): number {
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.codes.size;
      this.codes.set(value, code);
      this.inOrder.push(value);
    }
    return code;
  }

  /** The value code `code` was given to. */
  valueAt(code: number): K {
    const value = this.inOrder[code];
    if (value === undefined) throw new RangeError(`code ${code} was never given out`);
    return value;
  }

  get size(): number {
    return this.codes.size;
  }
}

interface FittedColumn {
  readonly field: CtrField;
  encode(rows: Int32Array): Int32Array;
}

export function encodeTable(
  table: RawTable,
  splits: SplitRows,
  numericBuckets: number,
): EncodedSplits {
  const fitted = table.columns.map((column) => fitColumn(column, splits.train, numericBuckets));
  const encode = (rows: Int32Array): CtrRows => {
    const labels = new Float32Array(rows.length);
    for (let i = 0; i < rows.length; i++) labels[i] = table.labels[rows[i] as number] as number;
    return { numRows: rows.length, ids: fitted.map((column) => column.encode(rows)), labels };
  };
  return {
    schema: { fields: fitted.map((column) => column.field) },
    train: encode(splits.train),
    validation: encode(splits.validation),
    test: encode(splits.test),
  };
}

function fitColumn(column: RawColumn, trainRows: Int32Array, numericBuckets: number): FittedColumn {
  switch (column.kind) {
    case 'categorical':
      return fitCategorical(column, trainRows);
    case 'multi':
      return fitMulti(column, trainRows);
    case 'numeric':
      return fitNumeric(column.name, column.values, trainRows, numericBuckets);
  }
}

interface Vocabulary {
  /** `idOf[code]` is the code's id, 0 when the train rows never hold it. */
  idOf: Int32Array;
  vocabularySize: number;
  /** The raw value of ids 1..vocabularySize-1 (CtrField.values). */
  values: string[];
}

/**
 * Ids 1, 2, … in order of first appearance in the train rows (row order, then slot order);
 * 0 for codes the train rows never hold.
 */
function fitVocabulary(
  column: Extract<RawColumn, { kind: 'categorical' | 'multi' }>,
  width: number,
  trainRows: Int32Array,
): Vocabulary {
  const { codes } = column;
  let maxCode = -1;
  for (const code of codes) if (code > maxCode) maxCode = code;
  const idOf = new Int32Array(maxCode + 1);
  const values: string[] = [];
  for (const row of trainRows) {
    for (let slot = row * width; slot < (row + 1) * width; slot++) {
      const code = codes[slot] as number;
      if (code < 0) break;
      if (idOf[code] === 0) {
        values.push(column.valueText(code));
        idOf[code] = values.length;
      }
    }
  }
  return { idOf, vocabularySize: values.length + 1, values };
}

function fitCategorical(
  column: Extract<RawColumn, { kind: 'categorical' }>,
  trainRows: Int32Array,
): FittedColumn {
  const { name, codes } = column;
  const { idOf, vocabularySize, values } = fitVocabulary(column, 1, trainRows);
  return {
    field: { name, kind: 'categorical', vocabularySize, values },
    encode(rows) {
      const ids = new Int32Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const code = codes[rows[i] as number] as number;
        ids[i] = code < 0 ? 0 : (idOf[code] as number);
      }
      return ids;
    },
  };
}

/**
 * An unseen value keeps its slot as id 0 rather than being dropped, so mean-pooling still
 * weighs it like any other value of the row.
 */
function fitMulti(
  column: Extract<RawColumn, { kind: 'multi' }>,
  trainRows: Int32Array,
): FittedColumn {
  const { name, codes, width } = column;
  const { idOf, vocabularySize, values } = fitVocabulary(column, width, trainRows);
  return {
    field: { name, kind: 'multi', vocabularySize, maxValues: width, values },
    encode(rows) {
      const ids = new Int32Array(rows.length * width).fill(-1);
      for (let i = 0; i < rows.length; i++) {
        const from = (rows[i] as number) * width;
        for (let slot = 0; slot < width; slot++) {
          const code = codes[from + slot] as number;
          if (code < 0) break;
          ids[i * width + slot] = idOf[code] as number;
        }
        // A row without any value still needs one row to pool: the out-of-vocabulary one.
        if (ids[i * width] === -1) ids[i * width] = 0;
      }
      return ids;
    },
  };
}

function fitNumeric(
  name: string,
  values: Float64Array,
  trainRows: Int32Array,
  numericBuckets: number,
): FittedColumn {
  const seen: number[] = [];
  for (const row of trainRows) {
    const value = values[row] as number;
    if (Number.isFinite(value)) seen.push(value);
  }
  const boundaries = quantileBoundaries(Float64Array.from(seen).sort(), numericBuckets);
  return {
    field: { name, kind: 'numeric', vocabularySize: boundaries.length + 2, boundaries },
    encode(rows) {
      const ids = new Int32Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        ids[i] = numericBucket(values[rows[i] as number] as number, boundaries);
      }
      return ids;
    },
  };
}

/**
 * The k/buckets quantiles (k = 1 … buckets-1) of sorted values, ascending and without
 * repeats. A boundary at the minimum is left out: it would only make an empty first bucket.
 * Repeated values (Criteo's many zeros) therefore give fewer buckets than asked.
 */
export function quantileBoundaries(sorted: Float64Array, buckets: number): number[] {
  const boundaries: number[] = [];
  const n = sorted.length;
  if (n === 0) return boundaries;
  let last = sorted[0] as number;
  for (let k = 1; k < buckets; k++) {
    const value = sorted[Math.floor((k * n) / buckets)] as number;
    if (value > last) {
      boundaries.push(value);
      last = value;
    }
  }
  return boundaries;
}
