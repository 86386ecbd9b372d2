/**
 * The floor under any WebGPU request, measured in a dedicated worker as the engine runs: one
 * command encoder that uploads a query (256 bytes, a d 64 float32 vector), runs one
 * workgroup of a shader that reads it and writes 20 numbers (a top-10 of scores and rows),
 * copies those 80 bytes to a mappable buffer, submits, and waits for the map. No request
 * that answers on the GPU can take less; beside the WASM rows it says whether a WebGPU path
 * can pay for a model at all.
 */

export interface WebgpuFloor {
  calls: number;
  /** Upload, dispatch, read back: p50 ms; null where no adapter was given. */
  p50Ms: number | null;
  p95Ms: number | null;
  /** The adapter's own words (vendor, architecture, description), or why there is none. */
  adapter: string;
}

const WORKER = `
const SHADER = \`
@group(0) @binding(0) var<storage, read> query: array<f32>;
@group(0) @binding(1) var<storage, read_write> top: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32) {
  if (i < 20u) { top[i] = query[i] * 2.0; }
}\`;
onmessage = async (e) => {
  const calls = e.data;
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  if (!adapter) {
    postMessage({ times: [], adapter: navigator.gpu ? 'requestAdapter() gave none' : 'no navigator.gpu' });
    return;
  }
  const info = adapter.info ?? {};
  const described = [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ');
  const device = await adapter.requestDevice();
  const query = device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const top = device.createBuffer({ size: 80, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 80, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' },
  });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: query } }, { binding: 1, resource: { buffer: top } }],
  });
  const vector = new Float32Array(64);
  const times = [];
  let check = 0;
  for (let i = -20; i < calls; i++) {
    const started = performance.now();
    vector[0] = i;
    device.queue.writeBuffer(query, 0, vector);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(top, 0, read, 0, 80);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    check = new Float32Array(read.getMappedRange())[0];
    read.unmap();
    if (i >= 0) times.push(performance.now() - started);
  }
  device.destroy();
  postMessage({ times, adapter: described || '(no description)', check });
};`;

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

export async function measureWebgpuFloor(calls = 200): Promise<WebgpuFloor> {
  const worker = new Worker(URL.createObjectURL(new Blob([WORKER], { type: 'text/javascript' })));
  try {
    const result = await new Promise<{ times: number[]; adapter: string; check?: number }>(
      (resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => reject(new Error(`webgpu floor worker: ${e.message}`));
        worker.postMessage(calls);
      },
    );
    // The shader doubled the last query's first number: the read-back is the GPU's answer.
    if (result.times.length > 0 && result.check !== 2 * (calls - 1)) {
      throw new Error(`webgpu floor: read back ${result.check}, expected ${2 * (calls - 1)}`);
    }
    return {
      calls: result.times.length,
      p50Ms: quantile(result.times, 0.5),
      p95Ms: quantile(result.times, 0.95),
      adapter: result.adapter,
    };
  } finally {
    worker.terminate();
  }
}
