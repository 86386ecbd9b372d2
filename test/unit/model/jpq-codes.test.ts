// RecJPQ's code assignment (src/model/jpq-codes.ts): the truncated SVD against an exact
// eigendecomposition and a planted structure, and the codes' range, balance and seeding.
import { describe, expect, it } from 'vitest';
import {
  assignJpqCodes,
  binaryRows,
  DEFAULT_JPQ_ASSIGNMENT,
  quantileBuckets,
  symmetricEigen,
  truncatedSvd,
} from '../../../src/model/jpq-codes.ts';
import { seededRandom } from '../../../src/random.ts';

/** XᵀX of the binary matrix of `rows`, dense and row-major. */
function gram(rows: readonly Int32Array[], numCols: number): Float64Array {
  const g = new Float64Array(numCols * numCols);
  for (const row of rows) {
    for (const i of row)
      for (const j of row) g[i * numCols + j] = (g[i * numCols + j] as number) + 1;
  }
  return g;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
};

/** Sequences of `users` users over items 1..numItems, each item seen with probability p. */
function randomSequences(users: number, numItems: number, p: number, seed: number): Int32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: users }, () => {
    const items: number[] = [];
    for (let i = 1; i <= numItems; i++) if (random() < p) items.push(i);
    // Repeats and order do not matter to a binary matrix.
    return Int32Array.from([...items, ...items.slice(0, 2)].reverse());
  });
}

/** How many of `codes`' rows fall in each bucket of split j. */
function bucketCounts(codes: Uint8Array, splits: number, j: number, buckets: number): number[] {
  const counts = new Array<number>(buckets).fill(0);
  for (let i = j; i < codes.length; i += splits) {
    const code = codes[i] as number;
    counts[code] = (counts[code] as number) + 1;
  }
  return counts;
}

describe('symmetricEigen', () => {
  it('gives orthonormal eigenvectors, largest eigenvalue first', () => {
    const n = 9;
    const random = seededRandom(3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = random() - 0.5;
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    }
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      const v = vectors[k] as Float64Array;
      for (let i = 0; i < n; i++) {
        const av = dot(a.subarray(i * n, (i + 1) * n), v);
        expect(av).toBeCloseTo((values[k] as number) * (v[i] as number), 10);
      }
      for (let l = 0; l < n; l++)
        expect(dot(v, vectors[l] as Float64Array)).toBeCloseTo(k === l ? 1 : 0, 10);
      if (k > 0) expect(values[k]).toBeLessThanOrEqual(values[k - 1] as number);
    }
  });
});

describe('truncatedSvd', () => {
  const numItems = 30;
  const rows = binaryRows(randomSequences(80, numItems, 0.3, 11));
  const exact = symmetricEigen(gram(rows, numItems + 1), numItems + 1);

  it('matches the exact eigendecomposition of XᵀX: values and vectors', () => {
    const svd = truncatedSvd(rows, numItems + 1, 4, { seed: 5, iterations: 60, oversample: 8 });
    for (let k = 0; k < 4; k++) {
      expect((svd.singularValues[k] as number) ** 2).toBeCloseTo(exact.values[k] as number, 6);
      const overlap = Math.abs(
        dot(svd.components[k] as Float64Array, exact.vectors[k] as Float64Array),
      );
      expect(overlap).toBeCloseTo(1, 8);
      // The sign is fixed: the largest entry is positive.
      const c = svd.components[k] as Float64Array;
      const largest = c.reduce((m, x) => (Math.abs(x) > Math.abs(m) ? x : m), 0);
      expect(largest).toBeGreaterThan(0);
    }
  });

  it('with the default ten steps, spans the exact leading subspace closely', () => {
    const svd = truncatedSvd(rows, numItems + 1, 4, { seed: 5, ...DEFAULT_JPQ_ASSIGNMENT });
    // Each exact vector's squared length inside the found subspace.
    for (let k = 0; k < 4; k++) {
      const e = exact.vectors[k] as Float64Array;
      const inside = svd.components.reduce((s, c) => s + dot(c, e) ** 2, 0);
      expect(inside).toBeGreaterThan(0.999);
    }
  });

  it('finds a planted rank-3 structure, whose block is wider than the rank', () => {
    // Users of group g consume exactly the items of group g: XᵀX = Σ_g n_g·1_g·1_gᵀ.
    const groups = [
      { items: [1, 2, 3, 4, 5, 6, 7, 8], users: 30 },
      { items: [9, 10, 11, 12, 13], users: 20 },
      { items: [14, 15, 16], users: 10 },
    ];
    const sequences = groups.flatMap((g) =>
      Array.from({ length: g.users }, () => Int32Array.from(g.items)),
    );
    const svd = truncatedSvd(binaryRows(sequences), 20, 3, {
      seed: 1,
      iterations: 10,
      oversample: 8,
    });
    groups.forEach((g, k) => {
      expect((svd.singularValues[k] as number) ** 2).toBeCloseTo(g.users * g.items.length, 8);
      const component = svd.components[k] as Float64Array;
      for (let i = 0; i < 20; i++) {
        expect(component[i]).toBeCloseTo(
          g.items.includes(i) ? 1 / Math.sqrt(g.items.length) : 0,
          8,
        );
      }
    });
  });
});

