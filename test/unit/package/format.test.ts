import { mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/package/digest.ts';
import {
  asBytes,
  byteLength,
  DTYPES,
  type Dtype,
  encodeFloat16,
  floatToHalf,
  halfToFloat,
  int4PaddingIsZero,
  packInt4,
  quantizeInt,
  quantizeInt8,
  quantizeInt8Axis,
  quantizeIntAxis,
  toFloat32,
  unpackInt4,
} from '../../../src/package/dtypes.ts';
import {
  MODEL_PACKAGE_PROBLEMS,
  ModelPackageError,
  type ModelPackageProblem,
} from '../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../src/package/manifest.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { readModelPackage, tensorValues } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';

type Files = Map<string, Uint8Array>;

const SHARD = 4 * 1024 * 1024;
const encoder = new TextEncoder();

/** Deterministic values in [-amplitude, amplitude), so failures reproduce. */
function values(count: number, seed: number, amplitude = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 2 * amplitude;
  }
  return out;
}

/** A small package holding one tensor of every dtype and an item id map. */
function smallSpec(): PackageSpec {
  const proj = quantizeInt8(values(12, 2));
  return {
    kind: 'sequential-test',
    name: 'fixture',
    architecture: { layers: 2, dims: [4, 3], activation: 'relu', tied: true },
    items: { count: 5, ids: ['a', 'b', 'c', 'd', 'e'] },
    training: { dataset: 'unit', metrics: { 'NDCG@10': 0.5 }, notes: 'made by format.test.ts' },
    denseEquivalent: { params: 1000, embeddingParams: 600 },
    createdAt: new Date('2026-01-01T00:00:00Z'),
    tensors: [
      {
        name: 'embedding',
        dtype: 'float16',
        shape: [6, 4],
        data: encodeFloat16(values(24, 1)),
        role: 'item-embedding',
      },
      { name: 'projection', dtype: 'int8', shape: [4, 3], data: proj.data, scale: proj.scale },
      { name: 'bias', dtype: 'float32', shape: [3], data: values(3, 3) },
      {
        name: 'index',
        dtype: 'int32',
        shape: [5],
        data: Int32Array.from([0, -1, 7, 2 ** 31 - 1, -(2 ** 31)]),
      },
      {
        name: 'mask',
        dtype: 'uint8',
        shape: [7],
        data: Uint8Array.from([0, 1, 2, 127, 128, 254, 255]),
      },
    ],
  };
}

async function smallPackage(): Promise<Files> {
  return (await buildModelPackage(smallSpec())).files;
}

/** Byte equality without vitest's element-by-element diffing, which crawls over megabytes. */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}

function parse(files: Files): Manifest {
  return JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
}

/** Sets a field to a value of any type, which the Manifest type would not allow. */
function set(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

/** A copy of `files` with the manifest edited; re-sealed unless told otherwise, so deeper checks are reached. */
async function withManifest(
  files: Files,
  edit: (manifest: Manifest) => void,
  options: { seal?: boolean } = {},
): Promise<Files> {
  const manifest = parse(files);
  edit(manifest);
  const written =
    (options.seal ?? true) ? await sealManifest(manifest as UnsealedManifest) : manifest;
  const out = new Map(files);
  out.set(MANIFEST_FILE, encoder.encode(`${JSON.stringify(written, null, 2)}\n`));
  return out;
}

/** A copy with `path` replaced by `bytes`, its manifest entry updated to match and re-sealed. */
async function withFile(files: Files, path: string, bytes: Uint8Array): Promise<Files> {
  const sha256 = await sha256Hex(bytes);
  const out = await withManifest(files, (m) => {
    const entry = m.files.find((f) => f.path === path);
    if (!entry) throw new Error(`no ${path} in the manifest`);
    entry.bytes = bytes.byteLength;
    entry.sha256 = sha256;
  });
  out.set(path, bytes);
  return out;
}

async function rejection(run: Promise<unknown>): Promise<ModelPackageError> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelPackageError);
  return error as ModelPackageError;
}

/** Reads `files` as package "pkg" and asserts the code, the file named and the problem. */
async function expectProblem(
  files: Files,
  code: ModelPackageProblem,
  file: string,
  problem: RegExp,
): Promise<ModelPackageError> {
  const error = await rejection(readModelPackage(memorySource(files, 'pkg')));
  expect(error.code).toBe(code);
  expect(error.file).toBe(`pkg/${file}`);
  expect(error.message.startsWith(`pkg/${file}: `)).toBe(true);
  expect(error.message).toMatch(problem);
  return error;
}

function tensorIndex(manifest: Manifest, name: string): number {
  const index = manifest.tensors.findIndex((t) => t.name === name);
  if (index < 0) throw new Error(`no tensor ${name}`);
  return index;
}

