// The RecJPQ item table (src/model/item-table.ts jpqItemTable) against the table built in
// plain JS from its codebooks and codes: look-ups, scores through the codebooks, the built
// table, and the codebooks' gradient through a training step's use of the table.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { jpqItemTable } from '../../../src/model/item-table.ts';
import { seededRandom } from '../../../src/random.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const SPLITS = 4;
const CENTROIDS = 6;
const WIDTH = 3;
const DIM = SPLITS * WIDTH;
const ROWS = 23;

const random = seededRandom(17);
/** codebooks[j][k][c]. */
const books = Array.from({ length: SPLITS }, () =>
  Array.from({ length: CENTROIDS }, () => Array.from({ length: WIDTH }, () => random() - 0.5)),
);
/** codes[i][j]; every centroid of every split used, and some rows share all their codes. */
const codes = Array.from({ length: ROWS }, (_, i) =>
  Array.from({ length: SPLITS }, (_, j) => (i < 4 ? 2 : (i * (j + 1) + j) % CENTROIDS)),
);
/** Row i of the table, built in plain JS: split j's codebook row at its code, concatenated. */
const reference = codes.map((row) => row.flatMap((code, j) => books[j]?.[code] as number[]));

function table() {
  return jpqItemTable(
    tf.tensor3d(books.flat(2), [SPLITS, CENTROIDS, WIDTH]),
    tf.tensor2d(codes.flat(), [ROWS, SPLITS], 'int32'),
    ROWS,
  );
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], digits = 6) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(actual[i]).toBeCloseTo(expected[i] as number, digits);
}

describe('jpqItemTable', () => {
  it('describes itself: kind, shape, trained parameters and parts', () => {
    const items = table();
    expect(items).toMatchObject({ kind: 'jpq', numRows: ROWS, dim: DIM, tt: null });
    expect(items.params).toBe(SPLITS * CENTROIDS * WIDTH);
    expect(Object.keys(items.weights)).toEqual(['items.jpq.codebooks']);
    expect(items.jpq).toMatchObject({ splits: SPLITS, centroids: CENTROIDS });
    expect(items.jpq?.codes.dtype).toBe('int32');
  });

  it('materialises the plain-JS table', () => {
    const built = table().materialise();
    expect(built.shape).toEqual([ROWS, DIM]);
    expectClose(built.dataSync(), reference.flat());
  });

  it('looks up rows of ids of any shape, without building the table', () => {
    const ids = [
      [5, 0, 22],
      [3, 3, 11],
    ];
    const rows = table().lookup(tf.tensor2d(ids, [2, 3], 'int32'));
    expect(rows.shape).toEqual([2, 3, DIM]);
    expectClose(
      rows.dataSync(),
      ids.flat().flatMap((i) => reference[i] as number[]),
    );
  });

  it('scores queries through the codebooks as the product with the plain-JS table', () => {
    const queries = Array.from({ length: 5 }, () =>
      Array.from({ length: DIM }, () => random() - 0.5),
    );
    const scores = table().scoreAll(tf.tensor2d(queries, [5, DIM]));
    expect(scores.shape).toEqual([5, ROWS]);
    const want = queries.flatMap((q) =>
      reference.map((row) => row.reduce((s, x, c) => s + x * (q[c] as number), 0)),
    );
    expectClose(scores.dataSync(), want, 5);
  });

  it('refuses codes of another shape or type', () => {
    const books3 = tf.zeros([SPLITS, CENTROIDS, WIDTH]) as tf.Tensor3D;
    expect(() =>
      jpqItemTable(books3, tf.zeros([ROWS, SPLITS], 'int32') as tf.Tensor2D, ROWS + 1),
    ).toThrow(/int32 \[24, 4\]/);
    expect(() =>
      jpqItemTable(books3, tf.zeros([ROWS, SPLITS + 1], 'int32') as tf.Tensor2D, ROWS),
    ).toThrow(/int32 \[23, 4\]/);
    expect(() =>
      jpqItemTable(books3, tf.zeros([ROWS, SPLITS], 'float32') as tf.Tensor2D, ROWS),
    ).toThrow(/got float32/);
  });

  it("trains the codebooks: each codebook row's gradient sums the rows that use it", () => {
    // The loss of a training step reads the built table: Σ_i Σ_c weight[i][c]·table[i][c].
    const weight = Array.from({ length: ROWS }, () =>
      Array.from({ length: DIM }, () => random() - 0.5),
    );
    const codebooks = tf.variable(tf.tensor3d(books.flat(2), [SPLITS, CENTROIDS, WIDTH]));
    const items = jpqItemTable(
      codebooks as tf.Tensor as tf.Tensor3D,
      tf.tensor2d(codes.flat(), [ROWS, SPLITS], 'int32'),
      ROWS,
    );
    const w = tf.tensor2d(weight, [ROWS, DIM]);
    const { grads } = tf.variableGrads(
      () => items.materialise().mul(w).sum() as tf.Scalar,
      [codebooks],
    );
    const want = books.map((book, j) =>
      book.map((_, k) =>
        Array.from({ length: WIDTH }, (_, c) =>
          codes.reduce(
            (s, row, i) => s + (row[j] === k ? (weight[i]?.[j * WIDTH + c] as number) : 0),
            0,
          ),
        ),
      ),
    );
    expectClose((grads[codebooks.name] as tf.Tensor).dataSync(), want.flat(2));
  });
});
