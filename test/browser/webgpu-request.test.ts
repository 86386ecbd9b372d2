// What one request asks of the GPU on the WebGPU engine, counted in the worker (submits,
// maps, bytes mapped: engine/webgpu-calls.ts). Counts, not times: they hold on SwiftShader.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  startServer,
  type TestServer,
} from './harness.ts';

const PAGE = '/test/browser/pages/runtime.html';

let server: TestServer;
let session: ChromiumSession;

beforeAll(async () => {
  server = await startServer();
  session = await launchChromium({ webgpu: true });
});

afterAll(async () => {
  await session?.close();
  await server?.close();
});

describe('a request on WebGPU', () => {
  // A built (dense) table and an unbuilt tensor-train one, each scored and ranked in its WGSL
  // kernel, the encoder on tfjs's ops (fused: false) or in the fused WASM kernels (the
  // default), against the same requests on WASM.
  test.each([
    // tfjs's ops: 123 and 138 dispatches a request here, left unbounded.
    ['/models/ml-1m-compact', 100_000, 'dense-table', false, null],
    ['/models/ml-1m-tt-r12', 1, 'tt-webgpu-kernel', false, null],
    // The kernel and the merge; the tensor-train query's contraction before them.
    ['/models/ml-1m-compact', 100_000, 'fused-wasm+webgpu', true, 2],
    ['/models/ml-1m-tt-r12', 1, 'fused-wasm+webgpu', true, 16],
  ])(
    '%s (materialiseRows %d, %s): one submit, one map of the top k',
    async (model, materialiseRows, scoring, fused, dispatchesAtMost) => {
      const page = await session.newPage();
      const errors = collectErrors(page);
      await page.goto(server.url + PAGE);
      await page.waitForSelector('body[data-ready="true"]');
      const outcome = await page.evaluate(
        async ({ model, materialiseRows, fused }) => {
          const open = (backend: 'webgpu' | 'wasm') =>
            window.pocketrec.createRecommender({
              model,
              backend,
              materialiseRows,
              fused,
              debug: true,
              databases: {
                history: `gpu-calls-${backend}-${materialiseRows}-${fused}`,
                models: `gpu-calls-models-${backend}-${materialiseRows}-${fused}`,
              },
            });
          const [gpu, wasm] = [await open('webgpu'), await open('wasm')];
          const debug = gpu.debug as NonNullable<typeof gpu.debug>;
          const items = ['1193', '661', '914', '3408', '2355', '1197'];
          for (const item of items.slice(0, 3)) {
            await gpu.track({ item });
            await wasm.track({ item });
          }
          await gpu.recommend({ k: 10 });
          await debug.webgpuCalls();
          const steps = [];
          for (const item of items.slice(3)) {
            await gpu.track({ item });
            await wasm.track({ item });
            const onGpu = await gpu.recommend({ k: 10 });
            const calls = await debug.webgpuCalls();
            steps.push({ calls, onGpu, onWasm: await wasm.recommend({ k: 10 }) });
          }
          const info = gpu.info();
          gpu.dispose();
          wasm.dispose();
          return { steps, backend: info.backend, scoring: info.scoring };
        },
        { model, materialiseRows, fused },
      );
      expect(errors.lines()).toEqual([]);
      expect(outcome.backend).toBe('webgpu');
      expect(outcome.scoring).toBe(scoring);
      for (const { calls, onGpu, onWasm } of outcome.steps) {
        // A request's dispatches in one command buffer, and one read: 10 scores and 10 rows.
        expect(calls).toMatchObject({ submits: 1, commandBuffers: 1, maps: 1, mappedBytes: 80 });
        expect(calls?.dispatches).toBeGreaterThan(1);
        if (dispatchesAtMost !== null)
          expect(calls?.dispatches).toBeLessThanOrEqual(dispatchesAtMost);
        expect(onGpu.map((r) => r.item)).toEqual(onWasm.map((r) => r.item));
        onGpu.forEach((r, i) => {
          const expected = (onWasm[i] as { score: number }).score;
          expect(Math.abs(r.score - expected)).toBeLessThanOrEqual(
            1e-4 * Math.max(1, Math.abs(expected)),
          );
        });
      }
    },
  );
});
