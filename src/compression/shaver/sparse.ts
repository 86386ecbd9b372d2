/**
 * Where the kept elements of a pruned embedding table [rows, dim] are, encoded compactly,
 * and the decoders that check what they read. Three encodings:
 *
 * - bitmap: one bit per element, row-major, each row starting on a byte (bit k of a row is
 *   bit k % 8, least significant first, of its byte k >> 3): rows × ⌈dim / 8⌉ bytes, so the
 *   tensor's shape [rows, ⌈dim / 8⌉] states the row count itself.
 * - CSR: each row's kept count (uint8 while dim < 256, else int32) and the kept columns of
 *   every row, ascending (uint8 while dim ≤ 256, else int32).
 * - index deltas: a set of element indices (row * dim + k), ascending, as LEB128 varints of
 *   the gaps (the first from -1): about one byte per index at the sparsities pruning uses,
 *   where a uint32 costs four. The progressive layout's chunks use it.
 *
 * The kept values travel alongside in row-major (ascending index) order. Decoders return the
 * kept indices in that order and report a problem through `fail`, so that the package code
 * can raise a ModelPackageError naming the tensor; they never allocate more than the counts
 * they were given, which the caller has tied to stored tensors.
 *
 * Pure typed-array code with no Node import, so the browser runtime may use it.
 */

export type PositionLayout = 'bitmap' | 'csr';

export type Fail = (problem: string) => never;

/** Bytes of one row of the bitmap. */
export function bitmapRowBytes(dim: number): number {
  return Math.ceil(dim / 8);
}

/** Element type of CSR row counts and of column indices at a width. */
export function csrCountDtype(dim: number): 'uint8' | 'int32' {
  return dim < 256 ? 'uint8' : 'int32';
}
export function csrColumnDtype(dim: number): 'uint8' | 'int32' {
  return dim <= 256 ? 'uint8' : 'int32';
}

const DTYPE_BYTES = { uint8: 1, int32: 4 } as const;

/** Bytes the positions of `kept` elements take in each encoding (values not counted). */
export function positionBytes(
  rows: number,
  dim: number,
  kept: number,
): Record<PositionLayout, number> {
  return {
    bitmap: rows * bitmapRowBytes(dim),
    csr: rows * DTYPE_BYTES[csrCountDtype(dim)] + kept * DTYPE_BYTES[csrColumnDtype(dim)],
  };
}

/** The smaller encoding of the positions; the bitmap on a tie (it decodes in one pass). */
export function smallerPositionLayout(rows: number, dim: number, kept: number): PositionLayout {
  const bytes = positionBytes(rows, dim, kept);
  return bytes.csr < bytes.bitmap ? 'csr' : 'bitmap';
}

/** The kept elements' indices in ascending order. */
export function keptIndices(mask: Uint8Array): Int32Array {
  let kept = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) kept++;
  const out = new Int32Array(kept);
  let j = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[j++] = i;
  return out;
}

/** The values at some indices. */
export function gather(values: Float32Array, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = values[indices[j] as number] as number;
  return out;
}

function checkMask(mask: Uint8Array, rows: number, dim: number): void {
  if (mask.length !== rows * dim) {
    throw new Error(`a mask of ${mask.length} elements is not [${rows}, ${dim}]`);
  }
}

export function encodeBitmap(mask: Uint8Array, rows: number, dim: number): Uint8Array {
  checkMask(mask, rows, dim);
  const width = bitmapRowBytes(dim);
  const bits = new Uint8Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < dim; k++) {
      const at = r * width + (k >> 3);
      if (mask[r * dim + k]) bits[at] = (bits[at] as number) | (1 << (k & 7));
    }
  }
  return bits;
}

/**
 * The kept indices a bitmap [rows, ⌈dim/8⌉] marks, which must be `kept` of them (the values
 * stored): the bits are counted before the indices are allocated. A bit past `dim` in a
 * row's last byte is a problem, not ignored: two readers could disagree on it.
 */
export function decodeBitmap(
  bits: Uint8Array,
  rows: number,
  dim: number,
  kept: number,
  fail: Fail,
): Int32Array {
  const width = bitmapRowBytes(dim);
  if (bits.length !== rows * width)
    fail(`the bitmap has ${bits.length} bytes, ${rows * width} needed`);
  const spare = dim % 8 === 0 ? 0 : 0xff & ~((1 << (dim % 8)) - 1);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (spare && (bits[r * width + width - 1] as number) & spare) {
      fail(`row ${r} of the bitmap marks columns past dim ${dim}`);
    }
    for (let b = 0; b < width; b++) count += popcount(bits[r * width + b] as number);
  }
  if (count !== kept) fail(`the bitmap marks ${count} elements, ${kept} values are stored`);
  const out = new Int32Array(kept);
  let j = 0;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < width; b++) {
      let byte = bits[r * width + b] as number;
      while (byte) {
        const low = byte & -byte;
        out[j++] = r * dim + b * 8 + (31 - Math.clz32(low));
        byte ^= low;
      }
    }
  }
  return out;
}

function popcount(byte: number): number {
  let n = 0;
  for (let b = byte; b; b &= b - 1) n++;
  return n;
}

