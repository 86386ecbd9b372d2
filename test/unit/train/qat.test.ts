// Quantisation-aware training: the forward rounds each matrix to the int8 grid a package
// stores it on (one scale per row, as `pocketrec quantize` writes int8-rows), the gradient
// passes straight through, and a training task with `qat` computes exactly the loss of the
// model whose matrices are rounded, for dense, tensor-train and RecJPQ tables alike.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DISTILL,
  type DistillConfig,
  distillationTask,
} from '../../../src/compression/distill/distill.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { mapTableWeights } from '../../../src/model/item-table.ts';
import {
  fakeQuant,
  fakeQuantInt8,
  fakeQuantWeight,
  gridRows,
  int8Rows,
} from '../../../src/model/ops/fake-quant.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { initTtCores } from '../../../src/model/tt-matrix.ts';
import { quantizeInt8Axis, quantizeIntAxis, toFloat32 } from '../../../src/package/dtypes.ts';
import { seededRandom } from '../../../src/random.ts';
import { sequenceBatches } from '../../../src/train/batches.ts';
import { nextItemLoss, type SasrecTaskArgs, sasrecTask } from '../../../src/train/train-sasrec.ts';
import { tinyModel } from '../cli/helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

describe('fake int8', () => {
  it('rounds to the grid quantize stores per row, and passes the gradient straight through', () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * 10 ** -(i % 3));
    const w = tf.tensor2d(values, [6, 4]);
    const { data, scales } = quantizeInt8Axis(values, [6, 4], 0);
    const stored = toFloat32('int8', data, 1, { ...scales, shape: [6, 4] });
    const rounded = int8Rows(w).dataSync();
    for (let i = 0; i < values.length; i++) {
      expect(rounded[i]).toBeCloseTo(stored[i] as number, 6);
    }
    const c = tf.tensor2d(
      Float32Array.from({ length: 24 }, (_, i) => i - 12),
      [6, 4],
    );
    const grad = tf.grad((x: tf.Tensor) => fakeQuantInt8(x).mul(c).sum())(w);
    expect(Array.from(grad.dataSync())).toEqual(Array.from(c.dataSync()));
    // Vectors are left as they are (stored as float16).
    const bias = tf.tensor1d([0.123456, -2]);
    expect(fakeQuantWeight(bias)).toBe(bias);
  });
});

describe('fake int4', () => {
  it('rounds to the int4 grid quantize stores per row, but for the float16 rounding of its scales', () => {
    const rows = 200;
    const values = Float32Array.from(
      { length: rows * 20 },
      (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)),
    );
    const { data, scales } = quantizeIntAxis(values, [rows, 20], 0, 'int4');
    const stored = toFloat32('int4', data, 1, { ...scales, shape: [rows, 20] });
    const rounded = gridRows(tf.tensor2d(values, [rows, 20]), 7).dataSync();
    // A stored scale is the float32 one rounded up to a half (at most 2^-11 larger), so the
    // two grids agree to a few thousandths of a level, except where a value sits that close
    // to the midpoint between two levels.
    let far = 0;
    for (let i = 0; i < values.length; i++) {
      const level = scales.values[Math.floor(i / 20)] as number;
      const gap = Math.abs((rounded[i] as number) - (stored[i] as number));
      if (gap > 0.01 * level) far++;
      expect(gap).toBeLessThanOrEqual(level * 1.01);
    }
    expect(far / values.length).toBeLessThan(0.01);
    const w = tf.tensor2d(values.slice(0, 40), [2, 20]);
    const grad = tf.grad((x: tf.Tensor) => fakeQuant(x, 'int4').sum())(w);
    expect(Array.from(grad.dataSync())).toEqual(new Array(40).fill(1));
    expect(
      new Set(Array.from(gridRows(w, 7).div(w.abs().max(1, true).div(7)).round().dataSync())).size,
    ).toBeLessThanOrEqual(15);
  });
});

describe('sasrecTask with qat', () => {
  const sequences = [Int32Array.from([1, 2, 3, 4, 5, 6]), Int32Array.from([7, 8, 9, 10])];
  const [batch] = sequenceBatches(sequences, { maxLen: 6, batchSize: 2, random: seededRandom(1) });
  it('computes the loss of the model with every matrix rounded, not of the float one', () => {
    const start = tinyModel(30, 3, 0.5);
    const args: SasrecTaskArgs = { modelConfig: start.config, loss: 'full', negatives: 8, seed: 4 };
    const plain = sasrecTask(args, start);
    const qat = sasrecTask({ ...args, qat: 'int8' }, start);
    const rounded: SequentialModel = {
      ...start,
      encoder: Object.fromEntries(
        Object.entries(start.encoder).map(([k, w]) => [k, w.rank >= 2 ? int8Rows(w) : w]),
      ),
      items: mapTableWeights(start.items, (w) => int8Rows(w)),
    };
    const options = { loss: 'full' as const, negatives: 8, seed: 4 * 7919 };
    const value = (f: () => tf.Scalar) => tf.tidy(() => f().dataSync()[0] as number);
    const qatLoss = value(() => qat.loss(batch as never, 0));
    expect(qatLoss).toBeCloseTo(
      value(() => nextItemLoss(rounded, batch as never, options)),
      5,
    );
    expect(qatLoss).not.toBeCloseTo(
      value(() => plain.loss(batch as never, 0)),
      5,
    );
    // The variables trained are the float ones.
    expect(Object.keys(qat.variables).sort()).toEqual(Object.keys(plain.variables).sort());
  });
});

describe('distill with qat', () => {
  it("computes the loss of the student with its encoder's matrices and its cores rounded", () => {
    const teacher = tinyModel(41, 5, 0.5);
    const config: DistillConfig = {
      ...DEFAULT_DISTILL,
      shape: { rows: [6, 7], cols: [2, 4], rank: 4, stp: 2 },
    };
    const hot = new Float32Array(42).fill(0).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const cores = initTtCores(config.shape, { seed: 1, std: 0.3 });
    const sequences = [Int32Array.from([1, 2, 3, 4, 5, 6]), Int32Array.from([7, 8, 9, 10])];
    const [batch] = sequenceBatches(sequences, {
      maxLen: 6,
      batchSize: 2,
      random: seededRandom(1),
    });
    const value = (f: () => tf.Scalar) => tf.tidy(() => f().dataSync()[0] as number);
    const qat = distillationTask(
      teacher,
      hot,
      { ...config, qat: 'int8' },
      {
        encoder: teacher.encoder,
        cores,
      },
    );
    const rounded = distillationTask(teacher, hot, config, {
      encoder: Object.fromEntries(
        Object.entries(teacher.encoder).map(([k, w]) => [k, w.rank >= 2 ? int8Rows(w) : w]),
      ),
      cores: cores.map((c) => int8Rows(c)),
    });
    const plain = distillationTask(teacher, hot, config, { encoder: teacher.encoder, cores });
    const qatLoss = value(() => qat.loss(batch as never, 0));
    expect(qatLoss).toBeCloseTo(
      value(() => rounded.loss(batch as never, 0)),
      4,
    );
    expect(qatLoss).not.toBeCloseTo(
      value(() => plain.loss(batch as never, 0)),
      4,
    );
  });
});
