import { describe, expect, it } from 'vitest';
import {
  keptCount,
  maskFromRanking,
  methodFill,
  methodScores,
  PRUNE_METHODS,
  type PruneMethod,
  prunedTable,
  pruneMask,
  ranking,
} from '../../../../src/compression/shaver/prune.ts';
import {
  decodeBitmap,
  decodeCsr,
  decodeIndexDeltas,
  encodeBitmap,
  encodeCsr,
  encodeIndexDeltas,
  type Fail,
  keptIndices,
  positionBytes,
  progressiveChunks,
  smallerPositionLayout,
} from '../../../../src/compression/shaver/sparse.ts';
import { fieldLayout } from '../../../../src/model/ctr/field-embedding.ts';
import type { CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { seededRandom } from '../../../../src/random.ts';
import { schema } from '../../model/ctr/fixtures.ts';

const BUDGETS = [0.5, 0.8, 0.95, 0.99];
/** The fixture schema's 16 rows (user 5, genres 6, age 5) at dim 16. */
const ROWS = 16;
const DIM = 16;

const fail: Fail = (problem) => {
  throw new Error(problem);
};

function randomValues(n: number, seed: number, levels = 0): Float32Array {
  const random = seededRandom(seed);
  // With levels > 0 the values take few distinct numbers, so ties are common.
  return Float32Array.from({ length: n }, () => {
    const v = random() * 2 - 1;
    return levels > 0 ? Math.round(v * levels) / levels : v;
  });
}

/** Indices by descending score, ties by ascending index, NaN last: the reference order. */
function referenceOrder(scores: Float32Array): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]) ? -Infinity : (scores[i] as number));
  return Array.from(scores, (_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
}

/** The parts of a ShapleyEstimate pruning reads: values (with ties) and the codebook. */
function estimateFor(n: number, numFields: number, seed: number) {
  return { values: randomValues(n, seed, 20), codebook: randomValues(numFields * DIM, seed + 1) };
}

describe('ranking and masks', () => {
  it('orders by descending score, ties by index, -0 equal to 0, NaN last', () => {
    const scores = Float32Array.from([0.5, 2, 2, Number.NaN, -1, -0, 0, 3]);
    expect(Array.from(ranking(scores))).toEqual([7, 1, 2, 0, 5, 6, 4, 3]);
  });

  it('agrees with a comparison sort on 5,000 scores full of ties', () => {
    for (const levels of [0, 3, 50]) {
      const scores = randomValues(5000, 7 + levels, levels);
      scores[17] = Number.NaN;
      scores[4000] = Number.POSITIVE_INFINITY;
      scores[12] = Number.NEGATIVE_INFINITY;
      expect(Array.from(ranking(scores))).toEqual(referenceOrder(scores));
    }
  });

  it('keeps the rounded complement of the sparsity', () => {
    expect(BUDGETS.map((s) => keptCount(86_112, s))).toEqual([43_056, 17_222, 4306, 861]);
    expect(BUDGETS.map((s) => keptCount(256, s))).toEqual([128, 51, 13, 3]);
    expect(keptCount(10, 0)).toBe(10);
    expect(keptCount(10, 1)).toBe(0);
    expect(() => keptCount(10, 1.5)).toThrow(RangeError);
    expect(() => maskFromRanking(new Int32Array(3), 4)).toThrow(RangeError);
  });

  const table = randomValues(ROWS * DIM, 3);
  const estimate = estimateFor(ROWS * DIM, 3, 5);
  const cases: [PruneMethod, number][] = PRUNE_METHODS.flatMap((m) =>
    BUDGETS.map((s): [PruneMethod, number] => [m, s]),
  );

  it.each(cases)('%s at sparsity %s keeps the right count and the right elements', (method, s) => {
    const scores = methodScores(method, { table, estimate, seed: 11 });
    const mask = pruneMask(scores, s);
    const kept = keptCount(ROWS * DIM, s);
    expect(mask.reduce((n, m) => n + m, 0)).toBe(kept);
    const expected = new Set(referenceOrder(scores).slice(0, kept));
    expect(new Set(keptIndices(mask))).toEqual(expected);
    if (method === 'magnitude') {
      const keptAbs = table.filter((_, i) => mask[i]).map(Math.abs);
      const prunedAbs = table.filter((_, i) => !mask[i]).map(Math.abs);
      expect(Math.min(...keptAbs)).toBeGreaterThanOrEqual(Math.max(...prunedAbs));
    }
  });

  it('shaver ranks by the size of the value: a large negative value is kept before a small positive one', () => {
    const values = Float32Array.from([0.01, -0.5, 0.2, -0.001]);
    const scores = methodScores('shaver', { table: new Float32Array(4), estimate: { values } });
    expect(Array.from(pruneMask(scores, 0.5))).toEqual([0, 1, 1, 0]);
  });

  it('shaver and shaver-zero rank alike and differ in the fill; random is a seeded permutation', () => {
    const shaver = methodScores('shaver', { table, estimate });
    const zero = methodScores('shaver-zero', { table, estimate });
    expect(pruneMask(shaver, 0.8)).toEqual(pruneMask(zero, 0.8));
    expect(methodFill('shaver', estimate)).toBe(estimate.codebook);
    for (const m of ['shaver-zero', 'magnitude', 'random'] as const) {
      expect(methodFill(m, estimate)).toBe('zero');
    }
    const a = methodScores('random', { table, seed: 1 });
    expect(methodScores('random', { table, seed: 1 })).toEqual(a);
    expect(methodScores('random', { table, seed: 2 })).not.toEqual(a);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from(a, (_, i) => i));
    expect(() => methodScores('shaver', { table })).toThrow(/estimate/);
  });

  it('fills a pruned element with its field codebook vector, or zero', () => {
    const layout = fieldLayout(schema);
    const mask = pruneMask(estimate.values, 0.5);
    const filled = prunedTable(table, mask, estimate.codebook, layout);
    const zeroed = prunedTable(table, mask, 'zero', layout);
    const fieldOf = (row: number) => (row < 5 ? 0 : row < 11 ? 1 : 2);
    for (let i = 0; i < table.length; i++) {
      const row = Math.floor(i / DIM);
      const k = i % DIM;
      if (mask[i]) {
        expect(filled[i]).toBe(table[i]);
        expect(zeroed[i]).toBe(table[i]);
      } else {
        expect(filled[i]).toBe(estimate.codebook[fieldOf(row) * DIM + k]);
        expect(zeroed[i]).toBe(0);
      }
    }
    expect(() => prunedTable(table, mask, new Float32Array(5), layout)).toThrow(/codebook/);
  });
});

