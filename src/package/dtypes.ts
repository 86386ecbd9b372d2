/**
 * Element types a package may store. float16, int8 and int4 are decoded to float32 on use.
 * int4 packs two values to a byte (the first in the low nibble); in memory it is an
 * Int8Array of one value per element, so only the file's bytes differ from int8.
 */
export const DTYPES = ['float32', 'float16', 'int8', 'int4', 'int32', 'uint8'] as const;
export type Dtype = (typeof DTYPES)[number];

export type StoredArray = Float32Array | Uint16Array | Int8Array | Int32Array | Uint8Array;

const ELEMENT_BITS: Record<Dtype, number> = {
  float32: 32,
  float16: 16,
  int8: 8,
  int4: 4,
  int32: 32,
  uint8: 8,
};

/** Bytes `count` elements take in a file; an odd count of int4 leaves the last high nibble 0. */
export function byteLength(dtype: Dtype, count: number): number {
  return Math.ceil((count * ELEMENT_BITS[dtype]) / 8);
}

/** Per-slice scales are float32 beside int8 values and float16 beside int4 (see INT_LEVELS). */
export function scalesDtype(dtype: Dtype): 'float32' | 'float16' {
  return dtype === 'int4' ? 'float16' : 'float32';
}

/** What a tensor's offset must be a multiple of: its element size, one byte for int4. */
export function alignmentOf(dtype: Dtype): number {
  return Math.max(1, ELEMENT_BITS[dtype] / 8);
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/**
 * Views little-endian bytes as the stored type; copies so the result is aligned and owned.
 * int4 is unpacked, `count` values (by default two per byte); whether an odd count's unused
 * nibble is zero is the reader's check (int4PaddingIsZero).
 */
export function viewAs(dtype: Dtype, bytes: Uint8Array, count = bytes.length * 2): StoredArray {
  const buffer = bytes.slice().buffer;
  switch (dtype) {
    case 'int4':
      return unpackInt4(bytes, count);
    case 'float32':
      return new Float32Array(buffer);
    case 'float16':
      return new Uint16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'uint8':
      return new Uint8Array(buffer);
  }
}

export function asBytes(data: StoredArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The bytes a tensor's values take in a file: its elements as they are, or int4 packed. */
export function storedBytes(dtype: Dtype, data: StoredArray): Uint8Array {
  return dtype === 'int4' ? packInt4(data as Int8Array) : asBytes(data);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 -> binary32, exact (every half is representable as a float). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** binary32 -> binary16 with round-to-nearest-even, overflow to infinity. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let m = mantissa >>> shift;
    if (rest > half || (rest === half && m & 1)) m += 1;
    return sign | m;
  }
  let m = mantissa >>> 13;
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m += 1;
    if (m === 0x400) {
      m = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i] as number);
  return out;
}

/**
 * The symmetric integer grids a package stores weights on: q in -levels..levels, x ≈ q · scale.
 * int8 is one value per byte; int4 packs two per byte (packInt4) and keeps its per-slice
 * scales in float16, since a float32 scale would add a quarter to a 32-wide row's 16 bytes.
 */
export const INT_LEVELS = { int8: 127, int4: 7 } as const;
export type IntDtype = keyof typeof INT_LEVELS;

/**
 * max / levels, or 1 for an all-zero slice. `half`: the scale is stored as a float16 (int4's
 * per-slice scales), so it is rounded up to the next half, so that max / scale never exceeds
 * the top level; past float16's range that is Infinity, which no package may store.
 */
function scaleFor(dtype: IntDtype, max: number, half: boolean): number {
  if (!(max > 0)) return 1;
  const scale = max / INT_LEVELS[dtype];
  if (!half) return scale;
  const rounded = halfToFloat(floatToHalf(scale));
  return rounded >= scale ? rounded : halfToFloat(floatToHalf(scale) + 1);
}

function roundToGrid(value: number, scale: number, levels: number): number {
  return Math.max(-levels, Math.min(levels, Math.round(value / scale)));
}

/** Symmetric per-tensor quantisation: q = round(x / scale), scale = max|x| / levels. */
export function quantizeInt(
  values: Float32Array,
  dtype: IntDtype = 'int8',
): { data: Int8Array; scale: number } {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  const scale = scaleFor(dtype, max, false);
  const levels = INT_LEVELS[dtype];
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    data[i] = roundToGrid(values[i] as number, scale, levels);
  }
  return { data, scale };
}

