/**
 * A tensor-train table's shape: its row and column factors, rank and semi-tensor-product
 * factor, with the checks and counts that follow from it. Plain numbers, no tfjs, so the
 * package checks load none; src/model/tt-matrix.ts, the tables' math, re-exports it all.
 */
import { PocketrecError } from '../errors.ts';

export interface TtShape {
  /** Row factors I_1..I_n (n = 2 or 3): N_pad = their product, i1 the slowest digit. */
  rows: number[];
  /** Column factors J_1..J_n: d = their product, j1 the slowest. */
  cols: number[];
  /** r_k for 0 < k < n (r_0 = r_n = 1). */
  rank: number;
  /** The STP factor t; 1 is plain TT. */
  stp: number;
}

/** Row ids are int32 tensors, so the padded table must be indexable by one. */
const MAX_ROWS = 2 ** 31 - 1;

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

export function badShape(message: string): PocketrecError {
  return new PocketrecError('bad-tt-shape', message);
}

/** Core k (0-based) as stored, [I_k, p, q], with t the identity factor it is expanded by. */
export interface CoreDims {
  I: number;
  J: number;
  rIn: number;
  rOut: number;
  t: number;
  /** rIn / t */
  p: number;
  /** J rOut / t */
  q: number;
}

/** Checks `shape` and returns each core's dimensions. */
export function coreDims(shape: TtShape): CoreDims[] {
  const { rows, cols, rank, stp } = shape;
  const n = rows.length;
  if (n !== 2 && n !== 3) throw badShape(`a TT matrix has 2 or 3 cores, not ${n}`);
  if (cols.length !== n) {
    throw badShape(`${n} row factors but ${cols.length} column factors`);
  }
  for (const f of [...rows, ...cols]) {
    if (!Number.isSafeInteger(f) || f < 1) {
      throw badShape(`factors must be positive integers: ${rows.join('x')}:${cols.join('x')}`);
    }
  }
  if (!Number.isSafeInteger(rank) || rank < 1) {
    throw badShape(`rank must be a positive integer, not ${rank}`);
  }
  if (!Number.isSafeInteger(stp) || stp < 1) {
    throw badShape(`the STP factor must be a positive integer, not ${stp}`);
  }
  if (product(rows) > MAX_ROWS) {
    throw badShape(`${rows.join('x')} rows do not fit int32 ids`);
  }
  return rows.map((I, k) => {
    const J = cols[k] as number;
    const rIn = k === 0 ? 1 : rank;
    const rOut = k === n - 1 ? 1 : rank;
    const t = k === 0 ? 1 : stp;
    if (rIn % t !== 0 || (J * rOut) % t !== 0) {
      throw badShape(
        `STP factor ${t} must divide core ${k + 1}'s rank ${rIn} and J*rank ${J}*${rOut}`,
      );
    }
    return { I, J, rIn, rOut, t, p: rIn / t, q: (J * rOut) / t };
  });
}

/**
 * Why `rows` pads a table of `numRows` rows too much, or null. The padded rows P = ∏ I_k
 * must cover the table with fewer than P / max I_k to spare: no factor could be one
 * smaller and still cover it. That keeps P under numRows · max/(max − 1) (at most twice
 * the table, and within one slice of the largest factor for any real one), so a package
 * cannot make a reader compute and hold 8192 x 8192 rows for a few thousand items.
 * autoTtShape's shapes always pass.
 */
export function ttPaddingProblem(rows: readonly number[], numRows: number): string | null {
  const padded = product(rows);
  if (padded < numRows) {
    return `tensor-train rows ${rows.join('x')} = ${padded} cannot hold ${numRows} table rows`;
  }
  const spare = padded - numRows;
  const slice = padded / Math.max(...rows);
  if (spare >= slice) {
    return `tensor-train rows ${rows.join('x')} = ${padded} pad ${numRows} table rows with ${spare} more (at most ${Math.ceil(slice) - 1}: no factor may be one larger than the table needs)`;
  }
  return null;
}

