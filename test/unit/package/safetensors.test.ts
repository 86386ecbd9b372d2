// The safetensors reader on files built here: every dtype it takes, the metadata block, and
// each hostile file the issue names (a header length past the file, overlapping offsets,
// an unknown dtype, a million tensors), which end in typed errors having read no more than
// the header's stated bound.
import { describe, expect, it } from 'vitest';
import { floatToHalf } from '../../../src/package/dtypes.ts';
import {
  type ByteSource,
  bytesSource,
  readSafetensors,
  SAFETENSORS_LIMITS,
  SafetensorsError,
  type SafetensorsProblem,
} from '../../../src/package/safetensors.ts';

interface Raw {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file: header JSON (extents laid out in order), then the raw bytes. */
function fileOf(
  tensors: Record<string, Raw>,
  metadata?: Record<string, string>,
  edit: (header: Record<string, unknown>) => void = () => {},
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  edit(header);
  return assemble(
    JSON.stringify(header),
    Object.values(tensors).map((t) => t.bytes),
  );
}

function assemble(json: string, parts: Uint8Array[], statedLength?: bigint): Uint8Array {
  const text = new TextEncoder().encode(json);
  const dataBytes = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, statedLength ?? BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const f16 = (values: number[]): Uint8Array =>
  new Uint8Array(Uint16Array.from(values, floatToHalf).buffer);
/** bfloat16: the top half of each float32 (these values are exact in it). */
const bf16 = (values: number[]): Uint8Array =>
  new Uint8Array(
    Uint16Array.from(new Uint32Array(Float32Array.from(values).buffer), (u) => u >>> 16).buffer,
  );
const i64 = (values: bigint[]): Uint8Array => new Uint8Array(BigInt64Array.from(values).buffer);

const read = (bytes: Uint8Array) => readSafetensors(bytesSource(bytes), 'model.safetensors');

async function problemOf(promise: Promise<unknown>): Promise<SafetensorsProblem> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SafetensorsError);
  expect((error as SafetensorsError).message).toMatch(/^model\.safetensors: /);
  return (error as SafetensorsError).code;
}

