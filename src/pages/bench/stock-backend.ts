/**
 * tfjs's backends as tfjs ships them, for the bench's baseline: no pocketrec kernel, no
 * pocketrec setting (WebGPU keeps its default WEBGPU_CPU_FORWARD). In a production build
 * (`bench:engine --site built`) WASM goes without threads, as the runtime always does
 * (src/runtime/engine/backend.ts): the threaded binary's pthread workers die once minified.
 * The dev server keeps tfjs's own choice, so the baseline is the one developers run.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendName } from '../../runtime/engine/backend.ts';
import { WASM_PATHS } from '../../runtime/wasm-paths.ts';

export async function useStockBackend(name: BackendName): Promise<string> {
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm') {
    if (import.meta.env.PROD) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    setWasmPaths(WASM_PATHS);
  }
  if (!(await tf.setBackend(name)))
    throw new Error(`the tfjs ${name} backend failed to initialise`);
  return tf.getBackend();
}
