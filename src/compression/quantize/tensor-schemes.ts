/**
 * The ways one float32 weight tensor can be stored smaller, each as the tensor a package
 * would hold. int8 and int4 are symmetric, with one scale for the tensor, one per row
 * (axis 0) or one per output channel (the last axis); which one a tensor gets is chosen by
 * the error it adds to the model's outputs (quantize-package.ts). Vectors (biases, norms,
 * batch-norm statistics) are a few hundred numbers whose every element matters, so they go
 * to float16 under every dtype, or stay float32 where a half cannot hold them.
 */
import {
  byteLength,
  encodeFloat16,
  type IntDtype,
  quantizeInt,
  quantizeIntAxis,
  type StoredArray,
  scalesDtype,
} from '../../package/dtypes.ts';
import type { PackageTensor } from '../../package/reader.ts';

export const QUANTIZE_DTYPES = ['int8', 'int4', 'float16'] as const;
export type QuantizeDtype = (typeof QUANTIZE_DTYPES)[number];

/** How a tensor is stored; 'kept' is a tensor that is not a float weight (codes, counts). */
export type QuantizeScheme =
  | 'kept'
  | 'float32'
  | 'float16'
  | `${IntDtype}-tensor`
  | `${IntDtype}-rows`
  | `${IntDtype}-columns`;

export interface QuantizedCandidate {
  scheme: QuantizeScheme;
  tensor: PackageTensor;
}

/** Largest finite half, and the smallest: below half of it a value rounds to zero. */
const HALF_MAX = 65504;
const HALF_MIN = 2 ** -24;

/**
 * Every value is a half without overflow; for a vector also no nonzero value rounds to zero,
 * since a vector's elements can each matter alone (a batch-norm variance of 0 is refused on
 * load), where a matrix's weight below 3e-8 is noise.
 */
export function fitsFloat16(values: Float32Array, vector: boolean): boolean {
  for (const v of values) {
    const a = Math.abs(v);
    if (a > HALF_MAX || (vector && a > 0 && a < HALF_MIN / 2)) return false;
  }
  return true;
}

function stored(
  source: { name: string; shape: number[] },
  dtype: PackageTensor['dtype'],
  data: StoredArray,
  extra: Partial<PackageTensor> = {},
): PackageTensor {
  return { name: source.name, shape: source.shape, dtype, data, ...extra };
}

/**
 * The candidates for a float32 tensor under `dtype`; one candidate means there is nothing
 * to choose. Tensors of other types (counts, ids, values already quantised) are not weights
 * to quantise and come back as they are.
 */
export function quantizeCandidates(
  tensor: PackageTensor,
  dtype: QuantizeDtype,
): QuantizedCandidate[] {
  if (tensor.dtype !== 'float32') return [{ scheme: 'kept', tensor }];
  const values = tensor.data as Float32Array;
  const half = (): QuantizedCandidate => ({
    scheme: 'float16',
    tensor: stored(tensor, 'float16', encodeFloat16(values)),
  });
  const vector = tensor.shape.length < 2;
  if (dtype === 'float16' || vector) {
    return fitsFloat16(values, vector) ? [half()] : [{ scheme: 'float32', tensor }];
  }
  const whole = quantizeInt(values, dtype);
  const candidates: QuantizedCandidate[] = [
    {
      scheme: `${dtype}-tensor`,
      tensor: stored(tensor, dtype, whole.data, { scale: whole.scale }),
    },
  ];
  const axes: [QuantizeScheme, number][] = [
    [`${dtype}-rows`, 0],
    [`${dtype}-columns`, tensor.shape.length - 1],
  ];
  const halfBytes = byteLength('float16', values.length);
  for (const [scheme, axis] of axes) {
    // Slices so short that their scales make the tensor as large as in float16 (a [rows, 1]
    // column, a d = 4 table by rows) are not worth a scale each.
    const slices = tensor.shape[axis] as number;
    const bytes = byteLength(dtype, values.length) + byteLength(scalesDtype(dtype), slices);
    if (bytes >= halfBytes) continue;
    const { data, scales } = quantizeIntAxis(values, tensor.shape, axis, dtype);
    // A slice past float16's range (int4's scales are halves) cannot be stored this way.
    if (!scales.values.every(Number.isFinite)) continue;
    candidates.push({ scheme, tensor: stored(tensor, dtype, data, { scales }) });
  }
  return candidates;
}
