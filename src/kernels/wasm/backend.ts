/**
 * Selects tfjs's WASM backend with pocketrec's kernels. The same call serves Node training
 * (where the .wasm files are found next to the module) and the browser worker (which passes
 * where it serves them).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmBatchMatMul } from './batch-matmul.ts';

export async function useWasmBackend(
  wasmPaths?: string | Record<string, string>,
  options: { stockKernels?: boolean } = {},
): Promise<void> {
  if (wasmPaths !== undefined) setWasmPaths(wasmPaths);
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('the tfjs WASM backend failed to initialise');
  }
  // Stock kernels only serve as the baseline of `npm run bench:train`.
  if (!options.stockKernels) installWasmBatchMatMul();
}
