import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import {
  autoTtShape,
  initTtCores,
  parseTtShape,
  type TtShape,
  ttCoreShapes,
  ttMaterialise,
  ttParamCount,
  ttRows,
  ttScoreAll,
} from '../../../src/model/tt-matrix.ts';
import { seededRandom } from '../../../src/random.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** xs[i], which must exist. */
function at<T>(xs: ArrayLike<T>, i: number): T {
  if (i < 0 || i >= xs.length) throw new RangeError(`index ${i} of ${xs.length}`);
  return xs[i] as T;
}

/** Non-square factors, 2 and 3 cores, t in {1, 2, 4}, and t dividing J_k r_k but not J_k. */
const SHAPES: TtShape[] = [
  { rows: [3, 5], cols: [3, 4], rank: 4, stp: 1 },
  { rows: [3, 5], cols: [3, 4], rank: 4, stp: 2 },
  { rows: [3, 5], cols: [3, 4], rank: 4, stp: 4 },
  { rows: [4, 3, 2], cols: [2, 3, 4], rank: 4, stp: 1 },
  { rows: [4, 3, 2], cols: [2, 3, 4], rank: 4, stp: 2 },
  { rows: [4, 3, 2], cols: [2, 3, 4], rank: 8, stp: 4 },
  { rows: [2, 5, 3], cols: [3, 3, 2], rank: 2, stp: 2 },
];
const label = (s: TtShape) => `${s.rows.join('x')}:${s.cols.join('x')} r=${s.rank} t=${s.stp}`;

function uniformValues(size: number, random: () => number): Float32Array {
  return Float32Array.from({ length: size }, () => 2 * random() - 1);
}

/** Random core values for `shape` (as stored), from the stored layout alone. */
function randomCoreValues(shape: TtShape, seed: number): Float32Array[] {
  const random = seededRandom(seed);
  return ttCoreShapes(shape).map((s) => uniformValues(prod(s), random));
}

// --- Float64 reference: explicit Kronecker products, written from the definitions only. ---

type Matrix = number[][];

function matMul(a: Matrix, b: Matrix): Matrix {
  const inner = b.length;
  const cols = (b[0] as number[]).length;
  return a.map((row) =>
    Array.from({ length: cols }, (_, c) => {
      let s = 0;
      for (let k = 0; k < inner; k++) s += at(row, k) * at(at(b, k), c);
      return s;
    }),
  );
}

/** kron(B, I_t): [x][y] = B[x div t][y div t] · [x mod t == y mod t]. */
function kronIdentity(b: Matrix, t: number): Matrix {
  const p = b.length;
  const q = (b[0] as number[]).length;
  return Array.from({ length: p * t }, (_, x) =>
    Array.from({ length: q * t }, (_, y) =>
      x % t === y % t ? at(at(b, Math.floor(x / t)), Math.floor(y / t)) : 0,
    ),
  );
}

/** values[offset + r * cols + c] as a rows x cols matrix. */
function view(values: ArrayLike<number>, offset: number, rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => values[offset + r * cols + c] as number),
  );
}

function referenceTable(values: readonly ArrayLike<number>[], shape: TtShape): Matrix {
  const { rows, cols, rank, stp } = shape;
  const n = rows.length;
  const table: Matrix = [];
  for (let i = 0; i < prod(rows); i++) {
    const digits = rows.map((_, k) => Math.floor(i / prod(rows.slice(k + 1))) % at(rows, k));
    const r1 = n === 1 ? 1 : rank;
    let a = view(at(values, 0), at(digits, 0) * at(cols, 0) * r1, at(cols, 0), r1);
    for (let k = 1; k < n; k++) {
      const rIn = rank;
      const rOut = k === n - 1 ? 1 : rank;
      const p = rIn / stp;
      const q = (at(cols, k) * rOut) / stp;
      const b = view(at(values, k), at(digits, k) * p * q, p, q);
      const wide = matMul(a, kronIdentity(b, stp)); // M x (J_k r_k)
      a = [];
      for (const row of wide) {
        for (let j = 0; j < at(cols, k); j++) a.push(row.slice(j * rOut, (j + 1) * rOut));
      }
    }
    table.push(a.map((row) => row[0] as number));
  }
  return table;
}

function expectClose(got: ArrayLike<number>, want: readonly number[], tolerance = 1e-5): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...want.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
  }
  expect(worst / scale).toBeLessThan(tolerance);
}

function coreTensors(values: Float32Array[], shape: TtShape): tf.Tensor3D[] {
  return ttCoreShapes(shape).map((s, k) => tf.tensor3d(at(values, k), s));
}

