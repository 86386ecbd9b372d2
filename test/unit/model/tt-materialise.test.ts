// The plain-TypeScript tensor-train table (the fused runtime's) against tfjs's ttMaterialise,
// for two and three cores, with and without the semi-tensor product.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ttMaterialiseRows } from '../../../src/model/tt-materialise.ts';
import { initTtCores, type TtShape, ttMaterialise } from '../../../src/model/tt-matrix.ts';

const SHAPES: TtShape[] = [
  { rows: [8, 8], cols: [4, 4], rank: 4, stp: 1 },
  { rows: [8, 8], cols: [4, 4], rank: 4, stp: 2 },
  { rows: [4, 5, 6], cols: [2, 2, 6], rank: 6, stp: 3 },
  { rows: [4, 5, 6], cols: [2, 2, 4], rank: 4, stp: 1 },
];

describe.each(SHAPES)('ttMaterialiseRows %o', (shape) => {
  it('builds the rows tfjs builds', async () => {
    const cores = initTtCores(shape, { seed: 7, std: 0.5 });
    const want = (await ttMaterialise(cores, shape).data()) as Float32Array;
    const padded = shape.rows.reduce((a, b) => a * b, 1);
    const numRows = padded - 3;
    const got = ttMaterialiseRows(
      await Promise.all(cores.map(async (c) => (await c.data()) as Float32Array)),
      shape,
      numRows,
    );
    const d = shape.cols.reduce((a, b) => a * b, 1);
    expect(got.length).toBe(numRows * d);
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
    }
    expect(worst).toBeLessThan(1e-5);
    tf.dispose(cores);
  });
});

it('refuses cores that do not fit the shape', () => {
  const shape: TtShape = { rows: [8, 8], cols: [4, 4], rank: 4, stp: 1 };
  expect(() => ttMaterialiseRows([new Float32Array(3)], shape, 10)).toThrow(/1 cores for a 2-core/);
  expect(() => ttMaterialiseRows([new Float32Array(3), new Float32Array(3)], shape, 10)).toThrow(
    /core 0 has 3 values/,
  );
});
