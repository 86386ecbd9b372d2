// The quotient-remainder item table (src/model/item-table.ts qrItemTable) against the table
// built in plain JS from its two factors: look-ups, scores, the built table and the factors'
// gradient through a training step's use of the table, for both operations; and the
// partition's arithmetic (qr-partition.ts).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { mapTableWeights, qrItemTable } from '../../../src/model/item-table.ts';
import {
  defaultQrBuckets,
  type QrOperation,
  qrFactorStd,
  qrQuotientRows,
} from '../../../src/model/qr-partition.ts';
import { seededRandom } from '../../../src/random.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const DIM = 6;
/** 23 rows in 5 remainders: 5 quotient rows, the last holding rows 20..22 only. */
const ROWS = 23;
const BUCKETS = 5;
const QUOTIENTS = 5;

const random = seededRandom(29);
const draw = (rows: number) =>
  Array.from({ length: rows }, () => Array.from({ length: DIM }, () => random() - 0.5));
const quotient = draw(QUOTIENTS);
const remainder = draw(BUCKETS);

const joined = (operation: QrOperation) => (a: number, b: number) =>
  operation === 'mult' ? a * b : a + b;

/** Row i of the table, built in plain JS: Q[⌊i/m⌋] joined entry by entry with R[i mod m]. */
function reference(operation: QrOperation): number[][] {
  const op = joined(operation);
  return Array.from({ length: ROWS }, (_, i) => {
    const q = quotient[Math.floor(i / BUCKETS)] as number[];
    const r = remainder[i % BUCKETS] as number[];
    return q.map((x, c) => op(x, r[c] as number));
  });
}

function table(operation: QrOperation) {
  return qrItemTable(
    tf.tensor2d(quotient, [QUOTIENTS, DIM]),
    tf.tensor2d(remainder, [BUCKETS, DIM]),
    ROWS,
    operation,
  );
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], digits = 6) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(actual[i]).toBeCloseTo(expected[i] as number, digits);
}

describe.each(['mult', 'add'] as const)('qrItemTable, %s', (operation) => {
  const want = reference(operation);

  it('describes itself: kind, shape, trained parameters and factors', () => {
    const items = table(operation);
    expect(items).toMatchObject({ kind: 'qr', numRows: ROWS, dim: DIM, tt: null, jpq: null });
    expect(items.params).toBe((QUOTIENTS + BUCKETS) * DIM);
    expect(Object.keys(items.weights)).toEqual(['items.qr.quotient', 'items.qr.remainder']);
    expect(items.qr).toMatchObject({ buckets: BUCKETS, operation });
  });

  it('materialises the plain-JS table, the last quotient row cut to the rows there are', () => {
    const built = table(operation).materialise();
    expect(built.shape).toEqual([ROWS, DIM]);
    expectClose(built.dataSync(), want.flat());
  });

  it('looks up rows of ids of any shape from the two factors', () => {
    const ids = [
      [0, 4, 5],
      [22, 9, 10],
      [19, 20, 3],
    ];
    const rows = table(operation).lookup(tf.tensor2d(ids, [3, 3], 'int32'));
    expect(rows.shape).toEqual([3, 3, DIM]);
    expectClose(
      rows.dataSync(),
      ids.flat().flatMap((i) => want[i] as number[]),
    );
  });

  it('scores queries as the product with the plain-JS table', () => {
    const queries = draw(4);
    const scores = table(operation).scoreAll(tf.tensor2d(queries, [4, DIM]));
    expect(scores.shape).toEqual([4, ROWS]);
    const expected = queries.flatMap((q) =>
      want.map((row) => row.reduce((s, x, c) => s + x * (q[c] as number), 0)),
    );
    expectClose(scores.dataSync(), expected, 5);
  });

  it("trains both factors: each factor row's gradient sums over the rows that use it", () => {
    // The loss of a training step reads the built table: Σ_i Σ_c weight[i][c]·table[i][c].
    const weight = draw(ROWS);
    const q = tf.variable(tf.tensor2d(quotient, [QUOTIENTS, DIM]));
    const r = tf.variable(tf.tensor2d(remainder, [BUCKETS, DIM]));
    const items = qrItemTable(
      q as tf.Tensor as tf.Tensor2D,
      r as tf.Tensor as tf.Tensor2D,
      ROWS,
      operation,
    );
    const w = tf.tensor2d(weight, [ROWS, DIM]);
    const { grads } = tf.variableGrads(() => items.materialise().mul(w).sum() as tf.Scalar, [q, r]);
    // ∂(Q∘R)/∂Q = R, ∂(Q+R)/∂Q = 1.
    const other = (factor: number[][], at: number, c: number) =>
      operation === 'mult' ? ((factor[at] as number[])[c] as number) : 1;
    const wantQ = quotient.map((row, a) =>
      row.map((_, c) =>
        weight.reduce(
          (s, wi, i) =>
            s +
            (Math.floor(i / BUCKETS) === a
              ? (wi[c] as number) * other(remainder, i % BUCKETS, c)
              : 0),
          0,
        ),
      ),
    );
    const wantR = remainder.map((row, b) =>
      row.map((_, c) =>
        weight.reduce(
          (s, wi, i) =>
            s +
            (i % BUCKETS === b
              ? (wi[c] as number) * other(quotient, Math.floor(i / BUCKETS), c)
              : 0),
          0,
        ),
      ),
    );
    expectClose((grads[q.name] as tf.Tensor).dataSync(), wantQ.flat());
    expectClose((grads[r.name] as tf.Tensor).dataSync(), wantR.flat());
  });

  it('mapTableWeights maps both factors and keeps the operation', () => {
    const doubled = mapTableWeights(table(operation), (w) => w.mul(2));
    expect(doubled.qr).toMatchObject({ buckets: BUCKETS, operation });
    const scale = operation === 'mult' ? 4 : 2;
    expectClose(
      doubled.materialise().dataSync(),
      want.flat().map((x) => scale * x),
    );
  });
});

