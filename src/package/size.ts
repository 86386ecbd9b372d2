import { byteLength, type Dtype, scalesDtype } from './dtypes.ts';
import type { SizeFigures } from './manifest.ts';

interface SizedTensor {
  dtype: Dtype;
  shape: number[];
  role?: 'item-embedding';
  scales?: { axis: number };
}

/** The network this model stands in for, counted in float32 parameters. */
export interface DenseEquivalent {
  /** All parameters of the same network with a dense float32 item table. */
  params: number;
  /** Parameters of that dense item table alone. */
  embeddingParams: number;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes of the stored values alone. */
export function valueBytes(tensor: { dtype: Dtype; shape: readonly number[] }): number {
  return byteLength(tensor.dtype, elementCount(tensor.shape));
}

/** Scales stored per slice along an axis (int8: float32, int4: float16), or none. */
export function scaleBytes(tensor: {
  dtype: Dtype;
  shape: readonly number[];
  scales?: { axis: number };
}): number {
  if (!tensor.scales) return 0;
  return byteLength(scalesDtype(tensor.dtype), tensor.shape[tensor.scales.axis] as number);
}

/** What the tensor costs a download: its values and their per-slice scales. */
export function tensorBytes(tensor: {
  dtype: Dtype;
  shape: readonly number[];
  scales?: { axis: number };
}): number {
  return valueBytes(tensor) + scaleBytes(tensor);
}

/** Size figures follow from the tensors and the dense equivalent; they are stored for readers' convenience. */
export function sizeFigures(tensors: readonly SizedTensor[], dense: DenseEquivalent): SizeFigures {
  let params = 0;
  let bytes = 0;
  let embeddingParams = 0;
  let embeddingBytes = 0;
  for (const tensor of tensors) {
    const n = elementCount(tensor.shape);
    const b = tensorBytes(tensor);
    params += n;
    bytes += b;
    if (tensor.role === 'item-embedding') {
      embeddingParams += n;
      embeddingBytes += b;
    }
  }
  const denseEquivalentBytes = dense.params * 4;
  const denseEmbeddingBytes = dense.embeddingParams * 4;
  return {
    params,
    bytes,
    denseEquivalentParams: dense.params,
    denseEquivalentBytes,
    embeddingParams,
    embeddingBytes,
    denseEmbeddingBytes,
    embeddingCompression: embeddingBytes > 0 ? denseEmbeddingBytes / embeddingBytes : 1,
    modelCompression: bytes > 0 ? denseEquivalentBytes / bytes : 1,
  };
}