export interface CsrPositions {
  /** [rows]: kept elements per row. */
  counts: Uint8Array | Int32Array;
  /** [kept]: each kept element's column, ascending within its row. */
  columns: Uint8Array | Int32Array;
}

export function encodeCsr(mask: Uint8Array, rows: number, dim: number): CsrPositions {
  checkMask(mask, rows, dim);
  const counts = csrCountDtype(dim) === 'uint8' ? new Uint8Array(rows) : new Int32Array(rows);
  const indices = keptIndices(mask);
  const columns =
    csrColumnDtype(dim) === 'uint8'
      ? new Uint8Array(indices.length)
      : new Int32Array(indices.length);
  indices.forEach((index, j) => {
    const row = Math.floor(index / dim);
    counts[row] = (counts[row] as number) + 1;
    columns[j] = index % dim;
  });
  return { counts, columns };
}

/**
 * The kept indices of CSR positions: `rows` counts each at most `dim`, adding up to the
 * columns stored, each column below `dim` and ascending within its row.
 */
export function decodeCsr(
  positions: CsrPositions,
  rows: number,
  dim: number,
  fail: Fail,
): Int32Array {
  const { counts, columns } = positions;
  if (counts.length !== rows) fail(`${counts.length} row counts for ${rows} rows`);
  const out = new Int32Array(columns.length);
  let j = 0;
  for (let r = 0; r < rows; r++) {
    const count = counts[r] as number;
    if (count > dim) fail(`row ${r} keeps ${count} elements, more than dim ${dim}`);
    if (j + count > columns.length) {
      fail(`the row counts pass the ${columns.length} columns stored at row ${r}`);
    }
    let previous = -1;
    for (let c = 0; c < count; c++, j++) {
      const column = columns[j] as number;
      if (!(column > previous && column < dim)) {
        fail(`row ${r}: column ${column} is not ascending within 0..${dim - 1}`);
      }
      previous = column;
      out[j] = r * dim + column;
    }
  }
  if (j !== columns.length)
    fail(`the row counts add up to ${j}, ${columns.length} columns are stored`);
  return out;
}

/** Ascending, distinct, non-negative indices as LEB128 varints of their gaps (the first from -1). */
export function encodeIndexDeltas(indices: Int32Array): Uint8Array {
  const bytes: number[] = [];
  let previous = -1;
  for (const index of indices) {
    if (!(index > previous)) throw new Error(`indices must ascend: ${index} after ${previous}`);
    let gap = index - previous - 1;
    previous = index;
    while (gap >= 0x80) {
      bytes.push((gap & 0x7f) | 0x80);
      gap >>>= 7;
    }
    bytes.push(gap);
  }
  return Uint8Array.from(bytes);
}

/**
 * `count` indices from their varint gaps, each below `limit` (the table's elements): every
 * byte must be used, and a varint may not be longer than five bytes.
 */
export function decodeIndexDeltas(
  bytes: Uint8Array,
  count: number,
  limit: number,
  fail: Fail,
): Int32Array {
  // Every index takes at least a byte: a count past the bytes cannot be right.
  if (count > bytes.length) fail(`${bytes.length} index bytes cannot hold ${count} indices`);
  const out = new Int32Array(count);
  let at = 0;
  let previous = -1;
  for (let j = 0; j < count; j++) {
    let gap = 0;
    let scale = 1;
    for (let length = 0; ; length++) {
      if (at >= bytes.length) fail(`the index bytes end inside index ${j} of ${count}`);
      if (length === 5) fail(`index ${j} is encoded in more than five bytes`);
      const byte = bytes[at++] as number;
      gap += (byte & 0x7f) * scale;
      scale *= 0x80;
      if (!(byte & 0x80)) break;
    }
    const index = previous + 1 + gap;
    if (index >= limit) fail(`index ${j} is ${index}, past the table's ${limit} elements`);
    out[j] = index;
    previous = index;
  }
  if (at !== bytes.length) fail(`${bytes.length - at} index bytes are left after ${count} indices`);
  return out;
}

/**
 * The progressive layout's chunks: the first `kept` elements of a ranking, cut at every
 * multiple of `chunkElements` and at every count in `breaks`, each chunk's indices in
 * ascending order so that they delta-code. Chunks 0..c-1 together are exactly the top
 * (their sizes' sum) elements, so a break at a budget's kept count makes the prefix that
 * ends there the very model pruned directly to that budget.
 */
export function progressiveChunks(
  order: Int32Array,
  kept: number,
  chunkElements: number,
  breaks: readonly number[] = [],
): Int32Array[] {
  if (!(Number.isInteger(chunkElements) && chunkElements >= 1)) {
    throw new RangeError(`a chunk holds at least one element, got ${chunkElements}`);
  }
  if (!(Number.isInteger(kept) && kept >= 0 && kept <= order.length)) {
    throw new RangeError(`cannot keep ${kept} of ${order.length} elements`);
  }
  const ends = new Set<number>(breaks.filter((b) => Number.isInteger(b) && b > 0 && b < kept));
  for (let end = chunkElements; end < kept; end += chunkElements) ends.add(end);
  if (kept > 0) ends.add(kept);
  const chunks: Int32Array[] = [];
  let start = 0;
  for (const end of [...ends].sort((a, b) => a - b)) {
    chunks.push(order.slice(start, end).sort());
    start = end;
  }
  return chunks;
}