/** 'I1xI2[xI3]:J1xJ2[xJ3]', e.g. '40x50x50:4x4x4'. */
export function parseTtShape(text: string, rank: number, stp: number): TtShape {
  const match = /^\s*(\d+(?:x\d+){1,2})\s*:\s*(\d+(?:x\d+){1,2})\s*$/i.exec(text);
  if (match === null) {
    throw badShape(`'${text}' is not a TT shape like 40x50x50:4x4x4 (rows:columns)`);
  }
  const factors = (s: string) => s.toLowerCase().split('x').map(Number);
  const shape = { rows: factors(match[1] as string), cols: factors(match[2] as string), rank, stp };
  coreDims(shape);
  return shape;
}

/** ⌈x^(1/n)⌉ for integers, without trusting floating-point roots. */
function ceilRoot(x: number, n: number): number {
  let m = Math.max(1, Math.round(x ** (1 / n)));
  while (m ** n < x) m++;
  while (m > 1 && (m - 1) ** n >= x) m--;
  return m;
}

/**
 * A shape for a [numRows, dim] table. Rows: the smallest largest factor that can cover
 * numRows (⌈numRows^(1/n)⌉, which keeps the cores balanced), then the least padding, then
 * the most even split; padding is under about 1/⌈numRows^(1/n)⌉ of the table. Columns: an
 * exact factorisation of dim, as even as possible. Rows go largest first and columns
 * smallest first: a small J_1 with a large I_1 keeps ttScoreAll's biggest intermediate
 * (Q·J_1·N_pad/I_1·r) small, and STP needs t to divide the last column factor.
 * The rank and STP factor are left to the caller (1 here); check them with ttCoreShapes.
 */
export function autoTtShape(numRows: number, dim: number, cores: 2 | 3): TtShape {
  if (cores !== 2 && cores !== 3) throw badShape(`a TT matrix has 2 or 3 cores, not ${cores}`);
  if (!Number.isSafeInteger(numRows) || numRows < 1 || numRows > MAX_ROWS) {
    throw badShape(`cannot factor ${numRows} rows`);
  }
  if (!Number.isSafeInteger(dim) || dim < 1) throw badShape(`cannot factor dimension ${dim}`);

  const m = ceilRoot(numRows, cores);
  let rows: number[] = [];
  let best = { padded: Number.POSITIVE_INFINITY, sum: Number.POSITIVE_INFINITY };
  // The first n-1 factors run up to m in non-decreasing order; the last covers the rest.
  const searchRows = (prefix: number[], from: number): void => {
    if (prefix.length === cores - 1) {
      const last = Math.ceil(numRows / product(prefix));
      if (last > m) return;
      const candidate = [...prefix, last];
      const padded = product(candidate);
      const sum = candidate.reduce((a, b) => a + b, 0);
      if (padded < best.padded || (padded === best.padded && sum < best.sum)) {
        best = { padded, sum };
        rows = candidate;
      }
      return;
    }
    for (let f = from; f <= m; f++) searchRows([...prefix, f], f);
  };
  searchRows([], 1);

  let cols: number[] = [];
  let bestCols = { max: Number.POSITIVE_INFINITY, sum: Number.POSITIVE_INFINITY };
  const searchCols = (prefix: number[], rest: number): void => {
    if (prefix.length === cores - 1) {
      const candidate = [...prefix, rest];
      const max = Math.max(...candidate);
      const sum = candidate.reduce((a, b) => a + b, 0);
      if (max < bestCols.max || (max === bestCols.max && sum < bestCols.sum)) {
        bestCols = { max, sum };
        cols = candidate;
      }
      return;
    }
    for (let f = 1; f <= rest; f++) if (rest % f === 0) searchCols([...prefix, f], rest / f);
  };
  searchCols([], dim);

  return {
    rows: rows.sort((a, b) => b - a),
    cols: cols.sort((a, b) => a - b),
    rank: 1,
    stp: 1,
  };
}

/** Each core's stored shape: [I_1, 1, J_1 r_1], then [I_k, r_{k-1}/t, J_k r_k/t]. */
export function ttCoreShapes(shape: TtShape): [number, number, number][] {
  return coreDims(shape).map(({ I, p, q }) => [I, p, q]);
}

export function ttParamCount(shape: TtShape): number {
  return ttCoreShapes(shape).reduce((sum, s) => sum + product(s), 0);
}