describe('re-pruning speed (one ranking, then each budget a prefix)', () => {
  const sizes: [string, number][] = [
    ['frappe (5,382 rows)', 5382],
    ['ml-1m-ctr (about 10,000 rows)', 10_000],
  ];
  it.each(sizes)('%s x 16: every budget in under 100 ms', (_, rows) => {
    const fields = 10;
    const per = Math.floor(rows / fields);
    const big: CtrSchema = {
      fields: Array.from({ length: fields }, (_, f) => ({
        name: `f${f}`,
        kind: 'categorical' as const,
        vocabularySize: f === fields - 1 ? rows - per * (fields - 1) : per,
      })),
    };
    const layout = fieldLayout(big);
    const table = randomValues(rows * DIM, 1);
    const scores = randomValues(rows * DIM, 2, 1000);
    const codebook = randomValues(fields * DIM, 3);
    let started = performance.now();
    const order = ranking(scores);
    const rankMs = performance.now() - started;
    expect(rankMs).toBeLessThan(100);
    for (const s of BUDGETS) {
      started = performance.now();
      const mask = maskFromRanking(order, keptCount(order.length, s));
      const pruned = prunedTable(table, mask, codebook, layout);
      const ms = performance.now() - started;
      expect(pruned.length).toBe(table.length);
      expect(ms).toBeLessThan(100);
    }
  });
});