describe('buildModelPackage -> readModelPackage round trip', () => {
  it('keeps every dtype byte for byte across several 4 MiB shards', async () => {
    // 5 MiB of float32 fills a shard alone, 3 MiB of float16 starts the next, 1.5 MiB of int8
    // does not fit beside it, and the small tensors share the last shard (odd sizes test padding).
    const f32 = values(1024 * 1280, 11, 3);
    const f16Source = values(1024 * 1536, 12, 4);
    const q = quantizeInt8(values(1024 * 1536, 13, 0.25));
    const i32 = Int32Array.from({ length: 3001 }, (_, i) => (i * 2654435761) | 0);
    const u8 = Uint8Array.from({ length: 13 }, (_, i) => (i * 37) & 0xff);
    const tail = values(5, 14);
    const ids = Array.from({ length: 300 }, (_, i) => `sku-${(i * 7919) % 100_003}`);
    const spec: PackageSpec = {
      kind: 'sequential-dense',
      name: 'big',
      architecture: { hidden: 64 },
      items: { count: ids.length, ids },
      training: { dataset: 'unit' },
      denseEquivalent: { params: 10_000_000, embeddingParams: 2_000_000 },
      tensors: [
        { name: 'f32', dtype: 'float32', shape: [1024, 1280], data: f32 },
        {
          name: 'f16',
          dtype: 'float16',
          shape: [1024, 1536],
          data: encodeFloat16(f16Source),
          role: 'item-embedding',
        },
        { name: 'i8', dtype: 'int8', shape: [1024, 1536], data: q.data, scale: q.scale },
        { name: 'i32', dtype: 'int32', shape: [3001], data: i32 },
        { name: 'u8', dtype: 'uint8', shape: [13], data: u8 },
        { name: 'tail', dtype: 'float32', shape: [5, 1], data: tail },
      ],
    };
    const built = await buildModelPackage(spec);
    const shards = [...built.files.keys()].filter((p) => p.startsWith('weights-')).sort();
    expect(shards).toEqual(['weights-0.bin', 'weights-1.bin', 'weights-2.bin']);
    expect(new Set(built.manifest.tensors.map((t) => t.file))).toEqual(new Set(shards));
    expect(built.manifest.tensors.find((t) => t.name === 'f32')?.file).toBe('weights-0.bin');
    expect(built.manifest.tensors.find((t) => t.name === 'f16')?.file).toBe('weights-1.bin');
    expect(built.manifest.tensors.find((t) => t.name === 'i8')?.file).toBe('weights-2.bin');
    expect(built.manifest.tensors.find((t) => t.name === 'tail')?.file).toBe('weights-2.bin');
    expect(built.files.get('weights-0.bin')?.byteLength).toBe(5 * 1024 * 1024);
    for (const shard of shards.slice(1)) {
      expect(built.files.get(shard)?.byteLength).toBeLessThanOrEqual(SHARD);
    }

    const pkg = await readModelPackage(memorySource(built.files));
    expect(pkg.manifest).toEqual(built.manifest);
    expect(pkg.itemIds).toEqual(ids);
    expect([...pkg.tensors.keys()]).toEqual(spec.tensors.map((t) => t.name));
    for (const tensor of spec.tensors) {
      const read = pkg.tensors.get(tensor.name);
      expect(read?.dtype).toBe(tensor.dtype);
      expect(read?.shape).toEqual(tensor.shape);
      expect(read?.data.constructor).toBe(tensor.data.constructor);
      expect(read && sameBytes(asBytes(read.data), asBytes(tensor.data)), tensor.name).toBe(true);
      expect(read?.scale).toBe(tensor.scale);
    }

    // Each tensor starts on an 8-byte boundary, inside its shard, after the one before it.
    const byFile = new Map<string, Manifest['tensors']>();
    for (const t of pkg.manifest.tensors) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
    for (const [file, entries] of byFile) {
      let end = 0;
      for (const entry of entries) {
        expect(entry.offset % 8).toBe(0);
        expect(entry.offset).toBeGreaterThanOrEqual(end);
        expect(entry.offset - end).toBeLessThan(8);
        end =
          entry.offset +
          byteLength(
            entry.dtype,
            entry.shape.reduce((a, b) => a * b, 1),
          );
      }
      expect(built.files.get(file)?.byteLength).toBe(end);
    }
    const i32Entry = pkg.manifest.tensors.find((t) => t.name === 'i32');
    const u8Entry = pkg.manifest.tensors.find((t) => t.name === 'u8');
    const tailEntry = pkg.manifest.tensors.find((t) => t.name === 'tail');
    expect(u8Entry?.offset).toBe(Math.ceil(((i32Entry?.offset ?? 0) + 3001 * 4) / 8) * 8);
    expect(tailEntry?.offset).toBe((u8Entry?.offset ?? 0) + 16);

    // Decoded values: float32 and integers exact, float16 within half precision, int8 within scale/2.
    const get = (name: string) => {
      const t = pkg.tensors.get(name);
      if (!t) throw new Error(`no ${name}`);
      return tensorValues(t);
    };
    expect(sameBytes(asBytes(get('f32')), asBytes(f32))).toBe(true);
    // Integers come back as float32 numbers, so those above 2^24 are rounded like Math.fround.
    expect(Array.from(get('i32'))).toEqual(Array.from(i32, Math.fround));
    expect(Array.from(get('u8'))).toEqual(Array.from(u8));
    const halves = get('f16');
    let worstHalf = 0;
    for (let i = 0; i < f16Source.length; i++) {
      const x = f16Source[i] as number;
      // Half-precision rounding: half an ulp, 2^-11 relative, 2^-25 absolute among subnormals.
      worstHalf = Math.max(
        worstHalf,
        Math.abs((halves[i] as number) - x) / Math.max(Math.abs(x) * 2 ** -11, 2 ** -25),
      );
    }
    expect(worstHalf).toBeLessThanOrEqual(1);
    expect(worstHalf).toBeGreaterThan(0.5);
    const dequantised = get('i8');
    const i8Source = values(1024 * 1536, 13, 0.25);
    let worstInt8 = 0;
    for (let i = 0; i < i8Source.length; i++) {
      worstInt8 = Math.max(
        worstInt8,
        Math.abs((dequantised[i] as number) - (i8Source[i] as number)),
      );
    }
    expect(worstInt8).toBeLessThanOrEqual(q.scale / 2 + 1e-7);
    expect(worstInt8).toBeGreaterThan(q.scale / 4);
  });

  it('reports loading progress over all files', async () => {
    const files = await smallPackage();
    const seen: [number, number][] = [];
    await readModelPackage(memorySource(files), {
      onProgress: (done, total) => seen.push([done, total]),
    });
    const total = parse(files).files.reduce((n, f) => n + f.bytes, 0);
    expect(seen.length).toBe(parse(files).files.length);
    expect(seen.at(-1)).toEqual([total, total]);
    expect(seen.every(([, t]) => t === total)).toBe(true);
  });

  it('reads a package without an id map and one without tensors', async () => {
    const spec = smallSpec();
    const noIds = await buildModelPackage({ ...spec, items: { count: 5 } });
    expect(noIds.files.has('items.txt')).toBe(false);
    const pkg = await readModelPackage(memorySource(noIds.files));
    expect(pkg.itemIds).toBeNull();
    expect(pkg.manifest.items).toEqual({ count: 5, idMap: null });

    const empty = await buildModelPackage({
      ...spec,
      tensors: [],
      items: { count: 2, ids: ['x', 'y'] },
    });
    expect([...empty.files.keys()].sort()).toEqual(['items.txt', MANIFEST_FILE]);
    const read = await readModelPackage(memorySource(empty.files));
    expect(read.tensors.size).toBe(0);
    expect(read.manifest.size.bytes).toBe(0);
    expect(read.manifest.size.modelCompression).toBe(1);
  });

  it('round-trips an id map for zero items', async () => {
    const spec = smallSpec();
    const built = await buildModelPackage({ ...spec, items: { count: 0, ids: [] } });
    const pkg = await readModelPackage(memorySource(built.files));
    expect(pkg.itemIds).toEqual([]);
  });

  it('states size figures that follow from the tensors', async () => {
    const { manifest } = await buildModelPackage(smallSpec());
    // float16 6x4 (48 B, item table) + int8 4x3 (12) + float32 3 (12) + int32 5 (20) + uint8 7 (7)
    expect(manifest.size).toEqual({
      params: 24 + 12 + 3 + 5 + 7,
      bytes: 48 + 12 + 12 + 20 + 7,
      denseEquivalentParams: 1000,
      denseEquivalentBytes: 4000,
      embeddingParams: 24,
      embeddingBytes: 48,
      denseEmbeddingBytes: 2400,
      embeddingCompression: 50,
      modelCompression: 4000 / 99,
    });
  });

  it('refuses to build a tensor whose data does not fit its shape', async () => {
    const spec = smallSpec();
    spec.tensors.push({
      name: 'wrong',
      dtype: 'float32',
      shape: [2, 2],
      data: new Float32Array(3),
    });
    await expect(buildModelPackage(spec)).rejects.toThrow(
      /tensor "wrong": 3 values for shape \[2,2\]/,
    );
  });
});

