// Post-training quantisation: the added-error measure against hand values, the candidates
// each kind of tensor gets, and a whole sequential package quantised, written, read back and
// scored, its scheme per tensor chosen by the outputs (a table whose rows differ a
// hundredfold in size must get a scale per row).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addedError,
  chooseScheme,
  quantizePackage,
} from '../../../../src/compression/quantize/quantize-package.ts';
import {
  fitsFloat16,
  quantizeCandidates,
} from '../../../../src/compression/quantize/tensor-schemes.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../../src/model/item-table.ts';
import { initEncoderWeights } from '../../../../src/model/sasrec.ts';
import { scoreHistories } from '../../../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../../src/model/sequential-package.ts';
import { type ModelPackage, readModelPackage } from '../../../../src/package/reader.ts';
import { repackageSpec } from '../../../../src/package/repackage.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';
import { tinyConfig } from '../../cli/helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

describe('addedError', () => {
  it('is the mean squared change over the variance of the finite reference outputs', () => {
    const reference = Float32Array.from([1, 2, 3, Number.NEGATIVE_INFINITY]);
    // Changes 0, 0, 1 over 3 outputs: 1/3; the variance of 1, 2, 3 is 2/3.
    expect(addedError(reference, Float32Array.from([1, 2, 4, 0]))).toBeCloseTo(0.5, 12);
    expect(addedError(reference, reference)).toBe(0);
    expect(() => addedError(reference, new Float32Array(3))).toThrow(/differ in length/);
  });
});

describe('chooseScheme', () => {
  const t = (error: number, bytes: number) => ({ error, bytes });
  it('takes a costlier scheme only when it halves the error, and the least error among equals', () => {
    expect(chooseScheme([t(1, 100), t(0.6, 140)])).toEqual(t(1, 100));
    expect(chooseScheme([t(1, 100), t(0.45, 140)])).toEqual(t(0.45, 140));
    expect(chooseScheme([t(1, 100), t(0.45, 140), t(0.4, 140)])).toEqual(t(0.4, 140));
    expect(chooseScheme([t(0.4, 140), t(1, 100), t(0.15, 180)])).toEqual(t(0.15, 180));
  });
});

describe('quantizeCandidates', () => {
  const tensor = (shape: number[], data: Float32Array | Int32Array) => ({
    name: 't',
    shape,
    dtype: data instanceof Int32Array ? ('int32' as const) : ('float32' as const),
    data,
  });

  it('offers a matrix three int8 schemes under int8, and float16 alone under float16', () => {
    const m = tensor(
      [8, 6],
      Float32Array.from({ length: 48 }, (_, i) => i - 23.5),
    );
    expect(quantizeCandidates(m, 'int8').map((c) => c.scheme)).toEqual([
      'int8-tensor',
      'int8-rows',
      'int8-columns',
    ]);
    const [rows, columns] = quantizeCandidates(m, 'int8').slice(1);
    expect(rows?.tensor.scales?.values).toHaveLength(8);
    expect(columns?.tensor.scales?.values).toHaveLength(6);
    // A scale per slice of one or four elements would make int8 as large as float16.
    const column = tensor(
      [12, 1],
      Float32Array.from({ length: 12 }, (_, i) => i),
    );
    expect(quantizeCandidates(column, 'int8').map((c) => c.scheme)).toEqual([
      'int8-tensor',
      'int8-columns',
    ]);
    const narrow = tensor(
      [12, 4],
      Float32Array.from({ length: 48 }, (_, i) => i),
    );
    expect(quantizeCandidates(narrow, 'int8').map((c) => c.scheme)).toEqual([
      'int8-tensor',
      'int8-columns',
    ]);
    expect(quantizeCandidates(m, 'float16').map((c) => c.scheme)).toEqual(['float16']);
    // int4's scales are float16 and its values half a byte: a row of 6 is still worth one.
    const int4 = quantizeCandidates(m, 'int4');
    expect(int4.map((c) => c.scheme)).toEqual(['int4-tensor', 'int4-rows', 'int4-columns']);
    expect(int4.every((c) => c.tensor.dtype === 'int4')).toBe(true);
    expect(quantizeCandidates(narrow, 'int4').map((c) => c.scheme)).toEqual([
      'int4-tensor',
      'int4-rows',
      'int4-columns',
    ]);
    // Slices whose scale would pass float16's range cannot take a half scale each.
    const huge = tensor(
      [8, 6],
      Float32Array.from({ length: 48 }, (_, i) => (i - 23.5) * 1e5),
    );
    expect(quantizeCandidates(huge, 'int4').map((c) => c.scheme)).toEqual(['int4-tensor']);
  });

  it('stores vectors as float16 unless a half cannot hold them, and leaves other types alone', () => {
    const bias = tensor([3], Float32Array.from([0.5, -2, 0]));
    expect(quantizeCandidates(bias, 'int8').map((c) => c.scheme)).toEqual(['float16']);
    // 1e-8 would round to a zero half: harmless in a matrix, not in a variance vector.
    const tiny = tensor([2], Float32Array.from([1e-8, 1]));
    expect(fitsFloat16(tiny.data as Float32Array, true)).toBe(false);
    expect(fitsFloat16(tiny.data as Float32Array, false)).toBe(true);
    expect(quantizeCandidates(tiny, 'int8')[0]?.tensor).toBe(tiny);
    const tinyMatrix = tensor([1, 2], Float32Array.from([1e-8, 1]));
    expect(quantizeCandidates(tinyMatrix, 'float16').map((c) => c.scheme)).toEqual(['float16']);
    const huge = tensor([1], Float32Array.from([1e5]));
    expect(quantizeCandidates(huge, 'float16').map((c) => c.scheme)).toEqual(['float32']);
    const ids = tensor([2, 2], Int32Array.from([1, 2, 3, 4]));
    expect(quantizeCandidates(ids, 'int8')).toEqual([{ scheme: 'kept', tensor: ids }]);
  });
});

