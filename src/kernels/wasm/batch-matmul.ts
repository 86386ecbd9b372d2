/**
 * BatchMatMul for tfjs's WASM backend that transposes its operands first.
 *
 * The stock WASM kernel is about 8x slower when `transposeA`/`transposeB` is set than an
 * explicit Transpose followed by a plain product (6400x64 by 64x64: 24.5 ms against
 * 2.9 ms, ../shared/ENVIRONMENT.md). Backward passes set those flags on nearly every
 * product, and scoring a query against an item table sets `transposeB`, so training and
 * inference both go through this kernel.
 *
 * The stock kernel is fast (XNNPACK) only for a single product; a batch of products runs a
 * plain loop at under 1 GFLOP/s (attention, [128, 200, 64] by [128, 64, 200], measured
 * 0.6 GFLOP/s against 15 for one 2-D product). So a batch is run as one 2-D product per
 * element, copied in and out of the WASM heap, or as one tall product when the right
 * operand is shared by the whole batch.
 */
import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from '@tensorflow/tfjs';

interface BatchMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** The parts of tfjs's BackendWasm this kernel uses. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object): void;
}

/** Swaps the last two axes, as the product's transpose flags mean. */
function lastTwoAxesSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

let installed = false;

/** Replaces the WASM backend's BatchMatMul; idempotent. Call after importing the backend. */
export function installWasmBatchMatMul(): void {
  if (installed) return;
  const stock = getKernel('BatchMatMul', 'wasm');
  const transpose = getKernel('Transpose', 'wasm');
  const reshape = getKernel('Reshape', 'wasm');
  if (stock === undefined || transpose === undefined || reshape === undefined) {
    throw new Error(
      'the tfjs WASM backend is not registered: import @tensorflow/tfjs-backend-wasm',
    );
  }
  const stockFunc = stock.kernelFunc;
  const transposeFunc = transpose.kernelFunc;
  const reshapeFunc = reshape.kernelFunc;

  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const temporaries: TensorInfo[] = [];
    const transposed = (x: TensorInfo): TensorInfo => {
      const out = transposeFunc({
        inputs: { x },
        backend,
        attrs: { perm: lastTwoAxesSwapped(x.shape.length) },
      }) as TensorInfo;
      temporaries.push(out);
      return out;
    };
    const a = transposeA ? transposed(inputs.a as TensorInfo) : (inputs.a as TensorInfo);
    const b = transposeB ? transposed(inputs.b as TensorInfo) : (inputs.b as TensorInfo);
    const result = plainProduct(a, b, backend as unknown as WasmHeapBackend, attrs ?? {});
    const heap = backend as unknown as WasmHeapBackend;
    for (const t of temporaries) heap.disposeData(t.dataId);
    return result;
  };

  /** a [..., M, K] times b [..., K, N], neither transposed. */
  function plainProduct(
    a: TensorInfo,
    b: TensorInfo,
    heap: WasmHeapBackend,
    attrs: NamedAttrMap,
  ): TensorInfo {
    const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
    const run = (x: TensorInfo, y: TensorInfo) =>
      stockFunc({
        inputs: { a: x, b: y },
        backend: heap as never,
        attrs: plainAttrs,
      }) as TensorInfo;
    const [M, K] = a.shape.slice(-2) as [number, number];
    const N = b.shape[b.shape.length - 1] as number;
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    if (batchA <= 1 && batchB <= 1) return run(a, b);
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), M, N];
    if (batchB === 1) {
      // One shared right operand: a single tall product over all of a's rows.
      const tall = reshapeFunc({
        inputs: { x: a },
        backend: heap as never,
        attrs: { shape: [batchA * M, K] },
      }) as TensorInfo;
      const flatB = reshapeFunc({
        inputs: { x: b },
        backend: heap as never,
        attrs: { shape: [K, N] },
      }) as TensorInfo;
      const product = run(tall, flatB);
      heap.disposeData(tall.dataId);
      heap.disposeData(flatB.dataId);
      const shaped = reshapeFunc({
        inputs: { x: product },
        backend: heap as never,
        attrs: { shape: outShape },
      }) as TensorInfo;
      heap.disposeData(product.dataId);
      return shaped;
    }
    const batch = Math.max(batchA, batchB);
    const out = heap.makeOutput(outShape, 'float32');
    const aItem = heap.makeOutput([M, K], 'float32');
    for (let i = 0; i < batch; i++) {
      // A fresh right operand each time: XNNPACK caches its packed copy by tensor id.
      const bItem = heap.makeOutput([K, N], 'float32');
      const ai = batchA === 1 ? 0 : i;
      // Views are taken afresh each time: the WASM heap may grow, and move, on any allocation.
      const aValues = heap.typedArrayFromHeap(a);
      heap.typedArrayFromHeap(aItem).set(aValues.subarray(ai * M * K, (ai + 1) * M * K));
      const bValues = heap.typedArrayFromHeap(b);
      heap.typedArrayFromHeap(bItem).set(bValues.subarray(i * K * N, (i + 1) * K * N));
      const product = run(aItem, bItem);
      heap.typedArrayFromHeap(out).set(heap.typedArrayFromHeap(product), i * M * N);
      heap.disposeData(product.dataId);
      heap.disposeData(bItem.dataId);
    }
    heap.disposeData(aItem.dataId);
    return out;
  }

  const replacement: KernelConfig = { ...stock, kernelFunc };
  unregisterKernel('BatchMatMul', 'wasm');
  registerKernel(replacement);
  installed = true;
}
