/**
 * The inference worker: the host (worker-host.ts) that holds the verified model, its ranker
 * and the engine, answering the client's requests one at a time, in order, on this
 * worker's global scope.
 */

import { WASM_PATHS } from './wasm-paths.ts';
import { createWorkerHost, serveWorker, type WorkerScope } from './worker-host.ts';

const scope = globalThis as unknown as WorkerScope;

serveWorker(
  scope,
  createWorkerHost({ emit: (event) => scope.postMessage(event), wasmPaths: WASM_PATHS }),
);