describe('float16 codec', () => {
  it('is exact for every representable half, signed zeros, subnormals and infinities included', () => {
    let checked = 0;
    for (let h = 0; h < 0x10000; h++) {
      const nanPattern = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const x = halfToFloat(h);
      if (nanPattern) {
        expect(x).toBeNaN();
        continue;
      }
      if (floatToHalf(x) !== h)
        throw new Error(`half 0x${h.toString(16)} -> ${x} -> 0x${floatToHalf(x).toString(16)}`);
      checked++;
    }
    expect(checked).toBe(0x10000 - 2 * 1023);
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0400)).toBe(2 ** -14);
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x8001)).toBe(-(2 ** -24));
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(0)).toBe(0);
    expect(halfToFloat(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfToFloat(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(floatToHalf(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(floatToHalf(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    const nan = floatToHalf(Number.NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('rounds to nearest, ties to even, overflowing to infinity and underflowing to zero', () => {
    const cases: [number, number][] = [
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [1 + 2 ** -11, 0x3c00], // tie, down to even
      [1 + 3 * 2 ** -11, 0x3c02], // tie, up to even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2 - 2 ** -12, 0x4000], // mantissa carries into the exponent
      [65504, 0x7bff],
      [65519, 0x7bff], // below the overflow threshold
      [65520, 0x7c00], // the tie above the largest half rounds to infinity
      [-65520, 0xfc00],
      [1e10, 0x7c00],
      [3.4028234663852886e38, 0x7c00],
      [2 ** -25, 0x0000], // half the smallest subnormal: tie to even zero
      [-(2 ** -25), 0x8000],
      [2 ** -25 + 2 ** -35, 0x0001],
      [3 * 2 ** -25, 0x0002], // subnormal tie up to even
      [5 * 2 ** -25, 0x0002], // subnormal tie down to even
      [1023.75 * 2 ** -24, 0x0400], // the largest subnormal rounds up into the normals
      [1e-10, 0x0000],
      [1.401298464324817e-45, 0x0000], // a float32 subnormal
      [-1e-10, 0x8000],
    ];
    for (const [x, h] of cases) {
      expect(floatToHalf(x), `floatToHalf(${x})`).toBe(h);
    }
  });

  it('picks the nearest half for random float32 values', () => {
    const xs = [...values(20_000, 99, 70_000), ...values(5_000, 98, 2 ** -13)];
    const wrong: string[] = [];
    for (const x of xs) {
      const h = floatToHalf(x);
      const y = halfToFloat(h);
      if (Math.abs(x) >= 65520) {
        if (Math.abs(y) !== Number.POSITIVE_INFINITY) wrong.push(`${x} -> ${y}, not infinity`);
        continue;
      }
      const err = Math.abs(y - x);
      // Neither neighbour is closer: one step away from zero, one step towards it.
      const away = halfToFloat(h + 1);
      const toward = (h & 0x7fff) === 0 ? y : halfToFloat(h - 1);
      const closer =
        (Number.isFinite(away) && Math.abs(away - x) < err) || Math.abs(toward - x) < err;
      if (closer || (y !== 0 && Math.sign(y) !== Math.sign(x))) wrong.push(`${x} -> ${y}`);
    }
    expect(wrong).toEqual([]);
  });

  it('encodes arrays element by element', () => {
    const xs = Float32Array.from([0, 1, -1, 0.5, 65504, Number.POSITIVE_INFINITY]);
    expect(Array.from(encodeFloat16(xs))).toEqual([0, 0x3c00, 0xbc00, 0x3800, 0x7bff, 0x7c00]);
    expect(Array.from(toFloat32('float16', encodeFloat16(xs)))).toEqual(Array.from(xs));
  });
});

describe('int8 quantisation', () => {
  it('keeps every value within scale/2 and maps the largest magnitude to ±127', () => {
    for (const [seed, amplitude] of [
      [1, 1],
      [2, 1e-6],
      [3, 1e4],
    ] as const) {
      const xs = values(10_000, seed, amplitude);
      xs[17] = -amplitude; // the extreme sits at -127
      const { data, scale } = quantizeInt8(xs);
      expect(scale).toBeCloseTo(amplitude / 127, 12);
      expect(data[17]).toBe(-127);
      const back = toFloat32('int8', data, scale);
      const wrong: string[] = [];
      let worst = 0;
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i] as number;
        const q = data[i] as number;
        const err = Math.abs((back[i] as number) - x);
        worst = Math.max(worst, err / scale);
        // scale/2 from rounding to an integer, plus the float32 rounding of q * scale.
        if (q < -127 || q > 127 || err > scale / 2 + Math.abs(x) * 2 ** -23) {
          wrong.push(`x=${x} q=${q} err=${err} scale=${scale}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(worst).toBeGreaterThan(0.45);
    }
  });

  it('quantises all zeros with scale 1', () => {
    const { data, scale } = quantizeInt8(new Float32Array(4));
    expect(scale).toBe(1);
    expect(Array.from(data)).toEqual([0, 0, 0, 0]);
  });
});

describe('int4', () => {
  it('packs two values a byte, low nibble first, and unpacks them sign-extended', () => {
    const all = Int8Array.from({ length: 16 }, (_, i) => i - 8);
    const packed = packInt4(all);
    expect(packed).toHaveLength(8);
    expect(packed[0]).toBe(0x98); // -8 (0x8) low, -7 (0x9) high
    expect(Array.from(unpackInt4(packed, 16))).toEqual(Array.from(all));
    // An odd count leaves the last high nibble zero, which the reader checks.
    const odd = Int8Array.from([3, -1, 7]);
    const oddPacked = packInt4(odd);
    expect(Array.from(oddPacked)).toEqual([0xf3, 0x07]);
    expect(int4PaddingIsZero(oddPacked, 3)).toBe(true);
    expect(int4PaddingIsZero(Uint8Array.from([0xf3, 0x17]), 3)).toBe(false);
    expect(Array.from(unpackInt4(oddPacked, 3))).toEqual([3, -1, 7]);
  });

  it('quantises per tensor and per slice within scale/2, on -7..7, per-slice scales exact halves', () => {
    const xs = values(4 * 33, 21, 3);
    xs[5] = -3; // the extreme of row 0
    const whole = quantizeInt(xs, 'int4');
    const rows = quantizeIntAxis(xs, [4, 33], 0, 'int4');
    for (const [data, scaleOf] of [
      [whole.data, () => whole.scale],
      [rows.data, (i: number) => rows.scales.values[Math.floor(i / 33)] as number],
    ] as const) {
      const wrong: string[] = [];
      for (let i = 0; i < xs.length; i++) {
        const scale = scaleOf(i);
        const q = data[i] as number;
        const err = Math.abs(q * scale - (xs[i] as number));
        if (q < -7 || q > 7 || err > scale / 2 + 1e-6) wrong.push(`${i}: q=${q} err=${err}`);
      }
      expect(wrong).toEqual([]);
    }
    // The per-slice scales are stored as halves; the one scale is a manifest number.
    for (const scale of rows.scales.values) {
      expect(halfToFloat(floatToHalf(scale))).toBe(scale);
    }
    // Rounding the scale up to a half never pushes the extreme past the top level.
    expect(rows.data[5]).toBe(-7);
  });

  it('round-trips int4 tensors, one scale or a float16 scale per row, odd counts included', async () => {
    const table = quantizeIntAxis(values(7 * 5, 31, 2), [7, 5], 0, 'int4');
    const odd = quantizeInt(values(3 * 3, 32), 'int4');
    const built = await buildModelPackage({
      kind: 'sequential-test',
      name: 'int4',
      architecture: {},
      items: { count: 6 },
      training: { dataset: 'unit' },
      denseEquivalent: { params: 44, embeddingParams: 35 },
      tensors: [
        { name: 'odd', dtype: 'int4', shape: [3, 3], data: odd.data, scale: odd.scale },
        {
          name: 'table',
          dtype: 'int4',
          shape: [7, 5],
          data: table.data,
          scales: table.scales,
          role: 'item-embedding',
        },
      ],
    });
    // 9 values in 5 bytes, padded to 8 for the next tensor; 35 values in 18 bytes, padded to
    // 20 for the scales, then 7 float16 scales.
    const [oddEntry, tableEntry] = built.manifest.tensors;
    expect(tableEntry?.offset).toBe(8);
    expect(tableEntry?.scales?.offset).toBe(28);
    expect(built.files.get('weights-0.bin')).toHaveLength(42);
    expect(oddEntry?.offset).toBe(0);
    expect(built.manifest.size.bytes).toBe(5 + 18 + 14);
    expect(built.manifest.size.embeddingBytes).toBe(18 + 14);
    const back = await readModelPackage(memorySource(built.files, 'pkg'));
    expect(Array.from(back.tensors.get('odd')?.data ?? [])).toEqual(Array.from(odd.data));
    const readTable = back.tensors.get('table');
    expect(Array.from(readTable?.data ?? [])).toEqual(Array.from(table.data));
    expect(Array.from(readTable?.scales?.values ?? [])).toEqual(Array.from(table.scales.values));
    const decoded = tensorValues(readTable as NonNullable<typeof readTable>);
    expect(decoded[6]).toBeCloseTo((table.data[6] as number) * (table.scales.values[1] as number));
  });

  it('refuses int4 whose padding nibble is set, or whose float16 scales are zero or misplaced', async () => {
    const q = quantizeIntAxis(values(3 * 3, 41), [3, 3], 0, 'int4');
    const files = (
      await buildModelPackage({
        kind: 'sequential-test',
        name: 'int4',
        architecture: {},
        items: { count: 1 },
        training: { dataset: 'unit' },
        denseEquivalent: { params: 9, embeddingParams: 0 },
        tensors: [{ name: 'w', dtype: 'int4', shape: [3, 3], data: q.data, scales: q.scales }],
      })
    ).files;
    const weights = files.get('weights-0.bin') as Uint8Array;
    const padded = weights.slice();
    padded[4] = (padded[4] as number) | 0x10;
    await expectProblem(
      await withFile(files, 'weights-0.bin', padded),
      'bad-quantization',
      'weights-0.bin',
      /int4 tensor "w" has 9 values but its last byte's unused high nibble is not zero/,
    );
    const zeroScale = weights.slice();
    zeroScale.set([0, 0], 8 + 2); // the second row's float16 scale
    await expectProblem(
      await withFile(files, 'weights-0.bin', zeroScale),
      'bad-quantization',
      'weights-0.bin',
      /tensor "w" has scale 0 for slice 1: scales must be positive and finite times 8/,
    );
    const w = tensorIndex(parse(files), 'w');
    await expectProblem(
      await withManifest(files, (m) => set(m.tensors[w]?.scales as object, 'offset', 9)),
      'offset-out-of-range',
      MANIFEST_FILE,
      /the float16 scales of tensor "w" span bytes 9..15 .* or are not 2-byte aligned/,
    );
  });

  it('refuses to build int4 values outside a nibble', async () => {
    const build = (data: Int8Array | Float32Array) =>
      buildModelPackage({
        kind: 'sequential-test',
        name: 'int4',
        architecture: {},
        items: { count: 1 },
        training: { dataset: 'unit' },
        denseEquivalent: { params: 2, embeddingParams: 0 },
        tensors: [{ name: 'w', dtype: 'int4', shape: [2], data, scale: 1 }],
      });
    await expect(build(Int8Array.from([7, 8]))).rejects.toThrow(
      /int4 values must be an Int8Array of values in -8..7/,
    );
    await expect(build(Float32Array.from([1, 2]))).rejects.toThrow(/int4 values/);
    await expect(build(Int8Array.from([-8, 7]))).resolves.toBeDefined();
  });
});

describe('readModelPackage rejects, naming the file', () => {
  it('missing-file: no manifest', async () => {
    const files = await smallPackage();
    files.delete(MANIFEST_FILE);
    await expectProblem(files, 'missing-file', MANIFEST_FILE, /missing/);
  });

  it('missing-file: a listed file', async () => {
    const files = await smallPackage();
    files.delete('items.txt');
    await expectProblem(files, 'missing-file', 'items.txt', /missing/);
  });

  it('truncated', async () => {
    const files = await smallPackage();
    const weights = files.get('weights-0.bin') as Uint8Array;
    files.set('weights-0.bin', weights.subarray(0, weights.length - 1));
    await expectProblem(
      files,
      'truncated',
      'weights-0.bin',
      /truncated: \d+ bytes, the manifest says \d+/,
    );
  });

  it('oversized', async () => {
    const files = await smallPackage();
    files.set('items.txt', encoder.encode('a\nb\nc\nd\ne\nf\n'));
    await expectProblem(
      files,
      'oversized',
      'items.txt',
      /file is longer than the 10 bytes the manifest says/,
    );
  });

  it('hash-mismatch', async () => {
    const files = await smallPackage();
    const weights = (files.get('weights-0.bin') as Uint8Array).slice();
    weights[3] = (weights[3] as number) ^ 0x10;
    files.set('weights-0.bin', weights);
    await expectProblem(
      files,
      'hash-mismatch',
      'weights-0.bin',
      /SHA-256 is [0-9a-f]{64}, the manifest says/,
    );
  });

  it('bad-manifest: not JSON, not UTF-8, not an object', async () => {
    const files = await smallPackage();
    files.set(MANIFEST_FILE, encoder.encode('{"format": "pocketrec-model",'));
    await expectProblem(files, 'bad-manifest', MANIFEST_FILE, /not valid UTF-8 JSON/);
    files.set(MANIFEST_FILE, Uint8Array.from([0x22, 0xff, 0x22]));
    await expectProblem(files, 'bad-manifest', MANIFEST_FILE, /not valid UTF-8 JSON/);
    files.set(MANIFEST_FILE, encoder.encode('[1, 2]'));
    await expectProblem(files, 'bad-manifest', MANIFEST_FILE, /"manifest" must be an object/);
  });

  it('bad-manifest: a missing field, a wrong type, a duplicate, a dangling reference', async () => {
    const files = await smallPackage();
    const cases: [(m: Manifest) => void, RegExp][] = [
      [(m) => set(m, 'format', 'tfjs'), /"format" must be "pocketrec-model"/],
      [(m) => set(m, 'name', undefined), /"name" must be a string/],
      [(m) => set(m, 'createdAt', 20260101), /"createdAt" must be a string/],
      [(m) => set(m, 'kind', 'Sequential'), /is not a model kind/],
      [(m) => set(m.items, 'count', -1), /"items.count" must be a non-negative integer/],
      [(m) => set(m.items, 'count', 2.5), /"items.count" must be a non-negative integer/],
      [(m) => set(m.size, 'params', '99'), /"size.params" must be a non-negative integer/],
      [
        (m) => set(m.training.metrics, 'HR@10', null),
        /"training.metrics.HR@10" must be a finite number/,
      ],
      [(m) => set(m.architecture, 'nested', { a: 1 }), /"architecture.nested" must be an array/],
      [(m) => set(m.architecture, 'mixed', [1, 'a']), /list of numbers or of strings/],
      [(m) => set(m, 'files', {}), /"files" must be an array/],
      [(m) => set(m.files[0] as object, 'sha256', 'ABC'), /is not a SHA-256 hex digest/],
      [(m) => m.files.push({ ...(m.files[0] as Manifest['files'][number]) }), /is listed twice/],
      [
        (m) => m.tensors.push({ ...(m.tensors[0] as Manifest['tensors'][number]) }),
        /tensor "embedding" is listed twice/,
      ],
      [
        (m) => set(m.tensors[1] as object, 'file', 'weights-9.bin'),
        /refers to file "weights-9.bin", which is not in "files"/,
      ],
      [(m) => set(m.items, 'idMap', 'ids.txt'), /items.idMap "ids.txt" is not in "files"/],
      [
        (m) => set(m.tensors[2] as object, 'scale', 0.5),
        /"tensors\[2\].scale" is only allowed on quantised \(int8\) tensors/,
      ],
      [
        (m) => set(m.tensors[2] as object, 'role', 'bias'),
        /"tensors\[2\].role" must be "item-embedding"/,
      ],
      [
        (m) => set(m.tensors[2] as object, 'offset', -8),
        /"tensors\[2\].offset" must be a non-negative integer/,
      ],
    ];
    for (const [edit, problem] of cases) {
      await expectProblem(await withManifest(files, edit), 'bad-manifest', MANIFEST_FILE, problem);
    }
  });

  it('unsupported-version', async () => {
    const files = await smallPackage();
    for (const version of [3, 0, '1', '2', 1.5, null]) {
      const edited = await withManifest(files, (m) => set(m, 'formatVersion', version));
      await expectProblem(
        edited,
        'unsupported-version',
        MANIFEST_FILE,
        /format version .* is not supported \(this pocketrec reads versions 1 and 2\)/,
      );
    }
  });

  it('manifest-digest: an edit without re-sealing', async () => {
    const files = await smallPackage();
    const edits: ((m: Manifest) => void)[] = [
      (m) => set(m, 'name', 'renamed'),
      (m) => set(m.tensors[2] as object, 'offset', 0),
      (m) => set(m.files[0] as object, 'sha256', '0'.repeat(64)),
      (m) => set(m.training.metrics, 'NDCG@10', 0.9),
      (m) => set(m, 'manifestSha256', m.manifestSha256.toUpperCase()),
    ];
    for (const edit of edits) {
      const edited = await withManifest(files, edit, { seal: false });
      await expectProblem(
        edited,
        'manifest-digest',
        MANIFEST_FILE,
        /modified after it was written/,
      );
    }
  });

  it('manifest-digest: a field added without re-sealing', async () => {
    const files = await smallPackage();
    const edits: ((m: Manifest) => void)[] = [
      (m) => set(m, 'license', 'none'),
      (m) => set(m.tensors[0] as object, 'comment', 'edited'),
      (m) => set(m.items, 'extra', 1),
    ];
    for (const edit of edits) {
      const edited = await withManifest(files, edit, { seal: false });
      await expectProblem(
        edited,
        'manifest-digest',
        MANIFEST_FILE,
        /modified after it was written/,
      );
    }
  });

  it('accepts key order and whitespace changes and fields added by a writer that sealed them', async () => {
    const files = await smallPackage();
    const manifest = parse(files);
    const reordered = Object.fromEntries(Object.entries(manifest).reverse());
    const compact = new Map(files).set(MANIFEST_FILE, encoder.encode(JSON.stringify(reordered)));
    const a = await readModelPackage(memorySource(compact));
    expect(a.manifest).toEqual(manifest);
    const extended = await withManifest(files, (m) => set(m, 'license', 'Apache-2.0'));
    const b = await readModelPackage(memorySource(extended));
    // The unknown field is covered by the digest but not passed on.
    expect(b.manifest).toEqual({ ...manifest, manifestSha256: parse(extended).manifestSha256 });
    expect(b.manifest.manifestSha256).not.toBe(manifest.manifestSha256);
  });

  it('bad-path', async () => {
    const files = await smallPackage();
    for (const path of [
      '../x',
      '/etc/passwd',
      'a/b.bin',
      '..',
      '.hidden',
      '',
      MANIFEST_FILE,
      'a\\b',
      'C:x',
    ]) {
      const edited = await withManifest(files, (m) => {
        for (const t of m.tensors) if (t.file === 'weights-0.bin') t.file = path;
        set(m.files[0] as object, 'path', path);
      });
      expect(parse(files).files[0]?.path).toBe('weights-0.bin');
      const error = await expectProblem(
        edited,
        'bad-path',
        MANIFEST_FILE,
        /files\[0\]\.path .* is not a plain file name inside the package/,
      );
      expect(error.message).toContain(JSON.stringify(path));
    }
  });

  it('unknown-dtype', async () => {
    const files = await smallPackage();
    for (const dtype of ['bfloat16', 'float64', 'Float32', '', null]) {
      const edited = await withManifest(files, (m) => set(m.tensors[2] as object, 'dtype', dtype));
      await expectProblem(
        edited,
        'unknown-dtype',
        MANIFEST_FILE,
        /tensor "bias" has unknown dtype/,
      );
    }
  });

  it('bad-shape', async () => {
    const files = await smallPackage();
    for (const shape of [[-3], [1.5], ['3'], [null], [2 ** 53]]) {
      const edited = await withManifest(files, (m) => set(m.tensors[2] as object, 'shape', shape));
      await expectProblem(
        edited,
        'bad-shape',
        MANIFEST_FILE,
        /tensor "bias" has shape .*: dimensions must be non-negative integers/,
      );
    }
  });

  it('offset-out-of-range: past the end, an absurd shape, misaligned, overlapping', async () => {
    const files = await smallPackage();
    const manifest = parse(files);
    const mask = tensorIndex(manifest, 'mask');
    const bias = tensorIndex(manifest, 'bias');
    const weightsBytes = manifest.files.find((f) => f.path === 'weights-0.bin')?.bytes ?? 0;
    const cases: [(m: Manifest) => void, RegExp][] = [
      [
        (m) => set(m.tensors[mask] as object, 'offset', weightsBytes - 3),
        /tensor "mask" spans bytes \d+\.\.\d+ but weights-0.bin has/,
      ],
      [(m) => set(m.tensors[mask] as object, 'offset', 2 ** 53 - 1), /tensor "mask" spans bytes/],
      [
        (m) => set(m.tensors[mask] as object, 'shape', [2 ** 40, 2 ** 40, 2 ** 40]),
        /tensor "mask" with shape .* needs more bytes than weights-0.bin holds/,
      ],
      [
        (m) => set(m.tensors[bias] as object, 'offset', (m.tensors[bias]?.offset ?? 0) + 2),
        /tensor "bias" offset \d+ is not a multiple of its element size 4/,
      ],
      [
        (m) => set(m.tensors[bias] as object, 'offset', (m.tensors[bias]?.offset ?? 0) + 8),
        /tensors "bias" and "index" overlap in weights-0.bin/,
      ],
    ];
    for (const [edit, problem] of cases) {
      await expectProblem(
        await withManifest(files, edit),
        'offset-out-of-range',
        MANIFEST_FILE,
        problem,
      );
    }
  });

  it('non-finite: NaN and infinities in float32 and float16 weights', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const spec = smallSpec();
      const bias = spec.tensors[2];
      if (bias?.dtype !== 'float32') throw new Error('fixture changed');
      bias.data = Float32Array.from([0, 1, bad]);
      const built = await buildModelPackage(spec);
      await expectProblem(
        built.files,
        'non-finite',
        'weights-0.bin',
        /tensor "bias" holds (NaN|-?Infinity) at element 2/,
      );

      const half = smallSpec();
      const embedding = half.tensors[0];
      if (embedding?.dtype !== 'float16') throw new Error('fixture changed');
      const data = encodeFloat16(values(24, 1));
      data[5] = floatToHalf(bad);
      embedding.data = data;
      const builtHalf = await buildModelPackage(half);
      await expectProblem(
        builtHalf.files,
        'non-finite',
        'weights-0.bin',
        /tensor "embedding" holds a non-finite half at element 5/,
      );
    }
  });

  it('bad-quantization', async () => {
    const files = await smallPackage();
    const proj = tensorIndex(parse(files), 'projection');
    for (const scale of [0, -0.1, undefined, '0.1', null]) {
      const edited = await withManifest(files, (m) =>
        set(m.tensors[proj] as object, 'scale', scale),
      );
      await expectProblem(
        edited,
        'bad-quantization',
        MANIFEST_FILE,
        /int8 tensor "projection" needs a positive "scale" whose product with 128 is a finite float32/,
      );
    }
  });

  it('size-figures', async () => {
    const files = await smallPackage();
    const cases: [(m: Manifest) => void, RegExp][] = [
      [
        (m) => set(m.size, 'params', m.size.params + 1),
        /size.params says 52 but the tensors give 51/,
      ],
      [
        (m) => set(m.size, 'bytes', m.size.bytes * 2),
        /size.bytes says 198 but the tensors give 99/,
      ],
      [
        (m) => set(m.size, 'embeddingBytes', 0),
        /size.embeddingBytes says 0 but the tensors give 48/,
      ],
      [
        (m) => set(m.size, 'denseEquivalentBytes', 4004),
        /size.denseEquivalentBytes says 4004 but the tensors give 4000/,
      ],
      [
        (m) => set(m.size, 'modelCompression', 40),
        /size.modelCompression says 40 but the tensors give 40.4/,
      ],
      [
        (m) => set(m.size, 'embeddingCompression', 5),
        /size.embeddingCompression says 5 but the tensors give 50/,
      ],
      // int32 claimed as uint8 still fits its file but shrinks the bytes the figures were made from.
      [
        (m) => set(m.tensors[3] as object, 'dtype', 'uint8'),
        /size.bytes says 99 but the tensors give 84/,
      ],
    ];
    for (const [edit, problem] of cases) {
      await expectProblem(await withManifest(files, edit), 'size-figures', MANIFEST_FILE, problem);
    }
    // Reshaping without changing the element count keeps the figures right: accepted.
    const reshaped = await readModelPackage(
      memorySource(await withManifest(files, (m) => set(m.tensors[2] as object, 'shape', [1, 3]))),
    );
    expect(reshaped.tensors.get('bias')?.shape).toEqual([1, 3]);
  });

  it('bad-item-map', async () => {
    const files = await smallPackage();
    const cases: [string | Uint8Array, RegExp][] = [
      ['a\nb\nc\nd\n', /item id map has 4 ids, the manifest says 5 items/],
      ['a\nb\nc\nd\ne\nf\n', /item id map has 6 ids, the manifest says 5 items/],
      ['a\nb\nc\nb\ne\n', /line 4: item id "b" is listed twice/],
      ['a\nb\n\nd\ne\n', /line 3: item id "" is empty or has surrounding spaces/],
      ['a\nb\nc \nd\ne\n', /line 3: item id "c " is empty or has surrounding spaces/],
      ['a\r\nb\r\nc\r\nd\r\ne\r\n', /line 1: item id "a\\r" is empty or has surrounding spaces/],
      [
        Uint8Array.from([0x61, 0x0a, 0xc3, 0x28, 0x0a, 0x63, 0x0a, 0x64, 0x0a, 0x65, 0x0a]),
        /not valid UTF-8/,
      ],
      ['', /item id map has 0 ids, the manifest says 5 items/],
    ];
    for (const [content, problem] of cases) {
      const bytes = typeof content === 'string' ? encoder.encode(content) : content;
      await expectProblem(
        await withFile(files, 'items.txt', bytes),
        'bad-item-map',
        'items.txt',
        problem,
      );
    }
    // Without the trailing newline the same ids are fine.
    const pkg = await readModelPackage(
      memorySource(await withFile(files, 'items.txt', encoder.encode('a\nb\nc\nd\ne'))),
    );
    expect(pkg.itemIds).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('has a test above for every problem code in errors.ts', () => {
    const declared = [...MODEL_PACKAGE_PROBLEMS];
    const tested: ModelPackageProblem[] = [
      'missing-file',
      'truncated',
      'oversized',
      'hash-mismatch',
      'bad-manifest',
      'unsupported-version',
      'manifest-digest',
      'bad-path',
      'unknown-dtype',
      'bad-shape',
      'offset-out-of-range',
      'non-finite',
      'bad-quantization',
      'size-figures',
      'bad-item-map',
    ];
    expect(declared.sort()).toEqual([...tested].sort());
    expect(DTYPES).toEqual([
      'float32',
      'float16',
      'int8',
      'int4',
      'int32',
      'uint8',
    ] satisfies Dtype[]);
  });
});

describe('directory packages (node-fs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'pocketrec-package-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a package to disk and reads it back', async () => {
    const built = await buildModelPackage(smallSpec());
    const dir = join(root, 'fixture');
    await writePackageDirectory(dir, built.files);
    expect(readdirSync(dir).sort()).toEqual(['items.txt', MANIFEST_FILE, 'weights-0.bin']);
    const pkg = await readModelPackage(directorySource(dir));
    expect(pkg.manifest).toEqual(built.manifest);
    expect(pkg.itemIds).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const tensor of smallSpec().tensors) {
      const read = pkg.tensors.get(tensor.name);
      expect(read && sameBytes(asBytes(read.data), asBytes(tensor.data)), tensor.name).toBe(true);
    }
    // No staging directories are left beside it.
    expect(readdirSync(root).filter((name) => name.includes('fixture'))).toEqual(['fixture']);
  });

  it('replaces an existing package whole, leaving none of its old files', async () => {
    const dir = join(root, 'replaced');
    await writePackageDirectory(dir, await smallPackage());
    writeFileSync(join(dir, 'stale.bin'), 'old');
    const noIds = await buildModelPackage({ ...smallSpec(), items: { count: 5 } });
    await writePackageDirectory(dir, noIds.files);
    expect(readdirSync(dir).sort()).toEqual([MANIFEST_FILE, 'weights-0.bin']);
    expect((await readModelPackage(directorySource(dir))).itemIds).toBeNull();
    expect(readdirSync(root).filter((name) => name.includes('replaced'))).toEqual(['replaced']);
  });

  it('names the absolute path of a file missing on disk', async () => {
    const dir = join(root, 'missing');
    await writePackageDirectory(dir, await smallPackage());
    unlinkSync(join(dir, 'weights-0.bin'));
    const error = await rejection(readModelPackage(directorySource(dir)));
    expect(error.code).toBe('missing-file');
    expect(error.file).toBe(join(dir, 'weights-0.bin'));
    expect(error.message).toBe(`${join(dir, 'weights-0.bin')}: file is missing`);

    const none = await rejection(readModelPackage(directorySource(join(root, 'no-such-package'))));
    expect(none.code).toBe('missing-file');
    expect(none.message).toBe(`${join(root, 'no-such-package', MANIFEST_FILE)}: file is missing`);
  });

  it('names a corrupt file on disk by its path', async () => {
    const dir = join(root, 'corrupt');
    const files = await smallPackage();
    await writePackageDirectory(dir, files);
    const items = (files.get('items.txt') as Uint8Array).slice();
    items[0] = 0x7a; // 'a' -> 'z'
    writeFileSync(join(dir, 'items.txt'), items);
    const error = await rejection(readModelPackage(directorySource(dir)));
    expect(error.code).toBe('hash-mismatch');
    expect(error.file).toBe(join(dir, 'items.txt'));
  });
});

describe('int8 with one scale per slice', () => {
  /** A [5, 3, 2] tensor whose slices along each axis differ a thousandfold in size. */
  function graded(): Float32Array {
    const xs = values(30, 7);
    for (let i = 0; i < xs.length; i++) xs[i] = (xs[i] as number) * 10 ** -(i % 4);
    return xs;
  }
  const SHAPE = [5, 3, 2];

  it("keeps every value within its own slice's scale/2, for rows, the middle and the last axis", () => {
    const xs = graded();
    for (const axis of [0, 1, 2]) {
      const { data, scales } = quantizeInt8Axis(xs, SHAPE, axis);
      expect(scales.axis).toBe(axis);
      expect(scales.values).toHaveLength(SHAPE[axis] as number);
      const stride = SHAPE.slice(axis + 1).reduce((a, b) => a * b, 1);
      const back = toFloat32('int8', data, 1, { ...scales, shape: SHAPE });
      const largest = new Float32Array(SHAPE[axis] as number);
      const wrong: string[] = [];
      for (let i = 0; i < xs.length; i++) {
        const slice = Math.floor(i / stride) % (SHAPE[axis] as number);
        const scale = scales.values[slice] as number;
        const x = xs[i] as number;
        largest[slice] = Math.max(largest[slice] as number, Math.abs(x));
        if (Math.abs((back[i] as number) - x) > scale / 2 + Math.abs(x) * 2 ** -23) {
          wrong.push(`axis ${axis} element ${i}: ${x} -> ${back[i]}`);
        }
      }
      expect(wrong).toEqual([]);
      // Each slice's scale is its own largest magnitude over 127.
      for (let j = 0; j < largest.length; j++) {
        expect(scales.values[j]).toBeCloseTo((largest[j] as number) / 127, 9);
      }
    }
  });

  it('is written after the values, read back, counted in the bytes, and dequantised by tensorValues', async () => {
    const xs = graded();
    const { data, scales } = quantizeInt8Axis(xs, SHAPE, 2);
    const spec = smallSpec();
    spec.tensors.push({ name: 'graded', dtype: 'int8', shape: SHAPE, data, scales });
    const built = await buildModelPackage(spec);
    const entry = built.manifest.tensors.find((t) => t.name === 'graded');
    expect(entry?.scales?.axis).toBe(2);
    // 30 values, padded to 32 so the scales that follow are aligned.
    expect(entry?.scales?.offset).toBe((entry?.offset ?? 0) + 32);
    const plain = await buildModelPackage(smallSpec());
    expect(built.manifest.size.bytes - plain.manifest.size.bytes).toBe(30 + 2 * 4);
    expect(built.manifest.size.params - plain.manifest.size.params).toBe(30);
    const pkg = await readModelPackage(memorySource(built.files, 'pkg'));
    const tensor = pkg.tensors.get('graded');
    expect(Array.from(tensor?.scales?.values ?? [])).toEqual(Array.from(scales.values));
    expect(Array.from(tensorValues(tensor as NonNullable<typeof tensor>))).toEqual(
      Array.from(toFloat32('int8', data, 1, { ...scales, shape: SHAPE })),
    );
  });

  it('refuses scales that are misplaced, out of range or not positive', async () => {
    const { data, scales } = quantizeInt8Axis(graded(), SHAPE, 0);
    const spec = smallSpec();
    spec.tensors.push({ name: 'graded', dtype: 'int8', shape: SHAPE, data, scales });
    const files = (await buildModelPackage(spec)).files;
    const at = tensorIndex(parse(files), 'graded');
    const entry = (m: Manifest) => m.tensors[at] as Manifest['tensors'][number];
    const cases: [(m: Manifest) => void, ModelPackageProblem, RegExp][] = [
      [(m) => set(entry(m), 'scale', 0.1), 'bad-manifest', /has both "scale" and "scales"/],
      [
        (m) => set(entry(m), 'scales', { axis: 3, offset: 0 }),
        'bad-quantization',
        /"tensors\[\d+\].scales.axis" is 3, but the tensor has 3 dimensions/,
      ],
      [(m) => set(entry(m), 'scales', { axis: 0 }), 'bad-manifest', /scales.offset" must be/],
      [
        (m) => set(entry(m), 'scales', { axis: 0, offset: entry(m).offset }),
        'offset-out-of-range',
        /tensor "graded" and the scales of tensor "graded" overlap/,
      ],
      [
        (m) => set(entry(m), 'scales', { axis: 0, offset: 10 ** 6 }),
        'offset-out-of-range',
        /the float32 scales of tensor "graded" span bytes/,
      ],
      [
        (m) => set(m.tensors[tensorIndex(m, 'bias')] as object, 'scales', { axis: 0, offset: 0 }),
        'bad-manifest',
        /only allowed on quantised \(int8\) tensors/,
      ],
    ];
    for (const [edit, code, problem] of cases) {
      await expectProblem(await withManifest(files, edit), code, MANIFEST_FILE, problem);
    }
    // A scale of zero in the file itself.
    const manifest = parse(files);
    const scalesAt = entry(manifest).scales?.offset as number;
    const shard = new Uint8Array(files.get(entry(manifest).file) as Uint8Array);
    new DataView(shard.buffer).setFloat32(scalesAt + 4, 0, true);
    await expectProblem(
      await withFile(files, entry(manifest).file, shard),
      'bad-quantization',
      entry(manifest).file,
      /tensor "graded" has scale 0 for slice 1/,
    );
  });
});
