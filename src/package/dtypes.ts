/** Element types a package may store. float16 and int8 are decoded to float32 on use. */
export const DTYPES = ['float32', 'float16', 'int8', 'int32', 'uint8'] as const;
export type Dtype = (typeof DTYPES)[number];

export type StoredArray = Float32Array | Uint16Array | Int8Array | Int32Array | Uint8Array;

export const BYTES_PER_ELEMENT: Record<Dtype, number> = {
  float32: 4,
  float16: 2,
  int8: 1,
  int32: 4,
  uint8: 1,
};

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/** Views little-endian bytes as the stored type; copies so the result is aligned and owned. */
export function viewAs(dtype: Dtype, bytes: Uint8Array): StoredArray {
  const buffer = bytes.slice().buffer;
  switch (dtype) {
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

/** Symmetric per-tensor int8 quantisation: q = round(x / scale), scale = max|x| / 127. */
export function quantizeInt8(values: Float32Array): { data: Int8Array; scale: number } {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  const scale = max > 0 ? max / 127 : 1;
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round((values[i] as number) / scale);
  return { data, scale };
}

/**
 * One int8 scale per slice of a tensor along `axis` (0: per row; the last axis: per output
 * channel of a [in, out] kernel), stored as float32 beside the quantised values.
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
 * Symmetric int8 quantisation with one scale per slice along `axis`: a row of a table whose
 * rows differ a hundredfold in size keeps its own precision, where one scale for the whole
 * tensor would round its small rows to a few levels.
 */
export function quantizeInt8Axis(
  values: Float32Array,
  shape: readonly number[],
  axis: number,
): { data: Int8Array; scales: AxisScales } {
  const size = shape[axis] as number;
  const stride = strideOf(shape, axis);
  const max = new Float32Array(size);
  for (let i = 0; i < values.length; i++) {
    const slice = Math.floor(i / stride) % size;
    max[slice] = Math.max(max[slice] as number, Math.abs(values[i] as number));
  }
  const scales = new Float32Array(size);
  for (let j = 0; j < size; j++) scales[j] = (max[j] as number) > 0 ? (max[j] as number) / 127 : 1;
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const scale = scales[Math.floor(i / stride) % size] as number;
    data[i] = Math.round((values[i] as number) / scale);
  }
  return { data, scales: { axis, values: scales } };
}

/**
 * The tensor as float32 numbers (dequantised where it was stored compactly). int8 takes
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
  } else if (dtype === 'int8' && scales) {
    const stride = strideOf(scales.shape, scales.axis);
    const size = scales.values.length;
    for (let i = 0; i < data.length; i++) {
      out[i] = (data[i] as number) * (scales.values[Math.floor(i / stride) % size] as number);
    }
  } else if (dtype === 'int8') {
    for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) * scale;
  } else {
    for (let i = 0; i < data.length; i++) out[i] = data[i] as number;
  }
  return out;
}
