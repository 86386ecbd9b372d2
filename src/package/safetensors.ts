/**
 * A reader of safetensors files (the format PyTorch trainers, Hugging Face and RecBole users
 * save weights in): a little-endian u64 header length N, N bytes of JSON naming each tensor's
 * dtype, shape and [begin, end) byte offsets into the data that follows, then the data.
 *
 * The same discipline as the package reader (reader.ts): nothing is allocated in proportion
 * to a number the file merely states. The header's length is checked against a bound and
 * against the file before it is read; the tensor count is bounded; every shape is checked
 * against its byte extent dimension by dimension, every extent against the data, and the
 * extents must tile the data exactly (no overlap, no hole), as the format requires. Values
 * are widened to float32 (F16, BF16) or cast to it (integers, exactly or not at all), and
 * a non-finite weight is refused by name. Every failure is a SafetensorsError naming the
 * file and the problem.
 */
import { PocketrecError } from '../errors.ts';
import { halfToFloat } from './dtypes.ts';

export const SAFETENSORS_PROBLEMS = [
  'truncated',
  'oversized',
  'bad-header',
  'too-many-tensors',
  'unknown-dtype',
  'bad-shape',
  'offset-out-of-range',
  'overlapping-offsets',
  'incomplete-buffer',
  'non-finite',
  'not-representable',
  'missing-tensor',
] as const;
export type SafetensorsProblem = (typeof SAFETENSORS_PROBLEMS)[number];

/** A safetensors file that must not be used, naming the file and the problem. */
export class SafetensorsError extends PocketrecError {
  declare readonly code: SafetensorsProblem;
  readonly file: string;

  constructor(code: SafetensorsProblem, file: string, problem: string) {
    super(code, `${file}: ${problem}`);
    this.file = file;
  }
}

/**
 * What a reader accepts at most. The header is parsed whole, so its bound is what parsing
 * may cost: 1 MiB (as a package's manifest, MAX_MANIFEST_BYTES) holds the header of
 * thousands of tensors; a SASRec teacher has a few dozen, a large language model about a
 * thousand. A file stating more is refused before its header is read.
 */
export const SAFETENSORS_LIMITS = {
  headerBytes: 1024 * 1024,
  tensors: 4096,
  rank: 8,
  /** The data after the header: a teacher to distil for the browser, not a language model. */
  dataBytes: 2 ** 31,
};
export type SafetensorsLimits = typeof SAFETENSORS_LIMITS;

/** Bytes of each element type this reader takes; any other dtype is refused by name. */
const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

export interface SafetensorsTensor {
  name: string;
  /** As stored; `values` is float32 whatever it was. */
  dtype: SafetensorsDtype;
  shape: number[];
  values: Float32Array;
}

