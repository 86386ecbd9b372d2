/**
 * Where tfjs's WASM backend finds its binaries in the browser: Vite serves (and in a
 * build, copies and hashes) them from this origin, which the pages' CSP requires. The
 * library build (scripts/build-library.ts) puts each binary beside the worker bundle
 * instead, and each import becomes `new URL('./<file>.wasm', import.meta.url)`, which an
 * app's bundler follows in turn.
 */
import plain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export const WASM_PATHS: Record<string, string> = {
  'tfjs-backend-wasm.wasm': plain,
  'tfjs-backend-wasm-simd.wasm': simd,
  'tfjs-backend-wasm-threaded-simd.wasm': threadedSimd,
};
