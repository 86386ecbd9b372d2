/**
 * RecJPQ's item codes (Petrov & Macdonald, "RecJPQ: Training Large-Catalogue Sequential
 * Recommenders", WSDM 2024). A RecJPQ item table stores no row per item: item i's vector is
 * the concatenation of `splits` sub-embeddings, the j-th being row codes[i][j] of codebook j.
 * The codes are fixed once, before training, and only the codebooks train; so the codes
 * decide which items share a sub-embedding, and items that share many stay close whatever
 * the training does. The paper draws them from a truncated SVD of the user-item matrix, so
 * that items the same users consumed share sub-embeddings: component j's item values are
 * min-max normalised, nudged apart by a tiny seeded Gaussian noise (1e-5, so that equal
 * values, e.g. every item no user saw, still split evenly) and cut into `centroids`
 * equal-frequency buckets; an item's bucket is its code in split j.
 *
 * The SVD is a block power (subspace) iteration on XᵀX, applied through the sparse rows of
 * X and never formed, then a Rayleigh-Ritz step that turns the subspace into singular
 * vectors; all in float64 plain JS, seeded, with a fixed number of iterations, so the same
 * sequences and seed give the same codes on every run, in every worker. It runs once,
 * before the first epoch: about 1.5 s for ML-1M at 8 splits, and 40 s for 100,000 items,
 * a million interactions and 64 splits, on one core of the development machine.
 */
import { seededRandom } from '../random.ts';

/** A RecJPQ table's shape: each row is `splits` sub-embeddings, each one of `centroids` rows. */
export interface JpqShape {
  splits: number;
  centroids: number;
}

/** The most centroids a split may have: a code is stored as one byte. */
export const MAX_JPQ_CENTROIDS = 256;

/** The codes of every row of a table (row 0, padding, included), fixed before training. */
export interface JpqCodes extends JpqShape {
  numRows: number;
  /** [numRows, splits] row-major: row i takes row codes[i·splits + j] of codebook j. */
  codes: Uint8Array;
}

/**
 * How the codes are drawn: power steps, on a block `oversample` vectors wider than the
 * components wanted (the extra ones let the wanted ones settle faster), and the paper's
 * noise. Ten steps leave each leading singular vector of a random sparse user-item matrix
 * over 99.9% inside the subspace found (test/unit/model/jpq-codes.test.ts).
 */
export const DEFAULT_JPQ_ASSIGNMENT = {
  iterations: 10,
  oversample: 8,
  noise: 1e-5,
};

/** Users' rows of the binary user-item matrix: each one's distinct items, ascending. */
export function binaryRows(sequences: readonly ArrayLike<number>[]): Int32Array[] {
  return sequences.map((sequence) => Int32Array.from(new Set(Array.from(sequence))).sort());
}

/** Gaussian draws from a seeded uniform stream (Box-Muller). */
function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * A block of `width` vectors over `rows` entries, row-major (entry i's values at
 * [i·width, (i + 1)·width)): the sparse products then read and write each item's values in
 * one run, where a vector per array would jump between `width` arrays for every item.
 */
interface Block {
  values: Float64Array;
  width: number;
}

/** BᵀC for blocks of the same rows: [B.width, C.width], row-major. */
function innerProducts(b: Block, c: Block): Float64Array {
  const bw = b.width;
  const cw = c.width;
  const bv = b.values;
  const cv = c.values;
  const out = new Float64Array(bw * cw);
  const rows = bv.length / bw;
  for (let i = 0; i < rows; i++) {
    const bi = i * bw;
    const ci = i * cw;
    for (let p = 0; p < bw; p++) {
      const x = bv[bi + p] as number;
      const o = p * cw;
      for (let q = 0; q < cw; q++) out[o + q] = (out[o + q] as number) + x * (cv[ci + q] as number);
    }
  }
  return out;
}

/** BᵀB: [B.width, B.width], each product once (the upper triangle, then mirrored). */
function gramOf(b: Block): Float64Array {
  const w = b.width;
  const v = b.values;
  const out = new Float64Array(w * w);
  const rows = v.length / w;
  for (let i = 0; i < rows; i++) {
    const bi = i * w;
    for (let p = 0; p < w; p++) {
      const x = v[bi + p] as number;
      const o = p * w;
      for (let q = p; q < w; q++) out[o + q] = (out[o + q] as number) + x * (v[bi + q] as number);
    }
  }
  for (let p = 0; p < w; p++) for (let q = 0; q < p; q++) out[p * w + q] = out[q * w + p] as number;
  return out;
}

/** B·M for M [B.width, columns] row-major: a block of `columns` vectors. */
function times(b: Block, m: Float64Array, columns: number): Block {
  const bw = b.width;
  const bv = b.values;
  const rows = bv.length / bw;
  const out = new Float64Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    const bi = i * bw;
    const oi = i * columns;
    for (let p = 0; p < bw; p++) {
      const x = bv[bi + p] as number;
      const mp = p * columns;
      for (let k = 0; k < columns; k++)
        out[oi + k] = (out[oi + k] as number) + x * (m[mp + k] as number);
    }
  }
  return { values: out, width: columns };
}

