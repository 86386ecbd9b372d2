/**
 * tfjs's backends as tfjs ships them, for the bench's baseline: no pocketrec kernel, no
 * pocketrec setting (WebGPU keeps its default WEBGPU_CPU_FORWARD). One exception, as in the
 * runtime (src/runtime/engine/backend.ts): WASM without threads, since the threaded binary's
 * workers die in a minified build (`bench:engine --site built`); on this 2-core machine it
 * started one thread anyway (docs/benchmarks.md).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendName } from '../../runtime/engine/backend.ts';
import { WASM_PATHS } from '../../runtime/wasm-paths.ts';

export async function useStockBackend(name: BackendName): Promise<string> {
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm') {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    setWasmPaths(WASM_PATHS);
  }
  if (!(await tf.setBackend(name)))
    throw new Error(`the tfjs ${name} backend failed to initialise`);
  return tf.getBackend();
}