describe('quantizePackage on a sequential model', () => {
  const CONFIG = tinyConfig(60);
  const histories = Array.from({ length: 24 }, (_, u) =>
    Int32Array.from({ length: 2 + (u % 5) }, (_, i) => 1 + ((u * 7 + i * 13) % 60)),
  );
  const outputsOf = async (pkg: ModelPackage) => {
    tf.engine().startScope();
    try {
      const rows = await scoreHistories(sequentialFromPackage(pkg), histories);
      const out = new Float32Array(rows.length * (rows[0]?.length ?? 0));
      for (const [i, r] of rows.entries()) out.set(r, i * r.length);
      return out;
    } finally {
      tf.engine().endScope();
    }
  };

  async function source(): Promise<ModelPackage> {
    // Rows of the table 1, 10 and 100 times apart: one scale for all would leave the small
    // rows a few levels.
    const table = tf.tidy(() => {
      const base = tf.randomNormal([CONFIG.numItems + 1, CONFIG.dim], 0, 1, 'float32', 9);
      const rowScale = tf.tensor1d(
        Array.from({ length: CONFIG.numItems + 1 }, (_, r) => 10 ** -(r % 3)),
      );
      return base.mul(rowScale.expandDims(1)) as tf.Tensor2D;
    });
    const model = {
      config: CONFIG,
      encoder: initEncoderWeights(CONFIG, 3),
      items: denseItemTable(table),
    };
    const built = await buildModelPackage(
      await sequentialPackageSpec(model, { name: 'source', dataset: 'unit' }),
    );
    return readModelPackage(memorySource(built.files, 'source'));
  }

  it('chooses per row for the graded table, stores every matrix in int8, and reads back what it measured', async () => {
    const pkg = await source();
    const quantized = await quantizePackage(pkg, 'int8', outputsOf);
    const table = quantized.choices.find((c) => c.name === 'items.table');
    expect(table?.scheme).toBe('int8-rows');
    const tableTried = Object.fromEntries((table?.tried ?? []).map((t) => [t.scheme, t.error]));
    expect(tableTried['int8-rows']).toBeLessThan((tableTried['int8-tensor'] as number) / 10);
    for (const c of quantized.choices) {
      const shape = pkg.tensors.get(c.name)?.shape ?? [];
      expect(c.scheme, c.name).toBe(shape.length >= 2 ? c.scheme : 'float16');
      if (shape.length >= 2) expect(c.scheme.startsWith('int8'), c.name).toBe(true);
      if (c.tried.length > 0) expect(c).toMatchObject(chooseScheme(c.tried));
    }
    expect(quantized.error).toBeGreaterThan(0);
    expect(quantized.error).toBeLessThan(1e-3);

    const built = await buildModelPackage(
      repackageSpec(quantized.pkg, { name: 'q', notes: '{}', metrics: {} }),
    );
    // The size the choices add up to: a byte a weight, 4 per scale, 2 per vector element
    // (on a model this small the vectors and scales are a third of it).
    expect(built.manifest.size.bytes).toBe(quantized.choices.reduce((n, c) => n + c.bytes, 0));
    expect(built.manifest.size.bytes).toBeLessThan(pkg.manifest.size.bytes / 2.5);
    expect(built.manifest.kind).toBe(pkg.manifest.kind);
    const back = await readModelPackage(memorySource(built.files, 'q'));
    // The written package scores exactly as the model the error was measured on.
    expect(Array.from(await outputsOf(back))).toEqual(Array.from(await outputsOf(quantized.pkg)));
    expect(addedError(await outputsOf(pkg), await outputsOf(back))).toBeCloseTo(quantized.error, 9);
  });

  it('int4 packs every matrix, a float16 scale per table row, at more error than int8', async () => {
    const pkg = await source();
    const int4 = await quantizePackage(pkg, 'int4', outputsOf);
    const int8 = await quantizePackage(pkg, 'int8', outputsOf);
    expect(int4.choices.find((c) => c.name === 'items.table')?.scheme).toBe('int4-rows');
    for (const c of int4.choices) {
      const matrix = (pkg.tensors.get(c.name)?.shape.length ?? 0) >= 2;
      expect(c.scheme.startsWith(matrix ? 'int4' : 'float16'), c.name).toBe(true);
    }
    expect(int4.error).toBeGreaterThan(int8.error);
    expect(int4.error).toBeLessThan(0.1);
    const built = await buildModelPackage(
      repackageSpec(int4.pkg, { name: 'q4', notes: '{}', metrics: {} }),
    );
    expect(built.manifest.size.bytes).toBe(int4.choices.reduce((n, c) => n + c.bytes, 0));
    const back = await readModelPackage(memorySource(built.files, 'q4'));
    expect(Array.from(await outputsOf(back))).toEqual(Array.from(await outputsOf(int4.pkg)));
  });

  it('float16 halves every float32 weight and changes the outputs less than int8', async () => {
    const pkg = await source();
    const half = await quantizePackage(pkg, 'float16', outputsOf);
    const int8 = await quantizePackage(pkg, 'int8', outputsOf);
    expect(half.choices.every((c) => c.scheme === 'float16')).toBe(true);
    expect(half.error).toBeLessThan(int8.error);
    const built = await buildModelPackage(
      repackageSpec(half.pkg, { name: 'h', notes: '{}', metrics: {} }),
    );
    expect(built.manifest.size.bytes).toBe(pkg.manifest.size.bytes / 2);
  });
});