describe('quantileBuckets', () => {
  it('equal-frequency buckets in value order, fewer values than buckets included', () => {
    expect(Array.from(quantileBuckets([0.5, 0.1, 0.9, 0.3], 2))).toEqual([1, 0, 1, 0]);
    expect(Array.from(quantileBuckets([3, 1, 2], 256))).toEqual([170, 0, 85]);
    // Ties go by index, so equal values still fill the buckets evenly.
    expect(Array.from(quantileBuckets([0, 0, 0, 0, 1, 1], 3))).toEqual([0, 0, 1, 1, 2, 2]);
    const values = Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const buckets = quantileBuckets(values, 7);
    const counts = new Array<number>(7).fill(0);
    for (const b of buckets) counts[b] = (counts[b] as number) + 1;
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    // Ordered: a larger value never gets a lower bucket.
    for (let i = 0; i < 1000; i++) {
      for (let j = 0; j < 1000; j += 37) {
        if ((values[i] as number) > (values[j] as number))
          expect(buckets[i]).toBeGreaterThanOrEqual(buckets[j] as number);
      }
    }
  });
});

describe('assignJpqCodes', () => {
  const numItems = 700;
  const sequences = randomSequences(120, numItems, 0.05, 8);

  it('codes every row, padding included, in range, each split equal-frequency within one', () => {
    for (const centroids of [256, 16]) {
      const codes = assignJpqCodes(sequences, numItems, { splits: 4, centroids }, { seed: 42 });
      expect(codes).toMatchObject({ splits: 4, centroids, numRows: numItems + 1 });
      expect(codes.codes.length).toBe((numItems + 1) * 4);
      expect(Math.max(...codes.codes)).toBe(centroids - 1);
      for (let j = 0; j < 4; j++) {
        const counts = bucketCounts(codes.codes, 4, j, centroids);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('is the same for the same seed, and another seed draws other codes', () => {
    const shape = { splits: 3, centroids: 64 };
    const a = assignJpqCodes(sequences, numItems, shape, { seed: 7 });
    const b = assignJpqCodes(sequences, numItems, shape, { seed: 7 });
    const c = assignJpqCodes(sequences, numItems, shape, { seed: 8 });
    expect(b.codes).toEqual(a.codes);
    expect(c.codes).not.toEqual(a.codes);
  });

  it('gives the items of a planted group the top codes of the leading split', () => {
    const group = Array.from({ length: 40 }, (_, i) => 1 + i * 5);
    const planted = [
      ...Array.from({ length: 50 }, () => Int32Array.from(group)),
      ...randomSequences(20, 200, 0.02, 3),
    ];
    const codes = assignJpqCodes(planted, 200, { splits: 2, centroids: 8 }, { seed: 1 });
    const inGroup = new Set(group);
    const lowestInGroup = Math.min(...group.map((i) => codes.codes[i * 2] as number));
    for (let i = 0; i <= 200; i++) {
      if (!inGroup.has(i)) expect(codes.codes[i * 2]).toBeLessThanOrEqual(lowestInGroup);
    }
    expect(lowestInGroup).toBeGreaterThanOrEqual(6);
  });

  it('refuses centroids a byte cannot hold and items outside the table', () => {
    expect(() =>
      assignJpqCodes(sequences, numItems, { splits: 2, centroids: 257 }, { seed: 1 }),
    ).toThrow(/1\.\.256/);
    expect(() =>
      assignJpqCodes([Int32Array.of(1, 9)], 5, { splits: 2, centroids: 4 }, { seed: 1 }),
    ).toThrow(/1\.\.5/);
  });
});
