/**
 * Chooses the tfjs backend the worker runs on: WebGPU when there is a usable adapter,
 * else WASM, else the plain CPU backend.
 *
 * `tf.setBackend` resolves false (it does not throw) when a backend fails to initialise,
 * e.g. WebGPU with a null adapter, and `tf.getBackend()` may still name it afterwards; so
 * the result is what decides, never the name. The WebGPU backend only registers when
 * `navigator.gpu` exists at import, hence the dynamic import.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { useWasmBackend } from '../../kernels/wasm/backend.ts';
import type { BackendName, BackendPreference } from './backend-preference.ts';

export {
  BACKEND_PREFERENCES,
  type BackendName,
  type BackendPreference,
} from './backend-preference.ts';

export interface ActiveBackend {
  name: BackendName;
  /** The WebGPU adapter's architecture/vendor (e.g. 'swiftshader'), when on WebGPU. */
  adapter: string | null;
  /**
   * The WASM binary tfjs loaded, when on WASM: SIMD, and threads (the threaded binary
   * needs a cross-origin isolated page; `threads` is the pool size it chose).
   */
  wasm: { simd: boolean; threaded: boolean; threads: number } | null;
  /** Why a backend earlier in the order was passed over. */
  fallbacks: string[];
}

/** Where the page serves tfjs's .wasm files (undefined in Node: found next to the module). */
export type WasmPaths = Record<string, string> | undefined;

interface GpuAdapterInfo {
  architecture?: string;
  vendor?: string;
  description?: string;
}

function webgpuAdapterInfo(): string | null {
  const backend = tf.findBackend('webgpu') as unknown as { adapterInfo?: GpuAdapterInfo } | null;
  const info = backend?.adapterInfo;
  if (!info) return null;
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || null;
}

/**
 * Dispatches tfjs records before it submits on its own: more than a request makes (123 and
 * 138 for the ML-1M models in test/browser/webgpu-request.test.ts), so each request's work
 * goes to the GPU as one command buffer, submitted by its read of the top k. The cost: what
 * tfjs frees in between is released only at that submit, which bounds nothing at load time
 * but the ops before the warm-up's first read.
 */
export const WEBGPU_DISPATCHES_PER_SUBMIT = 1000;

async function tryWebgpu(): Promise<string | null> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } })?.gpu;
  if (!gpu) return 'this browser exposes no WebGPU (navigator.gpu is missing)';
  // Asked here, before tfjs does, so a null adapter is named rather than a failed init.
  if (!(await gpu.requestAdapter())) return 'WebGPU has no adapter on this device';
  await import('@tensorflow/tfjs-backend-webgpu');
  // The module registers itself only where it judges WebGPU usable; setBackend would throw.
  if (!tf.findBackendFactory('webgpu')) return 'the tfjs WebGPU backend did not register';
  if (!(await tf.setBackend('webgpu'))) return 'the tfjs WebGPU backend failed to initialise';
  // Small ops would otherwise run on the CPU and copy back and forth every request.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  // tfjs submits every 15 dispatches by default: a request's few dozen would be several
  // command buffers, each a trip to the GPU process. Its one read submits them all at once.
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', WEBGPU_DISPATCHES_PER_SUBMIT);
  return null;
}

async function wasmFeatures(): Promise<NonNullable<ActiveBackend['wasm']>> {
  const [simd, threaded] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  ]);
  return { simd: Boolean(simd), threaded: Boolean(simd && threaded), threads: getThreadsCount() };
}

async function tryWasm(wasmPaths: WasmPaths): Promise<string | null> {
  try {
    // tfjs's threaded binary starts its pthread workers from its factory function's source
    // text (toString()); once a production build has minified that function, it names
    // variables only the bundle defines and every pthread worker dies ("e is not defined"),
    // taking this worker with it, on cross-origin isolated pages only. The SIMD binary
    // without threads works in every build; the fused kernels are single-threaded too.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await useWasmBackend(wasmPaths);
    return null;
  } catch (error) {
    return `the tfjs WASM backend failed to initialise (${String(error)})`;
  }
}

/**
 * Selects the first backend that initialises, in the order the preference implies: an
 * explicit choice is tried first and falls back down webgpu → wasm → cpu rather than fail.
 */
export async function selectBackend(
  preference: BackendPreference,
  wasmPaths: WasmPaths,
): Promise<ActiveBackend> {
  const order: BackendName[] =
    preference === 'cpu'
      ? ['cpu']
      : preference === 'wasm'
        ? ['wasm', 'cpu']
        : ['webgpu', 'wasm', 'cpu'];
  const fallbacks: string[] = [];
  for (const name of order) {
    const problem =
      name === 'webgpu'
        ? await tryWebgpu()
        : name === 'wasm'
          ? await tryWasm(wasmPaths)
          : (await tf.setBackend('cpu'))
            ? null
            : 'the tfjs CPU backend failed to initialise';
    if (problem === null) {
      return {
        name,
        adapter: name === 'webgpu' ? webgpuAdapterInfo() : null,
        wasm: name === 'wasm' ? await wasmFeatures() : null,
        fallbacks,
      };
    }
    fallbacks.push(`${name}: ${problem}`);
  }
  throw new Error(`no tfjs backend initialised: ${fallbacks.join('; ')}`);
}

/** The WebGPU device's `lost` promise, when the worker runs on WebGPU. */
export function webgpuDeviceLost(): Promise<{ reason?: string; message?: string }> | null {
  const backend = tf.findBackend('webgpu') as unknown as {
    device?: { lost: Promise<{ reason?: string; message?: string }> };
  } | null;
  return backend?.device?.lost ?? null;
}

/** Destroys the WebGPU device: what a driver reset does, for tests of the recovery path. */
export function destroyWebgpuDevice(): boolean {
  const backend = tf.findBackend('webgpu') as unknown as { device?: { destroy(): void } } | null;
  if (!backend?.device) return false;
  backend.device.destroy();
  return true;
}
