/**
 * Shaver's field-aware codebook (Tran et al., WWW 2025): one placeholder vector per field,
 * the frequency-weighted mean of the field's embedding rows, which stands in for an absent
 * element both while Shapley values are estimated and once the element is pruned. The
 * weighting is what makes it the best constant: it is the vector closest, in expected
 * squared error over the data, to the row a random training row looks up.
 *
 * Frequencies count looked-up ids in the training split: each present id of a row once
 * (so a multi-valued field's row with three genres adds one to each), and a multi-valued
 * row with no value once on the field's row 0, which is what the model reads for it.
 * Pure functions over plain arrays (no tfjs), so pruning and the browser can reuse them.
 */
import { fieldIds, fieldLayout } from '../../model/ctr/field-embedding.ts';
import { type CtrRows, type CtrSchema, idsPerRow } from '../../model/ctr/schema.ts';

/** How often each global embedding row is looked up in `rows`: [totalRows]. */
export function rowFrequencies(schema: CtrSchema, rows: CtrRows): Float64Array {
  const layout = fieldLayout(schema);
  const counts = new Float64Array(layout.totalRows);
  schema.fields.forEach((field, f) => {
    const ids = fieldIds(rows, field, f);
    const width = idsPerRow(field);
    const offset = layout.offsets[f] as number;
    for (let r = 0; r < rows.numRows; r++) {
      let present = 0;
      for (let j = r * width; j < (r + 1) * width; j++) {
        const id = ids[j] as number;
        if (id < 0) continue;
        if (id >= field.vocabularySize) {
          throw new Error(`id ${id} is outside CTR field "${field.name}"`);
        }
        counts[offset + id] = (counts[offset + id] as number) + 1;
        present++;
      }
      if (present === 0) counts[offset] = (counts[offset] as number) + 1;
    }
  });
  return counts;
}

/**
 * Each field's frequency-weighted mean row: [numFields * dim], field f at f * dim. A field
 * the data never looks up gets the plain mean of its rows: with no evidence, every row is
 * taken as equally likely.
 */
export function fieldCodebook(
  schema: CtrSchema,
  table: Float32Array,
  dim: number,
  frequencies: Float64Array,
): Float32Array {
  const layout = fieldLayout(schema);
  if (table.length !== layout.totalRows * dim || frequencies.length !== layout.totalRows) {
    throw new Error(
      `a table of ${layout.totalRows} x ${dim} and ${layout.totalRows} frequencies are needed, ` +
        `got ${table.length} elements and ${frequencies.length} frequencies`,
    );
  }
  const codebook = new Float32Array(layout.numFields * dim);
  const sums = new Float64Array(dim);
  schema.fields.forEach((field, f) => {
    const first = layout.offsets[f] as number;
    const end = first + field.vocabularySize;
    let total = 0;
    for (let r = first; r < end; r++) total += frequencies[r] as number;
    sums.fill(0);
    for (let r = first; r < end; r++) {
      const w = total > 0 ? (frequencies[r] as number) : 1;
      if (w === 0) continue;
      for (let k = 0; k < dim; k++)
        sums[k] = (sums[k] as number) + w * (table[r * dim + k] as number);
    }
    const norm = total > 0 ? total : field.vocabularySize;
    for (let k = 0; k < dim; k++) codebook[f * dim + k] = (sums[k] as number) / norm;
  });
  return codebook;
}

/** The codebook of a table from the rows it is weighted by (usually the training split). */
export function codebookFromRows(
  schema: CtrSchema,
  table: Float32Array,
  dim: number,
  rows: CtrRows,
): Float32Array {
  return fieldCodebook(schema, table, dim, rowFrequencies(schema, rows));
}

/**
 * How often each item row of a sequence model's table [numRows, dim] is looked up in
 * `sequences` (the training sequences): [numRows], row 0 (padding) never counted.
 */
export function itemFrequencies(sequences: readonly Int32Array[], numRows: number): Float64Array {
  const counts = new Float64Array(numRows);
  for (const sequence of sequences) {
    for (const item of sequence) {
      if (!(item >= 1 && item < numRows)) {
        throw new Error(`item ${item} is outside a table of ${numRows} rows (1..${numRows - 1})`);
      }
      counts[item] = (counts[item] as number) + 1;
    }
  }
  return counts;
}

/**
 * The single-field codebook of a sequence model's item table: one vector [dim], the
 * frequency-weighted mean of the item rows. It is the constant c that minimises
 * E‖T[item] − c‖² over the items a training sequence looks up (the mean minimises the
 * expected squared distance), so an absent element moves the row a typical look-up reads
 * least. A table the data never looks up gets the plain mean of its item rows. Row 0 pads
 * and is read by no prediction, so it is left out.
 */
export function itemCodebook(
  table: Float32Array,
  dim: number,
  frequencies: Float64Array,
): Float32Array {
  const numRows = frequencies.length;
  if (numRows < 2 || table.length !== numRows * dim) {
    throw new Error(
      `a table of ${numRows} x ${dim} (padding and at least one item) is needed for ${numRows} frequencies, got ${table.length} elements`,
    );
  }
  let total = 0;
  for (let r = 1; r < numRows; r++) total += frequencies[r] as number;
  const sums = new Float64Array(dim);
  for (let r = 1; r < numRows; r++) {
    const w = total > 0 ? (frequencies[r] as number) : 1;
    if (w === 0) continue;
    for (let k = 0; k < dim; k++)
      sums[k] = (sums[k] as number) + w * (table[r * dim + k] as number);
  }
  const norm = total > 0 ? total : numRows - 1;
  return Float32Array.from(sums, (s) => s / norm);
}
