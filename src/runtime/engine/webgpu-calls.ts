/**
 * What a request asks of the GPU, counted in the worker for tests and benchmarks (the debug
 * action 'webgpu-calls'): compute dispatches, command buffers submitted, buffers mapped for reading and the bytes
 * mapped. These are counts, not times, so they hold on SwiftShader as on a real GPU: a
 * request that submits once and maps only its top k waits on the GPU once.
 *
 * The counters wrap GPUQueue.submit and GPUBuffer.mapAsync on their prototypes the first time
 * they are asked for; a worker that never is runs the browser's own functions.
 */

export interface WebgpuCalls {
  /** Compute dispatches recorded (dispatchWorkgroups). */
  dispatches: number;
  /** queue.submit() calls (each ends a command encoder's work). */
  submits: number;
  /** Command buffers in them. */
  commandBuffers: number;
  /** mapAsync() calls, each a wait for the GPU to finish and hand memory back. */
  maps: number;
  /** Bytes those maps asked for. */
  mappedBytes: number;
}

let counts: WebgpuCalls | null = null;
const ZERO = (): WebgpuCalls => ({
  dispatches: 0,
  submits: 0,
  commandBuffers: 0,
  maps: 0,
  mappedBytes: 0,
});

function install(): WebgpuCalls | null {
  const scope = globalThis as unknown as {
    GPUQueue?: { prototype: { submit(buffers: Iterable<unknown>): void } };
    GPUComputePassEncoder?: { prototype: { dispatchWorkgroups(...sizes: number[]): void } };
    GPUBuffer?: {
      prototype: {
        size: number;
        mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
      };
    };
  };
  const queue = scope.GPUQueue?.prototype;
  const buffer = scope.GPUBuffer?.prototype;
  const pass = scope.GPUComputePassEncoder?.prototype;
  if (!queue || !buffer || !pass) return null;
  const tally: WebgpuCalls = ZERO();
  const dispatch = pass.dispatchWorkgroups;
  pass.dispatchWorkgroups = function (this: unknown, ...sizes: number[]) {
    tally.dispatches++;
    return dispatch.apply(this, sizes);
  };
  const submit = queue.submit;
  queue.submit = function (this: unknown, buffers: Iterable<unknown>) {
    const list = [...buffers];
    tally.submits++;
    tally.commandBuffers += list.length;
    return submit.call(this, list);
  };
  const mapAsync = buffer.mapAsync;
  buffer.mapAsync = function (
    this: { size: number },
    mode: number,
    offset = 0,
    size?: number,
  ): Promise<void> {
    tally.maps++;
    tally.mappedBytes += size ?? this.size - offset;
    return mapAsync.call(this, mode, offset, size);
  };
  return tally;
}

/**
 * The counts since the last call (the first call starts counting and returns zeros); null
 * where this worker has no WebGPU.
 */
export function takeWebgpuCalls(): WebgpuCalls | null {
  if (!counts) {
    counts = install();
    return counts && { ...counts };
  }
  const taken = { ...counts };
  Object.assign(counts, ZERO());
  return taken;
}
