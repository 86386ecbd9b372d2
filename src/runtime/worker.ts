/**
 * The inference worker: holds the verified model and the engine, and answers the
 * client's requests one at a time, in order (an `open` must finish before the
 * `recommend` behind it runs). Nothing here outlives the worker: the model is in
 * IndexedDB and the history with the client, so a crashed worker loses nothing.
 */

import * as tf from '@tensorflow/tfjs';
import { carriesPrior } from '../model/popularity.ts';
import type { DownloadBudget } from './budget.ts';
import { destroyWebgpuDevice } from './engine/backend.ts';
import { Engine } from './engine/engine.ts';
import { RuntimeError } from './errors.ts';
import { commitModel, type PreparedModel, prepareModel, prepareUpdate } from './model-store.ts';
import type {
  BuildDebug,
  DebugRequest,
  MemoryReport,
  ModelSummary,
  OpenRequest,
  OpenResult,
  RankRequest,
  RankResult,
  RecommendRequest,
  RecommendResult,
  UpdateRequest,
  UpdateResult,
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
/** The version the engine was built from. */
let openedVersion: string | null = null;
/** The latest recommend or rank, which the debug action 'memory' profiles again. */
let lastRequest: RecommendRequest | RankRequest | null = null;
let peakBytes: number | null = null;

function emit(event: WorkerEvent): void {
  scope.postMessage(event);
}

function summary(url: string, prepared: PreparedModel): ModelSummary {
  const { pkg, version, prefix } = prepared;
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
    prior: carriesPrior(manifest),
    ...(prefix ? { prefix } : {}),
  };
}

/** The model store's database, and the budget an update keeps to as the open did. */
function storeOptions(request: OpenRequest): { dbName?: string; budget?: DownloadBudget } {
  return {
    ...(request.modelDb ? { dbName: request.modelDb } : {}),
    ...(request.budget ? { budget: request.budget } : {}),
  };
}

/**
 * Called as soon as request `id` knows which version it is about to load: a refused one
 * goes no further, any other is announced, so that if this worker dies from here on the
 * connection knows which version to blame.
 */
function claim(id: number, url: string, refused: readonly string[] | undefined) {
  return (version: string): void => {
    if (refused?.includes(version)) {
      throw new RuntimeError(
        'model-refused',
        `version ${version} of model ${url} crashed the inference worker twice while being loaded; it is not tried again`,
      );
    }
    emit({ event: 'building', id, url, version });
  };
}

/** The debug trigger: an uncaught error, as running out of memory while building would be. */
function crashIfAsked(debug: BuildDebug | undefined, version: string): Promise<void> {
  const target = debug?.crashBuildingVersion;
  if (target === undefined || (target !== 'any' && target !== version)) return Promise.resolve();
  setTimeout(() => {
    throw new Error(`pocketrec worker: crash requested while building version ${version}`);
  }, 0);
  return new Promise<void>(() => {});
}

async function open(request: OpenRequest, id: number): Promise<OpenResult> {
  const started = performance.now();
  const prepared = await prepareModel(request.model, {
    ...storeOptions(request),
    onProgress: (loadedBytes, totalBytes) =>
      emit({ event: 'progress', loaded: loadedBytes, total: totalBytes }),
    onVersion: claim(id, request.model, request.refused),
  });
  return build(request, prepared, performance.now() - started, request.debug);
}

/**
 * An engine from a prepared package; only once it has warmed up is the package stored
 * (and the older version removed) and the old engine let go. A crash before that leaves
 * the stored copy as it was: the last model that worked.
 */
async function build(
  request: OpenRequest,
  prepared: PreparedModel,
  loadMs: number,
  debug: BuildDebug | undefined,
): Promise<OpenResult> {
  await crashIfAsked(debug, prepared.version);
  const initStart = performance.now();
  const next = await Engine.create(prepared.pkg, {
    backend: request.backend,
    wasmPaths: request.wasmPaths ?? WASM_PATHS,
    incremental: request.incremental,
    materialiseRows: request.materialiseRows,
    onBackendChange: (backend, reason) => emit({ event: 'backend-change', backend, reason }),
  });
  const initMs = performance.now() - initStart;
  const warmStart = performance.now();
  try {
    await next.warmUp();
  } catch (error) {
    next.dispose();
    throw error;
  }
  const warmupMs = performance.now() - warmStart;
  const saved = await commitModel(request.model, prepared, storeOptions(request));
  // The old engine served until this one was ready.
  engine?.dispose();
  engine = next;
  opened = request;
  openedVersion = prepared.version;
  return {
    model: summary(request.model, prepared),
    from: prepared.from,
    persistent: saved.persistent,
    engine: next.info(),
    warnings: [...prepared.warnings, ...saved.warnings, ...next.backend.fallbacks],
    loadMs,
    initMs,
    warmupMs,
  };
}

async function recommend(request: RecommendRequest): Promise<RecommendResult> {
  if (!engine) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
  const started = performance.now();
  const result = await engine.recommend(request);
  lastRequest = request;
  return {
    rows: result.rows,
    scores: result.scores,
    reason: result.reason,
    reused: result.reused,
    ms: performance.now() - started,
    encodeMs: result.encodeMs,
    scoreMs: result.scoreMs,
    backend: engine.backend.name,
  };
}

async function rank(request: RankRequest): Promise<RankResult> {
  if (!engine) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
  const started = performance.now();
  const result = await engine.rank(request);
  lastRequest = request;
  return { ...result, ms: performance.now() - started, backend: engine.backend.name };
}

/**
 * The server's version against the one in use (not the stored one: another tab may have
 * stored a newer version that this engine does not run yet).
 */
async function update(request: UpdateRequest, id: number): Promise<UpdateResult> {
  const current = opened;
  if (!current || !openedVersion) {
    throw new RuntimeError('model-unavailable', 'no model is open in the worker');
  }
  const started = performance.now();
  const check = await prepareUpdate(current.model, {
    ...storeOptions(current),
    current: openedVersion,
    refused: request.refused ?? [],
    onVersion: claim(id, current.model, request.refused),
  });
  switch (check.status) {
    case 'current':
      return { updated: false, version: check.version };
    case 'refused':
      return { updated: false, version: check.version, refused: check.version };
    case 'new': {
      const result = await build(current, check.model, performance.now() - started, request.debug);
      return { updated: true, version: check.version, open: result };
    }
  }
}

/** tfjs's bytes now, and the peak of the latest request (recommend or rank) run again. */
async function memory(): Promise<MemoryReport> {
  const current = engine;
  const request = lastRequest;
  if (current && request) {
    const profile = await tf.profile(async () => {
      if (request.type === 'rank') await current.rank(request);
      else await current.recommend(request);
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
      return open(request, request.id);
    case 'recommend':
      return recommend(request);
    case 'rank':
      return rank(request);
    case 'update':
      return update(request, request.id);
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