export interface SafetensorsFile {
  /** The header's `__metadata__`: string to string, as the format defines it (empty if none). */
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** Where the bytes come from: a file read piece by piece (Node), or bytes in memory. */
export interface ByteSource {
  size: number;
  /** `length` bytes from `offset`; the reader never asks past `size`. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

interface Extent {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads and checks a whole safetensors file: its metadata and every tensor as float32. */
export async function readSafetensors(
  source: ByteSource,
  where: string,
  limits: SafetensorsLimits = SAFETENSORS_LIMITS,
): Promise<SafetensorsFile> {
  const fail = (code: SafetensorsProblem, problem: string): never => {
    throw new SafetensorsError(code, where, problem);
  };
  if (source.size < 8)
    fail('truncated', `${source.size} bytes, shorter than the 8-byte header length`);
  const prefix = new DataView(copy(await source.read(0, 8)).buffer);
  const headerBytes = prefix.getBigUint64(0, true);
  if (headerBytes > BigInt(limits.headerBytes)) {
    fail('oversized', `header of ${headerBytes} bytes, above the ${limits.headerBytes} allowed`);
  }
  const n = Number(headerBytes);
  if (8 + n > source.size) {
    fail('truncated', `header of ${n} bytes runs past the end of the file (${source.size} bytes)`);
  }
  const dataStart = 8 + n;
  const dataBytes = source.size - dataStart;
  if (dataBytes > limits.dataBytes) {
    fail('oversized', `${dataBytes} bytes of data, above the ${limits.dataBytes} allowed`);
  }
  const { metadata, extents } = parseHeader(await source.read(8, n), dataBytes, limits, fail);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of extents) {
    const bytes = await source.read(dataStart + e.begin, e.end - e.begin);
    tensors.set(e.name, {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      values: decode(e, bytes, fail),
    });
  }
  return { metadata, tensors };
}

/** The header's entries, each checked, and the extents tiling [0, dataBytes) exactly. */
function parseHeader(
  bytes: Uint8Array,
  dataBytes: number,
  limits: SafetensorsLimits,
  fail: (code: SafetensorsProblem, problem: string) => never,
): { metadata: Record<string, string>; extents: Extent[] } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return fail('bad-header', `header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isObject(header)) return fail('bad-header', 'header is not a JSON object');
  const metadata: Record<string, string> = {};
  const extents: Extent[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(value)) return fail('bad-header', '__metadata__ is not an object');
      for (const [key, text] of Object.entries(value)) {
        if (typeof text !== 'string') fail('bad-header', `__metadata__.${key} is not a string`);
        metadata[key] = text as string;
      }
      continue;
    }
    if (extents.length >= limits.tensors) {
      fail('too-many-tensors', `more than the ${limits.tensors} tensors allowed`);
    }
    extents.push(extentOf(name, value, dataBytes, limits, fail));
  }
  extents.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Extent | null = null;
  for (const e of extents) {
    if (previous && e.begin < covered) {
      fail(
        'overlapping-offsets',
        `tensors "${previous.name}" (bytes ${previous.begin}..${previous.end}) and "${e.name}" (${e.begin}..${e.end}) overlap`,
      );
    }
    if (e.begin > covered) {
      fail('incomplete-buffer', `bytes ${covered}..${e.begin} of the data belong to no tensor`);
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== dataBytes) {
    fail('incomplete-buffer', `bytes ${covered}..${dataBytes} of the data belong to no tensor`);
  }
  return { metadata, extents };
}

function extentOf(
  name: string,
  value: unknown,
  dataBytes: number,
  limits: SafetensorsLimits,
  fail: (code: SafetensorsProblem, problem: string) => never,
): Extent {
  if (!isObject(value)) return fail('bad-header', `tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    return fail(
      'unknown-dtype',
      `tensor "${name}" has dtype ${JSON.stringify(dtype)}; this reader takes ${Object.keys(DTYPE_BYTES).join(', ')}`,
    );
  }
  const size = DTYPE_BYTES[dtype as SafetensorsDtype];
  if (
    !Array.isArray(shape) ||
    shape.length > limits.rank ||
    !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
  ) {
    return fail(
      'bad-shape',
      `tensor "${name}" has shape ${JSON.stringify(shape)}: at most ${limits.rank} non-negative integers`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    return fail(
      'offset-out-of-range',
      `tensor "${name}" has data_offsets ${JSON.stringify(offsets)}: [begin, end] with 0 <= begin <= end`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) {
    fail(
      'offset-out-of-range',
      `tensor "${name}" spans bytes ${begin}..${end} but the data has ${dataBytes}`,
    );
  }
  // Dimension by dimension, so an absurd shape cannot overflow into a plausible size.
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (elements * size > end - begin) break;
  }
  if (elements * size !== end - begin) {
    fail(
      'bad-shape',
      `tensor "${name}" of shape [${shape}] and dtype ${dtype} does not fill its ${end - begin} bytes`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The extent's little-endian elements as float32, every one finite and exactly cast. */
function decode(
  e: Extent,
  bytes: Uint8Array,
  fail: (code: SafetensorsProblem, problem: string) => never,
): Float32Array {
  const view = new DataView(copy(bytes).buffer);
  const size = DTYPE_BYTES[e.dtype];
  const out = new Float32Array(bytes.byteLength / size);
  const integer = !e.dtype.startsWith('F') && e.dtype !== 'BF16';
  for (let i = 0; i < out.length; i++) {
    const at = i * size;
    let v: number;
    switch (e.dtype) {
      case 'F64':
        v = view.getFloat64(at, true);
        break;
      case 'F32':
        v = view.getFloat32(at, true);
        break;
      case 'F16':
        v = halfToFloat(view.getUint16(at, true));
        break;
      case 'BF16':
        u32[0] = view.getUint16(at, true) << 16;
        v = f32[0] as number;
        break;
      case 'I64': {
        const big = view.getBigInt64(at, true);
        v = big > 2n ** 53n || big < -(2n ** 53n) ? Number.NaN : Number(big);
        break;
      }
      case 'I32':
        v = view.getInt32(at, true);
        break;
      case 'I16':
        v = view.getInt16(at, true);
        break;
      case 'I8':
        v = view.getInt8(at);
        break;
      default:
        v = view.getUint8(at);
    }
    out[i] = v;
    if (integer && out[i] !== v) {
      fail(
        'not-representable',
        `tensor "${e.name}" (${e.dtype}) holds an integer at element ${i} that float32 cannot hold exactly`,
      );
    }
    if (!Number.isFinite(out[i] as number)) {
      fail('non-finite', `tensor "${e.name}" holds ${out[i]} at element ${i}`);
    }
  }
  return out;
}

/** An aligned copy, so a DataView may be laid over bytes at any offset of a larger buffer. */
function copy(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