describe('readSafetensors: good files', () => {
  it('reads F32, F16, BF16 and I64 tensors as float32, and the metadata block', async () => {
    const file = fileOf(
      {
        weight: { dtype: 'F32', shape: [2, 3], bytes: f32([1, -2, 3.5, 0, 1e-3, -7]) },
        half: { dtype: 'F16', shape: [3], bytes: f16([0.5, -1.25, 65504]) },
        brain: { dtype: 'BF16', shape: [2], bytes: bf16([-3, 0.15625]) },
        ids: { dtype: 'I64', shape: [3], bytes: i64([0n, 7n, -(2n ** 24n)]) },
        scalar: { dtype: 'F32', shape: [], bytes: f32([2]) },
        empty: { dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
      },
      { config: '{"dim":3}', format: 'pt' },
    );
    const { metadata, tensors } = await read(file);
    expect(metadata).toEqual({ config: '{"dim":3}', format: 'pt' });
    expect([...tensors.keys()].sort()).toEqual(
      ['brain', 'empty', 'half', 'ids', 'scalar', 'weight'].sort(),
    );
    const weight = tensors.get('weight');
    expect(weight?.shape).toEqual([2, 3]);
    expect(weight?.dtype).toBe('F32');
    expect([...(weight?.values ?? [])]).toEqual([...Float32Array.from([1, -2, 3.5, 0, 1e-3, -7])]);
    expect([...(tensors.get('half')?.values ?? [])]).toEqual([0.5, -1.25, 65504]);
    expect([...(tensors.get('brain')?.values ?? [])]).toEqual([-3, 0.15625]);
    expect([...(tensors.get('ids')?.values ?? [])]).toEqual([0, 7, -(2 ** 24)]);
    expect([...(tensors.get('scalar')?.values ?? [])]).toEqual([2]);
    expect(tensors.get('empty')?.values.length).toBe(0);
  });

  it('takes a header padded with spaces and data at any alignment', async () => {
    const header = JSON.stringify({
      a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      b: { dtype: 'F32', shape: [1], data_offsets: [1, 5] },
    });
    const file = assemble(`${header}   `, [Uint8Array.of(3), f32([0.25])]);
    const { tensors, metadata } = await read(file);
    expect(metadata).toEqual({});
    expect(tensors.get('a')?.values[0]).toBe(3);
    expect(tensors.get('b')?.values[0]).toBe(0.25);
  });
});

describe('readSafetensors: hostile files end in typed errors', () => {
  const good = { w: { dtype: 'F32', shape: [2], bytes: f32([1, 2]) } };

  it('a file too short for the header length', async () => {
    expect(await problemOf(read(new Uint8Array(5)))).toBe('truncated');
  });

  it('a header length past the end of the file', async () => {
    const file = fileOf(good);
    new DataView(file.buffer).setBigUint64(0, BigInt(file.length), true);
    expect(await problemOf(read(file))).toBe('truncated');
    new DataView(file.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(await problemOf(read(file))).toBe('oversized');
  });

  it('overlapping offsets, a hole, and offsets past the data', async () => {
    const two = {
      a: { dtype: 'F32', shape: [2], bytes: f32([1, 2]) },
      b: { dtype: 'F32', shape: [2], bytes: f32([3, 4]) },
    };
    const overlap = fileOf(two, undefined, (h) => {
      (h.b as { data_offsets: number[] }).data_offsets = [4, 12];
      (h.a as { data_offsets: number[] }).data_offsets = [0, 8];
    });
    // b's 8 bytes from 4 leave 4 bytes at the end unclaimed too; the overlap is found first.
    expect(await problemOf(read(overlap))).toBe('overlapping-offsets');
    const hole = fileOf(two, undefined, (h) => {
      (h.b as { shape: number[] }).shape = [1];
      (h.b as { data_offsets: number[] }).data_offsets = [12, 16];
    });
    expect(await problemOf(read(hole))).toBe('incomplete-buffer');
    const past = fileOf(good, undefined, (h) => {
      (h.w as { data_offsets: number[] }).data_offsets = [0, 4096];
      (h.w as { shape: number[] }).shape = [1024];
    });
    expect(await problemOf(read(past))).toBe('offset-out-of-range');
    const backwards = fileOf(good, undefined, (h) => {
      (h.w as { data_offsets: number[] }).data_offsets = [8, 0];
    });
    expect(await problemOf(read(backwards))).toBe('offset-out-of-range');
  });

  it('an unknown dtype is named', async () => {
    const file = fileOf({ w: { dtype: 'F8_E4M3', shape: [2], bytes: new Uint8Array(2) } });
    const error = await read(file).catch((e: SafetensorsError) => e);
    expect((error as SafetensorsError).code).toBe('unknown-dtype');
    expect((error as SafetensorsError).message).toContain('"F8_E4M3"');
  });

  it('a shape that does not fill its extent, even one whose product overflows', async () => {
    const wrong = fileOf(good, undefined, (h) => {
      (h.w as { shape: number[] }).shape = [3];
    });
    expect(await problemOf(read(wrong))).toBe('bad-shape');
    const huge = fileOf(good, undefined, (h) => {
      (h.w as { shape: number[] }).shape = [2 ** 40, 2 ** 40, 2 ** 40, 0];
    });
    expect(await problemOf(read(huge))).toBe('bad-shape');
    const negative = fileOf(good, undefined, (h) => {
      (h.w as { shape: number[] }).shape = [-2];
    });
    expect(await problemOf(read(negative))).toBe('bad-shape');
  });

  it('headers that are not JSON objects, and metadata that is not strings', async () => {
    expect(await problemOf(read(assemble('{"a":', [])))).toBe('bad-header');
    expect(await problemOf(read(assemble('[1,2]', [])))).toBe('bad-header');
    expect(await problemOf(read(assemble('"x"', [])))).toBe('bad-header');
    const badUtf8 = assemble('{}', []);
    badUtf8[8] = 0xff;
    expect(await problemOf(read(badUtf8))).toBe('bad-header');
    const numbers = fileOf(good, undefined, (h) => {
      h.__metadata__ = { epochs: 3 };
    });
    expect(await problemOf(read(numbers))).toBe('bad-header');
  });

  it('non-finite weights and integers float32 cannot hold', async () => {
    const nan = fileOf({ w: { dtype: 'F32', shape: [2], bytes: f32([1, Number.NaN]) } });
    expect(await problemOf(read(nan))).toBe('non-finite');
    const inf = fileOf({ w: { dtype: 'F16', shape: [1], bytes: f16([Infinity]) } });
    expect(await problemOf(read(inf))).toBe('non-finite');
    const big = fileOf({ w: { dtype: 'I64', shape: [1], bytes: i64([2n ** 24n + 1n]) } });
    expect(await problemOf(read(big))).toBe('not-representable');
    const huge = fileOf({ w: { dtype: 'I64', shape: [1], bytes: i64([2n ** 62n]) } });
    expect(await problemOf(read(huge))).toBe('not-representable');
  });

  it('a million tensors: refused by the stated header length, before any of it is read', async () => {
    // A header of 10^6 entries is tens of megabytes; the source serves it lazily and records
    // what the reader asks for, which must be the 8-byte length alone.
    const entry = (i: number) =>
      `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`.length + 1;
    let headerLength = 2;
    for (let i = 0; i < 1_000_000; i++) headerLength += entry(i);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLength), true);
    const asked: number[] = [];
    const source: ByteSource = {
      size: 8 + headerLength,
      read: async (offset, length) => {
        asked.push(length);
        if (offset !== 0 || length !== 8) throw new Error('read past the length prefix');
        return prefix;
      },
    };
    const error = await readSafetensors(source, 'model.safetensors').catch((e) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(error.code).toBe('oversized');
    expect(asked).toEqual([8]);
  });

  it('more tensors than allowed within an allowed header: refused at the limit', async () => {
    const entries = Array.from(
      { length: 10_000 },
      (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
    );
    const file = assemble(`{${entries.join(',')}}`, []);
    expect(file.length).toBeLessThan(SAFETENSORS_LIMITS.headerBytes);
    expect(await problemOf(read(file))).toBe('too-many-tensors');
  });
});
