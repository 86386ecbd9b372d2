// Minimal WebGPU typing for the smoke page (the project's tsconfig does not load @webgpu/types).

export interface GpuReport {
  /** navigator.gpu exists (the API is exposed). */
  api: boolean;
  /** requestAdapter() gave an adapter. */
  adapter: boolean;
  architecture: string | null;
  vendor: string | null;
  isFallbackAdapter: boolean | null;
}

interface MiniAdapterInfo {
  architecture?: string;
  vendor?: string;
  isFallbackAdapter?: boolean;
}
interface MiniAdapter {
  info?: MiniAdapterInfo;
  isFallbackAdapter?: boolean;
}
interface MiniGpu {
  requestAdapter(): Promise<MiniAdapter | null>;
}

/** Works in a window and in a dedicated worker. */
export async function probeGpu(): Promise<GpuReport> {
  const gpu = (globalThis.navigator as { gpu?: MiniGpu } | undefined)?.gpu;
  if (!gpu) {
    return {
      api: false,
      adapter: false,
      architecture: null,
      vendor: null,
      isFallbackAdapter: null,
    };
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    return { api: true, adapter: false, architecture: null, vendor: null, isFallbackAdapter: null };
  }
  const info = adapter.info ?? {};
  return {
    api: true,
    adapter: true,
    architecture: info.architecture ?? null,
    vendor: info.vendor ?? null,
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
  };
}