describe('qrItemTable refuses factors that do not partition the rows', () => {
  it('a quotient of the wrong rows or width, and more remainders than rows', () => {
    const q = (rows: number, dim = DIM) => tf.zeros([rows, dim]) as tf.Tensor2D;
    expect(() => qrItemTable(q(4), q(BUCKETS), ROWS, 'mult')).toThrow(
      /needs a quotient of shape \[5, 6\], got \[4,6\]/,
    );
    expect(() => qrItemTable(q(QUOTIENTS, 4), q(BUCKETS), ROWS, 'mult')).toThrow(
      /needs a quotient of shape \[5, 6\], got \[5,4\]/,
    );
    expect(() => qrItemTable(q(1), q(30), ROWS, 'add')).toThrow(
      /remainder rows must be an integer in 1\.\.23 \(the table's rows\), got 30/,
    );
  });
});

describe('the partition', () => {
  it('⌈√n⌉ remainders store the fewest rows, ⌈n/m⌉ + m, of any m', () => {
    for (const n of [2, 23, 100, 3417, 40728]) {
      const m = defaultQrBuckets(n);
      const stored = (b: number) => qrQuotientRows(n, b) + b;
      expect(qrQuotientRows(n, m) * m).toBeGreaterThanOrEqual(n);
      expect((qrQuotientRows(n, m) - 1) * m).toBeLessThan(n);
      for (let b = 1; b <= n; b++) expect(stored(b)).toBeGreaterThanOrEqual(stored(m));
    }
    expect(defaultQrBuckets(3417)).toBe(59);
    expect(qrQuotientRows(3417, 59)).toBe(58);
  });

  it("drawn at qrFactorStd, rows start at the dense table's scale", () => {
    const dim = 64;
    const rows = 4000;
    for (const operation of ['mult', 'add'] as const) {
      const std = qrFactorStd(dim, operation);
      const q = tf.randomNormal([rows, dim], 0, std, 'float32', 1);
      const r = tf.randomNormal([rows, dim], 0, std, 'float32', 2);
      const row = operation === 'mult' ? q.mul(r) : q.add(r);
      // The dense draw: entries of variance 1/dim.
      const variance = row.square().mean().dataSync()[0] as number;
      expect(variance * dim).toBeGreaterThan(0.95);
      expect(variance * dim).toBeLessThan(1.05);
    }
  });
});