function expectBadShape(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PocketrecError);
  expect((caught as PocketrecError).code).toBe('bad-tt-shape');
}

describe.each(SHAPES.map((s) => [label(s), s] as const))('TT matrix %s', (_, shape) => {
  const N = prod(shape.rows);
  const d = prod(shape.cols);
  const values = randomCoreValues(shape, 7);
  const reference = referenceTable(values, shape);

  it('materialises the reference table', () => {
    const cores = coreTensors(values, shape);
    const table = ttMaterialise(cores, shape);
    expect(table.shape).toEqual([N, d]);
    expectClose(table.dataSync(), reference.flat());
    tf.dispose([table, ...cores]);
  });

  it('looks up rows of a 2-D id tensor with repeats', () => {
    const random = seededRandom(11);
    const ids = Array.from({ length: 4 * 7 }, () => Math.floor(random() * N));
    ids[0] = 0;
    ids[1] = N - 1;
    ids[5] = ids[9] = ids[20] = ids[3] as number;
    const cores = coreTensors(values, shape);
    const idTensor = tf.tensor2d(ids, [4, 7], 'int32');
    const rows = ttRows(cores, shape, idTensor);
    expect(rows.shape).toEqual([4, 7, d]);
    expectClose(
      rows.dataSync(),
      ids.flatMap((i) => reference[i] as number[]),
    );
    tf.dispose([rows, idTensor, ...cores]);
  });

  it('scores queries against every row without the table', () => {
    const random = seededRandom(13);
    const queries = view(uniformValues(3 * d, random), 0, 3, d);
    const want = queries.flatMap((qv) =>
      reference.map((row) => row.reduce((s, v, j) => s + v * at(qv, j), 0)),
    );
    const cores = coreTensors(values, shape);
    const qt = tf.tensor2d(queries);
    const scores = ttScoreAll(cores, shape, qt);
    expect(scores.shape).toEqual([3, N]);
    expectClose(scores.dataSync(), want);
    tf.dispose([scores, qt, ...cores]);
  });

  it('has the reference gradient through all three paths, non-zero for every core', () => {
    const random = seededRandom(17);
    // Materialise: L = Σ W ⊙ table, linear in each core, so a unit step of one entry in the
    // Float64 reference gives that entry's gradient exactly.
    const w = view(uniformValues(N * d, random), 0, N, d);
    const loss64 = (vals: readonly ArrayLike<number>[]) =>
      referenceTable(vals, shape).reduce(
        (s, row, i) => s + row.reduce((t, v, j) => t + v * at(at(w, i), j), 0),
        0,
      );
    const base = loss64(values);

    // Rows: ids with repeats, whose weights summed per id make the same loss as W.
    const P = 2 * N;
    const ids = Array.from({ length: P }, () => Math.floor(random() * N));
    const wRows = view(uniformValues(P * d, random), 0, P, d);
    const wFromRows: Matrix = Array.from({ length: N }, () => new Array<number>(d).fill(0));
    ids.forEach((id, p) => {
      const into = at(wFromRows, id);
      for (let j = 0; j < d; j++) into[j] = at(into, j) + at(at(wRows, p), j);
    });
    // Scores: Σ S ⊙ (X tableᵀ) = Σ (Sᵀ X) ⊙ table.
    const x = view(uniformValues(3 * d, random), 0, 3, d);
    const s = view(uniformValues(3 * N, random), 0, 3, N);

    const cores = coreTensors(values, shape);
    const grads = tf.tidy(() => {
      const wT = tf.tensor2d(w);
      const idT = tf.tensor1d(ids, 'int32');
      const wRowsT = tf.tensor2d(wRows);
      const xT = tf.tensor2d(x);
      const sT = tf.tensor2d(s);
      const viaTable = (weights: tf.Tensor2D) =>
        tf.grads((...c: tf.Tensor[]) => tf.sum(tf.mul(ttMaterialise(c, shape), weights)))(cores);
      return {
        materialise: viaTable(wT),
        rows: tf.grads((...c: tf.Tensor[]) => tf.sum(tf.mul(ttRows(c, shape, idT), wRowsT)))(cores),
        rowsByTable: viaTable(tf.tensor2d(wFromRows)),
        score: tf.grads((...c: tf.Tensor[]) => tf.sum(tf.mul(ttScoreAll(c, shape, xT), sT)))(cores),
        scoreByTable: viaTable(tf.matMul(sT, xT, true, false)),
      };
    });

    grads.materialise.forEach((g, k) => {
      const data = g.dataSync();
      for (const e of [0, Math.floor(data.length / 2), data.length - 1]) {
        const bumped = values.map((v) => Float64Array.from(v));
        const core = at(bumped, k);
        core[e] = at(core, e) + 1;
        expect(data[e]).toBeCloseTo(loss64(bumped) - base, 3);
      }
    });
    for (const [got, want] of [
      [grads.rows, grads.rowsByTable],
      [grads.score, grads.scoreByTable],
    ] as const) {
      got.forEach((g, k) => {
        expectClose(g.dataSync(), Array.from(at(want, k).dataSync()));
      });
    }
    for (const g of [...grads.materialise, ...grads.rows, ...grads.score]) {
      const data = g.dataSync();
      expect(data.every(Number.isFinite)).toBe(true);
      expect(data.some((v) => v !== 0)).toBe(true);
    }
    tf.dispose([...Object.values(grads).flat(), ...cores]);
  });
});