describe('sparse positions', () => {
  const maskAt = (rows: number, dim: number, s: number, seed: number) =>
    pruneMask(randomValues(rows * dim, seed), s);

  it.each([4, 10, 16, 300])('bitmap and CSR round trip at dim %s', (dim) => {
    const rows = 7;
    for (const s of [0, ...BUDGETS, 1]) {
      const mask = maskAt(rows, dim, s, dim);
      const kept = keptIndices(mask);
      const bits = encodeBitmap(mask, rows, dim);
      expect(bits.length).toBe(rows * Math.ceil(dim / 8));
      expect(decodeBitmap(bits, rows, dim, kept.length, fail)).toEqual(kept);
      const csr = encodeCsr(mask, rows, dim);
      expect(csr.counts).toBeInstanceOf(dim < 256 ? Uint8Array : Int32Array);
      expect(decodeCsr(csr, rows, dim, fail)).toEqual(kept);
      const bytes = positionBytes(rows, dim, kept.length);
      expect(bytes.bitmap).toBe(bits.byteLength);
      expect(bytes.csr).toBe(csr.counts.byteLength + csr.columns.byteLength);
    }
  });

  it('picks the bitmap at 0.5 and 0.8 and CSR at 0.95 and 0.99 for frappe at dim 16', () => {
    const chosen = BUDGETS.map((s) => smallerPositionLayout(5382, 16, keptCount(5382 * 16, s)));
    expect(chosen).toEqual(['bitmap', 'bitmap', 'csr', 'csr']);
  });

  it('refuses positions that disagree with the values or the table', () => {
    const mask = maskAt(3, 10, 0.5, 1);
    const kept = keptIndices(mask).length;
    const bits = encodeBitmap(mask, 3, 10);
    expect(() => decodeBitmap(bits, 3, 10, kept + 1, fail)).toThrow(/marks 15 elements, 16/);
    const spare = bits.slice();
    spare[1] = (spare[1] as number) | 0x80;
    expect(() => decodeBitmap(spare, 3, 10, kept, fail)).toThrow(/past dim 10/);
    expect(() => decodeBitmap(bits.subarray(1), 3, 10, kept, fail)).toThrow(/bytes/);

    const csr = encodeCsr(mask, 3, 10);
    expect(() => decodeCsr({ ...csr, counts: Uint8Array.from([11, 0, 0]) }, 3, 10, fail)).toThrow(
      /more than dim/,
    );
    const columns = csr.columns.slice();
    columns[0] = 10;
    expect(() => decodeCsr({ ...csr, columns }, 3, 10, fail)).toThrow(/not ascending/);
    const swapped = csr.columns.slice();
    [swapped[0], swapped[1]] = [swapped[1] as number, swapped[0] as number];
    expect(() => decodeCsr({ ...csr, columns: swapped }, 3, 10, fail)).toThrow(/not ascending/);
    expect(() => decodeCsr({ ...csr, columns: csr.columns.subarray(0, -1) }, 3, 10, fail)).toThrow(
      /pass the/,
    );
    expect(() =>
      decodeCsr({ ...csr, columns: Uint8Array.from([...csr.columns, 9]) }, 3, 10, fail),
    ).toThrow(/add up to/);
  });

  it('delta-codes ascending indices in about a byte each, and checks every byte', () => {
    const indices = Int32Array.from([0, 1, 5, 200, 70_000, 2 ** 24 - 1]);
    const bytes = encodeIndexDeltas(indices);
    expect(bytes.length).toBe(1 + 1 + 1 + 2 + 3 + 4);
    expect(decodeIndexDeltas(bytes, indices.length, 2 ** 24, fail)).toEqual(indices);
    expect(() => decodeIndexDeltas(bytes, indices.length, 2 ** 24 - 1, fail)).toThrow(/past/);
    expect(() => decodeIndexDeltas(bytes, indices.length - 1, 2 ** 24, fail)).toThrow(/left/);
    expect(() => decodeIndexDeltas(bytes.subarray(0, 9), 6, 2 ** 24, fail)).toThrow(/end inside/);
    const long = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(() => decodeIndexDeltas(long, 1, 2 ** 40, fail)).toThrow(/five bytes/);
    expect(() => decodeIndexDeltas(new Uint8Array(2), 3, 10, fail)).toThrow(/cannot hold/);
    expect(() => encodeIndexDeltas(Int32Array.from([3, 3]))).toThrow(/ascend/);
    // A frappe-sized chunk: 4096 of 86,112 elements, gaps about 21.
    const order = ranking(randomValues(86_112, 4));
    const [chunk] = progressiveChunks(order, 4096, 4096);
    expect(encodeIndexDeltas(chunk as Int32Array).length).toBeLessThan(4096 * 1.1);
  });

  it('also cuts at each break, so a prefix ends exactly at each budget given', () => {
    const order = ranking(randomValues(500, 9, 10));
    const chunks = progressiveChunks(order, 230, 64, [5, 100, 64, 230, 400, 0]);
    expect(chunks.map((c) => c.length)).toEqual([5, 59, 36, 28, 64, 38]);
    const firstThree = chunks.slice(0, 3).flatMap((chunk) => Array.from(chunk));
    expect(firstThree.sort((a, b) => a - b)).toEqual(
      Array.from(keptIndices(maskFromRanking(order, 100))),
    );
  });

  it('cuts a ranking into chunks whose first c are the top c x chunk elements', () => {
    const order = ranking(randomValues(500, 9, 10));
    const chunks = progressiveChunks(order, 230, 64);
    expect(chunks.map((c) => c.length)).toEqual([64, 64, 64, 38]);
    for (let c = 0; c <= chunks.length; c++) {
      const union = chunks.slice(0, c).flatMap((chunk) => {
        expect(Array.from(chunk)).toEqual(Array.from(chunk).sort((a, b) => a - b));
        return Array.from(chunk);
      });
      const direct = keptIndices(maskFromRanking(order, Math.min(230, 64 * c)));
      expect(union.sort((a, b) => a - b)).toEqual(Array.from(direct));
    }
  });
});