/** quantizeInt on the int8 grid. */
export function quantizeInt8(values: Float32Array): { data: Int8Array; scale: number } {
  return quantizeInt(values, 'int8');
}

/**
 * One scale per slice of a tensor along `axis` (0: per row; the last axis: per output
 * channel of a [in, out] kernel), stored beside the quantised values (float32 for int8,
 * float16 for int4).
 */
export interface AxisScales {
  axis: number;
  values: Float32Array;
}

/** The number of elements between neighbours along `axis` of a row-major tensor. */
function strideOf(shape: readonly number[], axis: number): number {
  let stride = 1;
  for (let d = axis + 1; d < shape.length; d++) stride *= shape[d] as number;
  return stride;
}

/**
 * Symmetric quantisation with one scale per slice along `axis`: a row of a table whose rows
 * differ a hundredfold in size keeps its own precision, where one scale for the whole tensor
 * would round its small rows to a few levels.
 */
export function quantizeIntAxis(
  values: Float32Array,
  shape: readonly number[],
  axis: number,
  dtype: IntDtype = 'int8',
): { data: Int8Array; scales: AxisScales } {
  const size = shape[axis] as number;
  const stride = strideOf(shape, axis);
  const max = new Float32Array(size);
  for (let i = 0; i < values.length; i++) {
    const slice = Math.floor(i / stride) % size;
    max[slice] = Math.max(max[slice] as number, Math.abs(values[i] as number));
  }
  const scales = new Float32Array(size);
  const half = scalesDtype(dtype) === 'float16';
  for (let j = 0; j < size; j++) scales[j] = scaleFor(dtype, max[j] as number, half);
  const levels = INT_LEVELS[dtype];
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const scale = scales[Math.floor(i / stride) % size] as number;
    data[i] = roundToGrid(values[i] as number, scale, levels);
  }
  return { data, scales: { axis, values: scales } };
}

/** quantizeIntAxis on the int8 grid. */
export function quantizeInt8Axis(
  values: Float32Array,
  shape: readonly number[],
  axis: number,
): { data: Int8Array; scales: AxisScales } {
  return quantizeIntAxis(values, shape, axis, 'int8');
}

/** int4 values (-8..7, one per Int8Array element) packed two per byte, the first in the low nibble. */
export function packInt4(values: Int8Array): Uint8Array {
  const bytes = new Uint8Array(byteLength('int4', values.length));
  for (let i = 0; i < values.length; i++) {
    const nibble = (values[i] as number) & 0xf;
    bytes[i >> 1] = (bytes[i >> 1] as number) | (i & 1 ? nibble << 4 : nibble);
  }
  return bytes;
}

/** Whether the unused high nibble after an odd count of packed int4 values is zero. */
export function int4PaddingIsZero(bytes: Uint8Array, count: number): boolean {
  return count % 2 === 0 || (bytes[byteLength('int4', count) - 1] ?? 0) >> 4 === 0;
}

/** `count` int4 values out of packed bytes (at least byteLength('int4', count)), sign-extended. */
export function unpackInt4(bytes: Uint8Array, count: number): Int8Array {
  const values = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const nibble = i & 1 ? (bytes[i >> 1] as number) >> 4 : (bytes[i >> 1] as number) & 0xf;
    values[i] = nibble >= 8 ? nibble - 16 : nibble;
  }
  return values;
}

/**
 * The tensor as float32 numbers (dequantised where it was stored compactly). int8 and int4 take
 * either one `scale` or per-slice `scales`; `shape` is needed for the latter.
 */
export function toFloat32(
  dtype: Dtype,
  data: StoredArray,
  scale = 1,
  scales?: { axis: number; values: Float32Array; shape: readonly number[] },
): Float32Array {
  if (dtype === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === 'float16') {
    for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i] as number);
  } else if ((dtype === 'int8' || dtype === 'int4') && scales) {
    const stride = strideOf(scales.shape, scales.axis);
    const size = scales.values.length;
    for (let i = 0; i < data.length; i++) {
      out[i] = (data[i] as number) * (scales.values[Math.floor(i / stride) % size] as number);
    }
  } else if (dtype === 'int8' || dtype === 'int4') {
    for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) * scale;
  } else {
    for (let i = 0; i < data.length; i++) out[i] = data[i] as number;
  }
  return out;
}