describe('training TT cores', () => {
  it('Adam steps on a random target move every core and lower the loss', () => {
    const shape: TtShape = { rows: [6, 5, 4], cols: [2, 4, 4], rank: 8, stp: 2 };
    const cores = initTtCores(shape, { seed: 3, std: 0.5 }).map((c) => tf.variable(c));
    const start = cores.map((c) => c.clone());
    const target = tf.randomNormal([prod(shape.rows), prod(shape.cols)], 0, 0.5, 'float32', 5);
    const ids = tf.tensor1d([0, 7, 7, 42, 119], 'int32');
    const optimizer = tf.train.adam(0.02);
    const loss = () =>
      tf.tidy(() => {
        const table = ttMaterialise(cores, shape);
        // The row path in the same loss, so Adam also steps through gatherRows' gradient.
        const picked = tf.sum(tf.square(ttRows(cores, shape, ids)));
        return tf.add(tf.mean(tf.squaredDifference(table, target)), tf.mul(picked, 1e-3));
      }) as tf.Scalar;
    const before = loss().dataSync()[0] as number;
    for (let step = 0; step < 15; step++) optimizer.minimize(loss);
    const after = loss().dataSync()[0] as number;
    expect(after).toBeLessThan(0.95 * before);
    cores.forEach((c, k) => {
      const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(c, at(start, k)))).dataSync()[0] as number);
      expect(moved).toBeGreaterThan(1e-3);
    });
    optimizer.dispose();
    tf.dispose([...cores, ...start, target, ids]);
  });
});