/**
 * One pass of making the block's vectors orthonormal, spanning what they spanned: from the
 * eigenvectors of their Gram matrix, scaled to unit diagonal first (SVQB, Stathopoulos & Wu
 * 2002). It leaves them orthonormal to about ε·cond², enough between power steps. A
 * direction with nothing left of its own (the matrix's rank below the block's width) is
 * drawn afresh, so the block keeps its width.
 */
function orthonormalPass(block: Block, gram: Float64Array, draw: () => number): Block {
  const { width } = block;
  const scale = Float64Array.from({ length: width }, (_, p) => {
    const d = gram[p * width + p] as number;
    return d > 0 ? 1 / Math.sqrt(d) : 0;
  });
  const scaled = gram.map(
    (g, i) => g * (scale[Math.floor(i / width)] as number) * (scale[i % width] as number),
  );
  const { values, vectors } = symmetricEigen(scaled, width);
  const largest = Math.max(values[0] as number, 0);
  const m = new Float64Array(width * width);
  const lost: number[] = [];
  for (let k = 0; k < width; k++) {
    const value = values[k] as number;
    if (!(value > 1e-13 * largest)) {
      lost.push(k);
      continue;
    }
    const u = vectors[k] as Float64Array;
    for (let p = 0; p < width; p++) {
      m[p * width + k] = ((scale[p] as number) * (u[p] as number)) / Math.sqrt(value);
    }
  }
  const out = times(block, m, width);
  for (const k of lost) {
    for (let i = k; i < out.values.length; i += width) out.values[i] = draw();
  }
  return out;
}

/** The block made orthonormal to rounding: passes until one finds it so (see orthonormalPass). */
function orthonormalise(block: Block, draw: () => number): Block {
  const { width } = block;
  let current = block;
  for (let pass = 0; pass < 10; pass++) {
    const gram = gramOf(current);
    if (gram.every((g, i) => Math.abs(g - (i % (width + 1) === 0 ? 1 : 0)) <= 1e-12)) {
      return current;
    }
    current = orthonormalPass(current, gram, draw);
  }
  throw new Error(`cannot orthonormalise a block of ${width} vectors`);
}

/** XᵀX·B, X the binary matrix of `rows`: through the sparse rows, X never formed. */
function gramTimes(rows: readonly Int32Array[], block: Block): Block {
  const { values, width } = block;
  const out = new Float64Array(values.length);
  const y = new Float64Array(width);
  for (const row of rows) {
    y.fill(0);
    for (let k = 0; k < row.length; k++) {
      const o = (row[k] as number) * width;
      for (let c = 0; c < width; c++) y[c] = (y[c] as number) + (values[o + c] as number);
    }
    for (let k = 0; k < row.length; k++) {
      const o = (row[k] as number) * width;
      for (let c = 0; c < width; c++) out[o + c] = (out[o + c] as number) + (y[c] as number);
    }
  }
  return { values: out, width };
}

/**
 * Eigenvalues and eigenvectors of a symmetric n×n matrix (row-major) by cyclic Jacobi
 * rotations, largest eigenvalue first; vectors[k] is the k-th eigenvector. For the small
 * matrices of the Rayleigh-Ritz step (n at most a few dozen).
 */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array[] } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const at = (i: number, j: number) => a[i * n + j] as number;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      scale += at(i, i) ** 2;
      for (let j = i + 1; j < n; j++) off += at(i, j) ** 2;
    }
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = at(p, q);
        if (apq === 0) continue;
        const theta = (at(q, q) - at(p, p)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = at(k, p);
          const akq = at(k, q);
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = at(p, k);
          const aqk = at(q, k);
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => at(y, y) - at(x, x) || x - y);
  return {
    values: Float64Array.from(order, (i) => at(i, i)),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i] as number)),
  };
}

export interface TruncatedSvd {
  /** Right singular vectors, one per component (numCols values), largest singular value first. */
  components: Float64Array[];
  singularValues: Float64Array;
}

/**
 * The leading `rank` right singular vectors of the binary matrix of `rows` (numCols columns),
 * by subspace iteration on XᵀX and a Rayleigh-Ritz step. Components beyond what X has
 * (rank > numCols) are zero vectors. Each vector's sign is fixed so that its entry of largest
 * magnitude is positive: the result does not depend on the arbitrary sign an SVD may take.
 */
