/**
 * Single-shot pruning of a CTR field embedding table (Shaver, Tran et al. WWW 2025): rank
 * every element (row, dimension) of the table by a score, keep the highest fraction across
 * the whole table and fill the rest, with the field's codebook vector (Shaver) or with zero
 * (Shaver-zero and the baselines).
 *
 * Budgets share one ranking: `ranking(scores)` orders the elements once, and the mask for
 * any budget is a prefix of that order (maskFromRanking), so re-pruning to a new sparsity is
 * one pass over the table. The same order is what the progressive package stores
 * (src/model/ctr/pruned-package.ts): its first c chunks are the prefix of c × chunk elements.
 *
 * Pure typed-array code with no Node or tfjs import, so the browser runtime may use it.
 */
import type { FieldLayout } from '../../model/ctr/field-embedding.ts';
import { shuffledRange } from '../../random.ts';
import type { ShapleyEstimate } from './values.ts';

export const PRUNE_METHODS = ['shaver', 'shaver-zero', 'magnitude', 'random'] as const;
export type PruneMethod = (typeof PRUNE_METHODS)[number];

/** What a pruned element becomes: its field's codebook vector ([numFields, dim]) or zero. */
export type PruneFill = Float32Array | 'zero';

export function isPruneMethod(value: string): value is PruneMethod {
  return (PRUNE_METHODS as readonly string[]).includes(value);
}

/**
 * How many of `total` elements a sparsity keeps: the pruned count is rounded, so that
 * sparsity 0.99 of 86,112 elements prunes 85,251 and keeps 861 whichever way it is asked.
 */
export function keptCount(total: number, sparsity: number): number {
  if (!(sparsity >= 0 && sparsity <= 1)) {
    throw new RangeError(`sparsity must be in [0, 1], got ${sparsity}`);
  }
  return total - Math.round(sparsity * total);
}

const RADIX_BITS = 11;
const RADIX = 1 << RADIX_BITS;

/**
 * Every element's index, highest score first; equal scores in ascending index order, NaN
 * last, and -0 equal to 0. A stable LSD radix sort on order-preserving 32-bit keys: O(n),
 * about a millisecond for a frappe-sized table, where a comparison sort takes tens.
 */
export function ranking(scores: Float32Array): Int32Array {
  const n = scores.length;
  let keys = new Uint32Array(n);
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    let key: number;
    if (Number.isNaN(s)) key = 0;
    else if (s === 0) key = 0x80000000;
    else {
      const b = bits[i] as number;
      // Negative floats order in reverse of their bits; flipping them makes unsigned order numeric.
      key = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    }
    // Descending: sort the complement ascending; stability keeps ties in index order.
    keys[i] = ~key >>> 0;
  }
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let nextKeys = new Uint32Array(n);
  let nextOrder = new Int32Array(n);
  const counts = new Uint32Array(RADIX);
  for (let shift = 0; shift < 32; shift += RADIX_BITS) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const bucket = ((keys[i] as number) >>> shift) & (RADIX - 1);
      counts[bucket] = (counts[bucket] as number) + 1;
    }
    let sum = 0;
    for (let b = 0; b < RADIX; b++) {
      const c = counts[b] as number;
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const key = keys[i] as number;
      const bucket = (key >>> shift) & (RADIX - 1);
      const at = counts[bucket] as number;
      counts[bucket] = at + 1;
      nextKeys[at] = key;
      nextOrder[at] = order[i] as number;
    }
    [keys, nextKeys] = [nextKeys, keys];
    [order, nextOrder] = [nextOrder, order];
  }
  return order;
}

/** The mask (1 kept, 0 pruned) keeping the first `kept` elements of a ranking. */
export function maskFromRanking(order: Int32Array, kept: number): Uint8Array {
  if (!(Number.isInteger(kept) && kept >= 0 && kept <= order.length)) {
    throw new RangeError(`cannot keep ${kept} of ${order.length} elements`);
  }
  const mask = new Uint8Array(order.length);
  for (let i = 0; i < kept; i++) mask[order[i] as number] = 1;
  return mask;
}