describe('TT shapes', () => {
  it('counts parameters; STP t=2 cuts the non-first cores by 4', () => {
    const plain: TtShape = { rows: [10, 20, 30], cols: [4, 4, 4], rank: 8, stp: 1 };
    const stp: TtShape = { ...plain, stp: 2 };
    expect(ttCoreShapes(plain)).toEqual([
      [10, 1, 32],
      [20, 8, 32],
      [30, 8, 4],
    ]);
    expect(ttCoreShapes(stp)).toEqual([
      [10, 1, 32],
      [20, 4, 16],
      [30, 4, 2],
    ]);
    for (const s of [plain, stp]) {
      expect(ttParamCount(s)).toBe(ttCoreShapes(s).reduce((sum, c) => sum + prod(c), 0));
    }
    const sizes = (s: TtShape) => ttCoreShapes(s).map(prod);
    expect(sizes(stp)[0]).toBe(sizes(plain)[0]);
    expect(sizes(stp).slice(1)).toEqual(
      sizes(plain)
        .slice(1)
        .map((v) => v / 4),
    );
  });

  it('initialises cores so the table has about the requested std, repeatably', () => {
    const shapes: TtShape[] = [
      { rows: [32, 32, 32], cols: [4, 4, 4], rank: 16, stp: 2 },
      { rows: [32, 32, 32], cols: [2, 4, 8], rank: 8, stp: 1 },
      { rows: [200, 150], cols: [8, 8], rank: 16, stp: 4 },
    ];
    for (const shape of shapes) {
      for (const std of [0.05, 1]) {
        const cores = initTtCores(shape, { seed: 1, std });
        const [mean, sd] = tf.tidy(() => {
          const m = tf.moments(ttMaterialise(cores, shape));
          return [m.mean.dataSync()[0] as number, Math.sqrt(m.variance.dataSync()[0] as number)];
        });
        expect(Math.abs(sd / std - 1)).toBeLessThan(0.2);
        expect(Math.abs(mean)).toBeLessThan(0.1 * std);
        tf.dispose(cores);
      }
    }
    const shape = shapes[0] as TtShape;
    const values = (seed: number) =>
      tf.tidy(() => initTtCores(shape, { seed, std: 0.1 }).map((core) => [...core.dataSync()]));
    expect(values(1)).toEqual(values(1));
    const [one, two] = [values(1), values(2)];
    one.forEach((core, k) => {
      expect(core).toHaveLength(prod(at(ttCoreShapes(shape), k)));
      expect(core).not.toEqual(at(two, k));
    });
  });

  it('autoTtShape balances the factors and pads minimally', () => {
    expect(autoTtShape(1000, 64, 3)).toEqual({
      rows: [10, 10, 10],
      cols: [4, 4, 4],
      rank: 1,
      stp: 1,
    });
    expect(autoTtShape(1000, 48, 3).cols).toEqual([3, 4, 4]);
    expect(autoTtShape(1000, 48, 2).cols).toEqual([6, 8]);
    expect(autoTtShape(1000, 7, 2).cols).toEqual([1, 7]);
    expect(autoTtShape(1, 8, 3).rows).toEqual([1, 1, 1]);

    const random = seededRandom(23);
    const counts = [
      2,
      17,
      1001,
      4097,
      12_345,
      ...Array.from({ length: 8 }, () => 2 + Math.floor(random() * 60_000)),
    ];
    for (const cores of [2, 3] as const) {
      for (const numRows of counts) {
        const { rows } = autoTtShape(numRows, 64, cores);
        const padded = prod(rows);
        const largest = Math.max(...rows);
        expect(rows).toHaveLength(cores);
        expect(padded).toBeGreaterThanOrEqual(numRows);
        // No smaller largest factor could cover the rows...
        expect((largest - 1) ** cores).toBeLessThan(numRows);
        // ...and no factorisation within it pads less.
        for (let a = 1; a <= largest; a++) {
          if (cores === 2) {
            const b = Math.ceil(numRows / a);
            if (b <= largest) expect(a * b).toBeGreaterThanOrEqual(padded);
            continue;
          }
          for (let b = 1; b <= largest; b++) {
            const c = Math.ceil(numRows / (a * b));
            if (c <= largest) expect(a * b * c).toBeGreaterThanOrEqual(padded);
          }
        }
      }
    }
  });

  it('parses shapes and rejects invalid ones with bad-tt-shape', () => {
    expect(parseTtShape('40x50x50:4x4x4', 8, 2)).toEqual({
      rows: [40, 50, 50],
      cols: [4, 4, 4],
      rank: 8,
      stp: 2,
    });
    expect(parseTtShape('300x200:8x8', 16, 1)).toEqual({
      rows: [300, 200],
      cols: [8, 8],
      rank: 16,
      stp: 1,
    });
    for (const text of ['40x50:4x4x4', '40:4', '2x2x2x2:2x2x2x2', '40x50', 'ax2:2x2', '0x5:4x4']) {
      expectBadShape(() => parseTtShape(text, 4, 1));
    }
    expectBadShape(() => parseTtShape('40x50x50:4x4x4', 8, 3)); // t does not divide the rank
    expectBadShape(() => parseTtShape('40x50x50:4x4x2', 8, 4)); // nor J_3 · r_3 = 2
    expectBadShape(() => parseTtShape('40x50:4x6', 8, 4)); // nor J_2 · r_2 = 6
    expectBadShape(() => parseTtShape('40x50:4x4', 0, 1));
    expectBadShape(() => parseTtShape('40x50:4x4', 4, 0));
    expectBadShape(() => parseTtShape('50000x50000:4x4', 4, 1)); // beyond int32 ids
    expectBadShape(() => ttCoreShapes({ rows: [4, 4], cols: [4], rank: 4, stp: 1 }));
    expectBadShape(() => autoTtShape(0, 64, 2));

    const shape: TtShape = { rows: [3, 5], cols: [3, 4], rank: 4, stp: 2 };
    const wrong = initTtCores({ ...shape, stp: 1 }, { seed: 1, std: 1 });
    expectBadShape(() => ttMaterialise(wrong, shape));
    expectBadShape(() => ttRows(wrong.slice(0, 1), shape, tf.tensor1d([0], 'int32')));
    const cores = initTtCores(shape, { seed: 1, std: 1 });
    expectBadShape(() => ttScoreAll(cores, shape, tf.zeros([2, 5]) as tf.Tensor2D));
    tf.dispose([...wrong, ...cores]);
  });
});