export function truncatedSvd(
  rows: readonly Int32Array[],
  numCols: number,
  rank: number,
  options: { seed: number; iterations: number; oversample: number },
): TruncatedSvd {
  const width = Math.min(rank + options.oversample, numCols);
  const draw = gaussian(seededRandom(options.seed));
  let block: Block = { values: Float64Array.from({ length: numCols * width }, draw), width };
  for (let it = 0; it < options.iterations; it++) {
    // Between power steps one pass keeps the vectors apart; Rayleigh-Ritz needs them exact.
    block = gramTimes(rows, orthonormalPass(block, gramOf(block), draw));
  }
  block = orthonormalise(block, draw);
  // Rayleigh-Ritz: the eigenproblem of VᵀXᵀXV gives the singular vectors inside the block.
  const small = innerProducts(block, gramTimes(rows, block));
  // Symmetric up to rounding; averaged so that Jacobi sees an exactly symmetric matrix.
  for (let i = 0; i < width; i++) {
    for (let j = i + 1; j < width; j++) {
      const m = ((small[i * width + j] as number) + (small[j * width + i] as number)) / 2;
      small[i * width + j] = m;
      small[j * width + i] = m;
    }
  }
  const { values, vectors } = symmetricEigen(small, width);
  const found = Math.min(rank, width);
  const rotation = new Float64Array(width * found);
  for (let k = 0; k < found; k++) {
    const u = vectors[k] as Float64Array;
    for (let c = 0; c < width; c++) rotation[c * found + k] = u[c] as number;
  }
  const rotated = times(block, rotation, found);
  const components: Float64Array[] = [];
  const singularValues = new Float64Array(rank);
  for (let k = 0; k < rank; k++) {
    const out = new Float64Array(numCols);
    if (k < found) {
      for (let i = 0; i < numCols; i++) out[i] = rotated.values[i * found + k] as number;
      let largest = 0;
      for (let i = 0; i < numCols; i++) {
        if (Math.abs(out[i] as number) > Math.abs(out[largest] as number)) largest = i;
      }
      if ((out[largest] as number) < 0) {
        for (let i = 0; i < numCols; i++) out[i] = -(out[i] as number);
      }
      singularValues[k] = Math.sqrt(Math.max(0, values[k] as number));
    }
    components.push(out);
  }
  return { components, singularValues };
}

/**
 * Equal-frequency buckets 0..buckets-1 of `values`: the value of rank r (ascending, ties to
 * the lower index) goes to bucket ⌊r·buckets/n⌋, so bucket sizes differ by one at most.
 */
export function quantileBuckets(values: ArrayLike<number>, buckets: number): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n);
  const sorted = Float64Array.from(values).sort();
  let distinct = true;
  for (let r = 1; r < n && distinct; r++)
    distinct = (sorted[r] as number) > (sorted[r - 1] as number);
  if (distinct) {
    // Bucket b starts at rank ⌈b·n/buckets⌉: a value's bucket is the last start it reaches.
    const starts = Float64Array.from(
      { length: buckets },
      (_, b) => sorted[Math.ceil((b * n) / buckets)] ?? Infinity,
    );
    for (let i = 0; i < n; i++) {
      const x = values[i] as number;
      let lo = 0;
      let hi = buckets - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((starts[mid] as number) <= x) lo = mid;
        else hi = mid - 1;
      }
      out[i] = lo;
    }
    return out;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number) || a - b,
  );
  order.forEach((index, r) => {
    out[index] = Math.floor((r * buckets) / n);
  });
  return out;
}

/**
 * The codes of a table of numItems + 1 rows (row 0 pads) from the training sequences
 * (item ids 1..numItems), as the paper assigns them (see the header).
 */
export function assignJpqCodes(
  sequences: readonly ArrayLike<number>[],
  numItems: number,
  shape: JpqShape,
  assignment: Partial<typeof DEFAULT_JPQ_ASSIGNMENT> & { seed: number },
): JpqCodes {
  const { splits, centroids } = shape;
  if (!Number.isInteger(centroids) || centroids < 1 || centroids > MAX_JPQ_CENTROIDS) {
    throw new RangeError(
      `centroids must be an integer in 1..${MAX_JPQ_CENTROIDS}, not ${centroids}`,
    );
  }
  if (!Number.isInteger(splits) || splits < 1) {
    throw new RangeError(`splits must be a positive integer, not ${splits}`);
  }
  const { iterations, oversample, noise, seed } = { ...DEFAULT_JPQ_ASSIGNMENT, ...assignment };
  const numRows = numItems + 1;
  const rows = binaryRows(sequences);
  for (const row of rows) {
    if (row.length > 0 && ((row[0] as number) < 1 || (row[row.length - 1] as number) > numItems)) {
      throw new RangeError(`a training sequence holds an item outside 1..${numItems}`);
    }
  }
  const { components } = truncatedSvd(rows, numRows, splits, { seed, iterations, oversample });
  const draw = gaussian(seededRandom(seed + 1));
  const codes = new Uint8Array(numRows * splits);
  components.forEach((component, j) => {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const x of component) {
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    const range = max - min;
    const values = Float64Array.from(
      component,
      (x) => (range > 0 ? (x - min) / range : 0) + noise * draw(),
    );
    const buckets = quantileBuckets(values, centroids);
    for (let i = 0; i < numRows; i++) codes[i * splits + j] = buckets[i] as number;
  });
  return { splits, centroids, numRows, codes };
}
