/**
 * The inference worker: holds the verified model and the engine, and answers the
 * client's requests one at a time, in order (an `open` must finish before the
 * `recommend` behind it runs). Nothing here outlives the worker: the model is in
 * IndexedDB and the history with the client, so a crashed worker loses nothing.
 */

import * as tf from '@tensorflow/tfjs';
import { destroyWebgpuDevice } from './engine/backend.ts';
import { Engine } from './engine/engine.ts';
import { RuntimeError } from './errors.ts';
import { loadModel, updateModel } from './model-store.ts';
import type {
  DebugRequest,
  MemoryReport,
  ModelSummary,
  OpenRequest,
  OpenResult,
  RecommendRequest,
  RecommendResult,
  WorkerEvent,
  WorkerReply,
  WorkerRequest,
} from './protocol.ts';
import { serializeError } from './protocol.ts';
import { WASM_PATHS } from './wasm-paths.ts';

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

let engine: Engine | null = null;
let opened: OpenRequest | null = null;
/** The latest recommend, which the debug action 'memory' profiles again. */
let lastRecommend: RecommendRequest | null = null;
let peakBytes: number | null = null;

function emit(event: WorkerEvent): void {
  scope.postMessage(event);
}

function summary(
  url: string,
  version: string,
  pkg: Awaited<ReturnType<typeof loadModel>>['pkg'],
): ModelSummary {
  const { manifest } = pkg;
  return {
    name: manifest.name,
    kind: manifest.kind,
    url,
    version,
    numItems: manifest.items.count,
    itemIds: pkg.itemIds,
    bytes: manifest.size.bytes,
    params: manifest.size.params,
    embeddingCompression: manifest.size.embeddingCompression,
    modelCompression: manifest.size.modelCompression,
  };
}

async function open(request: OpenRequest): Promise<OpenResult> {
  const started = performance.now();
  const loaded = await loadModel(request.model, {
    ...(request.modelDb ? { dbName: request.modelDb } : {}),
    onProgress: (loadedBytes, totalBytes) =>
      emit({ event: 'progress', loaded: loadedBytes, total: totalBytes }),
  });
  const loadMs = performance.now() - started;
  const initStart = performance.now();
  const next = await Engine.create(loaded.pkg, {
    backend: request.backend,
    wasmPaths: request.wasmPaths ?? WASM_PATHS,
    incremental: request.incremental,
    materialiseRows: request.materialiseRows,
    onBackendChange: (backend, reason) => emit({ event: 'backend-change', backend, reason }),
  });
  const initMs = performance.now() - initStart;
  const warmStart = performance.now();
  await next.warmUp();
  const warmupMs = performance.now() - warmStart;
  // The old engine served until this one was ready.
  engine?.dispose();
  engine = next;
  opened = request;
  return {
    model: summary(request.model, loaded.version, loaded.pkg),
    from: loaded.from,
    persistent: loaded.persistent,
    engine: next.info(),
    warnings: [...loaded.warnings, ...next.backend.fallbacks],
    loadMs,
    initMs,
    warmupMs,
  };
}

async function recommend(request: RecommendRequest): Promise<RecommendResult> {
  if (!engine) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
  const started = performance.now();
  const result = await engine.recommend(request);
  lastRecommend = request;
  return {
    rows: result.rows,
    scores: result.scores,
    reused: result.reused,
    ms: performance.now() - started,
    encodeMs: result.encodeMs,
    scoreMs: result.scoreMs,
    backend: engine.backend.name,
  };
}

async function update(): Promise<{ updated: boolean; open?: OpenResult }> {
  if (!opened) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
  const outcome = await updateModel(opened.model, opened.modelDb ? { dbName: opened.modelDb } : {});
  if (!outcome.updated) return { updated: false };
  return { updated: true, open: await open(opened) };
}

/** tfjs's bytes now, and the peak of one profiled recommend on the latest history. */
async function memory(): Promise<MemoryReport> {
  const current = engine;
  const request = lastRecommend;
  if (current && request) {
    const profile = await tf.profile(async () => {
      await current.recommend(request);
    });
    // -Infinity when no kernel ran (a Markov model).
    if (Number.isFinite(profile.peakBytes)) peakBytes = Math.max(peakBytes ?? 0, profile.peakBytes);
  }
  const { numBytes, numTensors } = tf.memory();
  return { numBytes, numTensors, peakBytes };
}

function debug(request: DebugRequest): Promise<boolean | MemoryReport> {
  switch (request.action) {
    case 'lose-device':
      return Promise.resolve(destroyWebgpuDevice());
    case 'memory':
      return memory();
    case 'crash':
      // Thrown outside any handler, as a real crash would be: the page sees the worker's
      // `error` event while this call, never answered, is still in flight.
      setTimeout(() => {
        throw new Error('pocketrec worker: crash requested');
      }, 0);
      return new Promise<boolean>(() => {});
    case 'hang':
      for (;;) {
        // A worker stuck in a loop never answers again; only terminate() ends it.
      }
  }
}

function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.type) {
    case 'open':
      return open(request);
    case 'recommend':
      return recommend(request);
    case 'update':
      return update();
    case 'debug':
      return debug(request);
  }
}

let queue: Promise<void> = Promise.resolve();

scope.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = { id: request.id, ok: true, result: await handle(request) };
    } catch (error) {
      reply = { id: request.id, ok: false, error: serializeError(error) };
    }
    const result = reply.ok ? (reply.result as Partial<RecommendResult>) : null;
    const transfer =
      result?.rows instanceof Int32Array
        ? [result.rows.buffer, (result.scores as Float32Array).buffer]
        : [];
    scope.postMessage(reply, transfer as Transferable[]);
  });
};
