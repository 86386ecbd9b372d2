/**
 * Post-training quantisation of a whole package: each weight tensor stored as int8, int4 or
 * float16, the integer scheme (one scale, per row, per output channel) chosen tensor by
 * tensor as the one that changes the model's outputs least on validation inputs, with
 * every other tensor still float32. The error is measured on what a shopper would see
 * change, the scores, rather than on the weights, because a tensor's weight error says
 * little about its effect: a small error in an attention kernel can move every score.
 * Per-slice scales cost 4 bytes a slice beside int8 (half again a d = 8 table's int8 bytes)
 * and 2 beside int4, so a
 * scheme that stores more must halve the error (COSTLIER_MUST_CUT) to be chosen.
 */
import { INT_LEVELS, type IntDtype } from '../../package/dtypes.ts';
import type { ModelPackage, PackageTensor } from '../../package/reader.ts';
import { tensorBytes } from '../../package/size.ts';
import { type QuantizeDtype, type QuantizeScheme, quantizeCandidates } from './tensor-schemes.ts';

/** The share of the error a costlier scheme must remove against the best cheaper one. */
export const COSTLIER_MUST_CUT = 0.5;

/** The outputs of the model a package builds, on fixed validation inputs, in a fixed order. */
export type PackageOutputs = (pkg: ModelPackage) => Promise<Float32Array>;

export interface TensorChoice {
  name: string;
  scheme: QuantizeScheme;
  /** addedError of the chosen scheme with every other tensor float32 (0 when no choice was made). */
  error: number;
  /** Each scheme tried, with its error and bytes; empty when there was one candidate. */
  tried: { scheme: QuantizeScheme; error: number; bytes: number }[];
  bytes: number;
  sourceBytes: number;
}

export interface QuantizedPackage {
  /** The source package with every tensor replaced by its chosen form (manifest unchanged). */
  pkg: ModelPackage;
  choices: TensorChoice[];
  /** addedError of the whole quantised model. */
  error: number;
}

/**
 * Mean squared change of the outputs over the variance of the reference outputs: 0 is no
 * change, 1 an error as large as the outputs' own spread. Entries the reference leaves
 * non-finite (the padding item's -Infinity) are not outputs and are skipped.
 */
export function addedError(reference: Float32Array, outputs: Float32Array): number {
  if (reference.length !== outputs.length) {
    throw new Error(`outputs differ in length: ${reference.length} and ${outputs.length}`);
  }
  let n = 0;
  let sum = 0;
  let sumSquares = 0;
  let change = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    if (!Number.isFinite(r)) continue;
    const d = (outputs[i] as number) - r;
    n++;
    sum += r;
    sumSquares += r * r;
    change += d * d;
  }
  if (n === 0) return 0;
  const variance = sumSquares / n - (sum / n) ** 2;
  return variance > 0 ? change / n / variance : change / n;
}

/**
 * The cheapest scheme, unless one that stores more cuts its error by COSTLIER_MUST_CUT (and
 * so on up the sizes); among schemes of equal size, the least error.
 */
export function chooseScheme<T extends { error: number; bytes: number }>(tried: readonly T[]): T {
  const bySize = [...tried].sort((a, b) => a.bytes - b.bytes);
  let best = bySize[0] as T;
  for (const candidate of bySize.slice(1)) {
    const bar = candidate.bytes === best.bytes ? best.error : best.error * (1 - COSTLIER_MUST_CUT);
    if (candidate.error < bar) best = candidate;
  }
  return best;
}

const withTensor = (pkg: ModelPackage, tensor: PackageTensor): ModelPackage => ({
  ...pkg,
  tensors: new Map(pkg.tensors).set(tensor.name, tensor),
});

/**
 * The package with every float32 matrix on the grid quantisation-aware training saw: a scale
 * per row, max|row| / levels (model/ops/fake-quant.ts gridRows). A package `train --qat`
 * wrote before it stored its weights so holds the float weights the grid was taken from; its
 * quantisation must be measured against the model the loss saw, or the search prefers the
 * scheme closest to float weights no forward pass used.
 */
export function onTrainingGrid(pkg: ModelPackage, dtype: IntDtype): ModelPackage {
  const levels = INT_LEVELS[dtype];
  let gridded = pkg;
  for (const tensor of pkg.tensors.values()) {
    if (tensor.dtype !== 'float32' || tensor.shape.length < 2) continue;
    const values = tensor.data as Float32Array;
    const width = values.length / (tensor.shape[0] as number);
    const out = new Float32Array(values.length);
    for (let start = 0; start < values.length; start += width) {
      let max = 0;
      for (let i = start; i < start + width; i++)
        max = Math.max(max, Math.abs(values[i] as number));
      const scale = Math.max(max / levels, 1e-12);
      for (let i = start; i < start + width; i++) {
        out[i] = Math.round((values[i] as number) / scale) * scale;
      }
    }
    gridded = withTensor(gridded, { ...tensor, data: out });
  }
  return gridded;
}

export async function quantizePackage(
  source: ModelPackage,
  dtype: QuantizeDtype,
  outputsOf: PackageOutputs,
  onTensor?: (done: number, total: number) => void,
): Promise<QuantizedPackage> {
  const reference = await outputsOf(source);
  const choices: TensorChoice[] = [];
  let quantized = source;
  const tensors = [...source.tensors.values()];
  for (const [index, tensor] of tensors.entries()) {
    const candidates = quantizeCandidates(tensor, dtype);
    const tried: TensorChoice['tried'] = [];
    let best = candidates[0] as (typeof candidates)[number];
    let bestError = 0;
    if (candidates.length > 1) {
      for (const candidate of candidates) {
        const error = addedError(reference, await outputsOf(withTensor(source, candidate.tensor)));
        tried.push({ scheme: candidate.scheme, error, bytes: tensorBytes(candidate.tensor) });
      }
      const chosen = chooseScheme(tried);
      best = candidates[tried.indexOf(chosen)] as (typeof candidates)[number];
      bestError = chosen.error;
    }
    choices.push({
      name: tensor.name,
      scheme: best.scheme,
      error: bestError,
      tried,
      bytes: tensorBytes(best.tensor),
      sourceBytes: tensorBytes(tensor),
    });
    quantized = withTensor(quantized, best.tensor);
    onTensor?.(index + 1, tensors.length);
  }
  return { pkg: quantized, choices, error: addedError(reference, await outputsOf(quantized)) };
}