/**
 * Keeps the top (1 − sparsity) fraction of elements by score (keptCount), ties broken by
 * ascending index. Pruning one table to several budgets should rank once and call
 * maskFromRanking per budget instead.
 */
export function pruneMask(scores: Float32Array, sparsity: number): Uint8Array {
  return maskFromRanking(ranking(scores), keptCount(scores.length, sparsity));
}

/** What a method ranks by and what it needs. */
export interface MethodInputs {
  /** The dense embedding table, row-major [totalRows, dim]. */
  table: Float32Array;
  /** Shaver's estimate (shaver, shaver-zero): only its values are read. */
  estimate?: Pick<ShapleyEstimate, 'values'>;
  /** random: the permutation's seed. */
  seed?: number;
}

/**
 * Each element's score for a method: the size of Shaver's value |phi| (shaver and
 * shaver-zero rank alike and differ only in the fill), |w| for magnitude, and for random a
 * seeded permutation's position, distinct for every element up to 2^24 elements.
 *
 * Shaver ranks by |phi|, as the authors' code does (scripts/evaluate_codebook.py of
 * chenxing1999/shaver), not by the signed value: an element whose presence raises the loss
 * over random coalitions still carries much of the full model's function. On frappe's DeepFM
 * the signed ranking loses 0.006 AUC more at 50% sparsity with the codebook fill and 0.11 more
 * with the zero fill (docs/training.md, "Ranking by the size of the value").
 */
export function methodScores(method: PruneMethod, inputs: MethodInputs): Float32Array {
  const n = inputs.table.length;
  switch (method) {
    case 'shaver':
    case 'shaver-zero': {
      const values = inputs.estimate?.values;
      if (!values) throw new Error(`${method} ranks by Shapley values: pass an estimate`);
      if (values.length !== n) {
        throw new Error(`the estimate has ${values.length} values for a table of ${n} elements`);
      }
      return values.map(Math.abs);
    }
    case 'magnitude':
      return inputs.table.map(Math.abs);
    case 'random':
      return Float32Array.from(shuffledRange(n, inputs.seed ?? 0));
  }
}

/** The fill a method prunes with: Shaver's codebook, zero for the rest. */
export function methodFill(
  method: PruneMethod,
  estimate?: Pick<ShapleyEstimate, 'codebook'>,
): PruneFill {
  if (method !== 'shaver') return 'zero';
  if (!estimate) throw new Error('shaver fills with the codebook: pass an estimate');
  return estimate.codebook;
}

/**
 * The table with every pruned element filled: element (r, k) of field f's rows takes
 * codebook[f][k], or 0. A new array; the table is not changed.
 */
export function prunedTable(
  table: Float32Array,
  mask: Uint8Array,
  fill: PruneFill,
  layout: FieldLayout,
): Float32Array {
  const dim = table.length / layout.totalRows;
  if (!(Number.isInteger(dim) && dim >= 1)) {
    throw new Error(`a table of ${table.length} elements does not have ${layout.totalRows} rows`);
  }
  if (mask.length !== table.length) {
    throw new Error(`the mask has ${mask.length} elements, the table ${table.length}`);
  }
  if (fill !== 'zero' && fill.length !== layout.numFields * dim) {
    throw new Error(`the codebook has ${fill.length} values, [${layout.numFields}, ${dim}] needed`);
  }
  const out = table.slice();
  for (let f = 0; f < layout.numFields; f++) {
    const first = (layout.offsets[f] as number) * dim;
    const end = (layout.offsets[f + 1] ?? layout.totalRows) * dim;
    for (let i = first; i < end; i++) {
      if (mask[i]) continue;
      out[i] = fill === 'zero' ? 0 : (fill[f * dim + ((i - first) % dim)] as number);
    }
  }
  return out;
}
