import type { ModelPackage } from '../../package/reader.ts';
import type { EngineOptions } from './engine.ts';
import { FusedEngine } from './fused-engine.ts';
import { fusedModelFromPackage } from './fused-sequential-scorer.ts';
import type { InferenceEngine } from './inference-engine.ts';

/**
 * The engine for `pkg`: FusedEngine for a next-item model the kernels run (a dense table, or
 * a tensor-train table small enough to build: fusedModelFromPackage), when the
 * page allows WASM ('auto' or 'wasm'), leaves the fused path on and asks for no ranker (the
 * ranker is a CTR model on tfjs); else Engine, whose module (and tfjs with it) is loaded
 * here, on demand. 'auto' prefers the kernels to WebGPU for a model whose table they hold:
 * a request is a fraction of a millisecond on the CPU, less than one GPU submission and
 * read-back; a large tensor-train table goes to WebGPU when it has an adapter.
 * A browser whose WASM has no SIMD cannot compile the kernels: Engine serves it, and says so.
 */
export async function openEngine(
  pkg: ModelPackage,
  options: EngineOptions,
  wants: { ranker: boolean },
): Promise<InferenceEngine> {
  const fusable =
    !wants.ranker &&
    options.fused !== false &&
    (options.backend === 'auto' || options.backend === 'wasm');
  let model = fusable ? fusedModelFromPackage(pkg, options) : null;
  // A table scored through its cores is milliseconds of CPU a request (a million rows: 2.3 ms
  // here): 'auto' leaves it to the WGSL kernel where there is a GPU, as before the kernels
  // could score it (how the two compare on real GPUs is unmeasured).
  if (model?.weights.table.kind === 'tensor-train' && options.backend === 'auto') {
    if (await hasWebgpuAdapter()) model = null;
  }
  let passedOver: string | null = null;
  if (model) {
    try {
      return await FusedEngine.create(pkg, model, options);
    } catch (error) {
      if (!(error instanceof WebAssembly.CompileError)) throw error;
      passedOver = `fused WASM kernels: this browser cannot compile them (${error.message})`;
    }
  }
  const { Engine } = await import('./engine.ts');
  const engine = await Engine.create(pkg, options);
  if (passedOver) engine.backend.fallbacks.push(passedOver);
  return engine;
}

/** Whether the page's WebGPU has an adapter (asked without tfjs; failures count as none). */
async function hasWebgpuAdapter(): Promise<boolean> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } })?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}
