/**
 * What the inference worker does with each request, apart from the messaging (worker.ts
 * wires it to the worker's global scope; a Node test can wire it to a fake Worker): it
 * holds the verified model, the ranker beside it and the engine, and answers one request
 * at a time, in order. Nothing here outlives the worker: the packages are in IndexedDB and
 * the history with the client, so a crashed worker loses nothing.
 *
 * Two packages, one engine. The model is opened first (downloaded or read from IndexedDB,
 * verified, built, warmed up); then the ranker, through the same model store, built as the
 * engine's second stage against the model's items and warmed up (Engine.openRanker). Only
 * then are they stored (commitModel), the model first. A ranker that cannot be opened (the
 * network, a bad package, one that is not a ranker) costs a warning, never the model: the
 * recommender serves retrieval alone and update() tries the ranker again. A 'building'
 * event names each package's version as its build starts, so a worker that dies while
 * building the ranker is blamed on the ranker's version, not the model's
 * (worker-connection.ts).
 */

import type { RankerSpec } from '../model/ctr/ranker.ts';
import { carriesPrior } from '../model/popularity.ts';
import type { ModelPackage } from '../package/reader.ts';
import type { TwoStageQuery } from './engine/engine.ts';
import type { InferenceEngine } from './engine/inference-engine.ts';
import { openEngine } from './engine/open-engine.ts';
import { takeWebgpuCalls, type WebgpuCalls } from './engine/webgpu-calls.ts';
import { RuntimeError } from './errors.ts';
import { HistoryCopy } from './history-sync.ts';
import {
  commitModel,
  type ModelStoreOptions,
  type PreparedModel,
  prepareModel,
  prepareUpdate,
} from './model-store.ts';
import type {
  BuildDebug,
  DebugRequest,
  MemoryReport,
  ModelSummary,
  OpenRequest,
  OpenResult,
  RankerSummary,
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

export interface WorkerHostOptions {
  emit(event: WorkerEvent): void;
  /** Where tfjs's .wasm files are served, unless a request says (Node: undefined). */
  wasmPaths?: Record<string, string>;
  /** The model store's fetch (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface WorkerHost {
  handle(request: WorkerRequest): Promise<unknown>;
  /** Releases the engine (a worker's tensors go with it; an in-process host's do not). */
  dispose(): void;
}

/** The worker's end of the messaging. */
export interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
}

/**
 * Answers the scope's requests one at a time, in order (an `open` finishes before the
 * `recommend` behind it runs), each with one reply; a recommend's arrays are transferred.
 */
export function serveWorker(scope: WorkerScope, host: WorkerHost): void {
  let queue: Promise<void> = Promise.resolve();
  scope.onmessage = (event) => {
    const request = event.data;
    queue = queue.then(async () => {
      let reply: WorkerReply;
      try {
        reply = { id: request.id, ok: true, result: await host.handle(request) };
      } catch (error) {
        reply = { id: request.id, ok: false, error: serializeError(error) };
      }
      const result = reply.ok ? (reply.result as Partial<RecommendResult>) : null;
      const transfer =
        result?.rows instanceof Int32Array && result.scores instanceof Float32Array
          ? [result.rows.buffer, result.scores.buffer]
          : [];
      scope.postMessage(reply, transfer as Transferable[]);
    });
  };
}

/** A ranker package that may become the engine's second stage. */
interface RankerCandidate {
  url: string;
  version: string;
  pkg: ModelPackage;
  from: 'network' | 'indexeddb';
  /** Set for a version not yet stored: committed once it has been attached. */
  prepared: PreparedModel | null;
  persistent: boolean;
}

/** The ranker open now. */
interface OpenRanker extends RankerCandidate {
  summary: RankerSummary;
}

function modelSummary(url: string, prepared: PreparedModel): ModelSummary {
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

function rankerSummary(
  candidate: RankerCandidate,
  spec: RankerSpec,
  unknownItems: number,
  persistent: boolean,
): RankerSummary {
  const { manifest } = candidate.pkg;
  return {
    name: manifest.name,
    kind: manifest.kind,
    url: candidate.url,
    version: candidate.version,
    from: candidate.from,
    persistent,
    candidates: spec.candidates,
    weight: spec.weight,
    contextFields: [...spec.contextFields],
    itemFields: [...(spec.itemIdField === null ? [] : [spec.itemIdField]), ...spec.itemFields],
    unknownItems,
  };
}

function candidateOf(url: string, prepared: PreparedModel): RankerCandidate {
  return {
    url,
    version: prepared.version,
    pkg: prepared.pkg,
    from: prepared.from,
    prepared: prepared.from === 'network' ? prepared : null,
    persistent: prepared.from === 'indexeddb',
  };
}

/** Why the ranker is not used, as a warning. */
function rankerWarning(url: string, what: string, error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  return `ranker ${url} ${what} (${typeof code === 'string' ? `${code}: ` : ''}${reason}); recommendations come from the model alone`;
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

export function createWorkerHost(options: WorkerHostOptions): WorkerHost {
  const { emit } = options;
  let engine: InferenceEngine | null = null;
  let opened: OpenRequest | null = null;
  /** The version the engine was built from. */
  let openedVersion: string | null = null;
  /** The last open's answer, the state a ranker-only update answers with. */
  let openedResult: OpenResult | null = null;
  let ranker: OpenRanker | null = null;
  /** The latest recommend or rank, which the debug action 'memory' profiles again. */
  let lastRequest:
    | { type: 'recommend'; query: TwoStageQuery }
    | { type: 'rank'; request: RankRequest }
    | null = null;
  /** The rows of the history the page last sent (history-sync.ts). */
  let history = new HistoryCopy();

  /** The model store's database, fetch, and the budget an update keeps to as the open did. */
  const storeOptions = (request: OpenRequest, budget = true): ModelStoreOptions => ({
    ...(request.modelDb ? { dbName: request.modelDb } : {}),
    ...(budget && request.budget ? { budget: request.budget } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  /**
   * Called as soon as request `id` knows which version of `url` it is about to load: a
   * refused one goes no further, any other is announced, so that if this worker dies from
   * here on the connection knows which version to blame.
   */
  const claim =
    (id: number, url: string, refused: readonly string[] | undefined, what: string) =>
    (version: string): void => {
      if (refused?.includes(version)) {
        throw new RuntimeError(
          'model-refused',
          `version ${version} of ${what} ${url} crashed the inference worker twice while being loaded; it is not tried again`,
        );
      }
      emit({ event: 'building', id, url, version });
    };

  /**
   * The ranker of `request`, as the store has it (IndexedDB, else the network); null with
   * a warning when it cannot be had.
   */
  async function prepareRanker(
    request: OpenRequest,
    refused: readonly string[] | undefined,
    id: number,
    warnings: string[],
  ): Promise<RankerCandidate | null> {
    const url = request.ranker;
    if (url === undefined) return null;
    try {
      const prepared = await prepareModel(url, {
        ...storeOptions(request, false),
        onVersion: claim(id, url, refused, 'ranker'),
      });
      warnings.push(...prepared.warnings);
      return candidateOf(url, prepared);
    } catch (error) {
      warnings.push(rankerWarning(url, 'could not be opened', error));
      return null;
    }
  }

  /**
   * The first candidate that `target` takes as its second stage, stored if it was not;
   * null when none does (each failure a warning).
   */
  async function attachRanker(
    target: InferenceEngine,
    candidates: readonly RankerCandidate[],
    request: OpenRequest,
    debug: BuildDebug | undefined,
    warnings: string[],
  ): Promise<OpenRanker | null> {
    for (const candidate of candidates) {
      try {
        await crashIfAsked(debug, candidate.version);
        const { spec, unknownItems } = await target.openRanker(candidate.pkg, candidate.url);
        let persistent = candidate.persistent;
        if (candidate.prepared) {
          const saved = await commitModel(
            candidate.url,
            candidate.prepared,
            storeOptions(request, false),
          );
          warnings.push(...saved.warnings);
          persistent = saved.persistent;
        }
        const numItems = target.info().numItems;
        if (unknownItems > 0) {
          warnings.push(
            `ranker ${candidate.url} lists no item fields for ${unknownItems} of the model's ${numItems} items: they are ranked with unknown item fields`,
          );
        }
        const summary = rankerSummary(candidate, spec, unknownItems, persistent);
        return { ...candidate, prepared: null, persistent, summary };
      } catch (error) {
        warnings.push(
          rankerWarning(candidate.url, `version ${candidate.version} was not used`, error),
        );
      }
    }
    return null;
  }

  async function open(request: OpenRequest, id: number): Promise<OpenResult> {
    const started = performance.now();
    const prepared = await prepareModel(request.model, {
      ...storeOptions(request),
      onProgress: (loadedBytes, totalBytes) =>
        emit({ event: 'progress', loaded: loadedBytes, total: totalBytes }),
      onVersion: claim(id, request.model, request.refused, 'model'),
    });
    const loadMs = performance.now() - started;
    return build(request, prepared, loadMs, request.debug, async (warnings) => {
      const candidate = await prepareRanker(request, request.rankerRefused, id, warnings);
      return candidate ? [candidate] : [];
    });
  }

  /**
   * An engine from a prepared package, then its ranker (the first of `rankers()` that
   * attaches); only once both are warmed up are they stored (the older versions removed)
   * and the old engine let go. A crash before that leaves the stored copies as they were:
   * the last ones that worked.
   */
  async function build(
    request: OpenRequest,
    prepared: PreparedModel,
    loadMs: number,
    debug: BuildDebug | undefined,
    rankers: (warnings: string[]) => Promise<RankerCandidate[]>,
  ): Promise<OpenResult> {
    await crashIfAsked(debug, prepared.version);
    const initStart = performance.now();
    const next = await openEngine(
      prepared.pkg,
      {
        backend: request.backend,
        wasmPaths: request.wasmPaths ?? options.wasmPaths,
        incremental: request.incremental,
        materialiseRows: request.materialiseRows,
        fused: request.fused ?? true,
        onBackendChange: (backend, reason) => emit({ event: 'backend-change', backend, reason }),
      },
      { ranker: request.ranker !== undefined },
    );
    const initMs = performance.now() - initStart;
    const warmStart = performance.now();
    const rankerWarnings: string[] = [];
    let attached: OpenRanker | null;
    try {
      await next.warmUp();
      attached =
        request.ranker === undefined
          ? null
          : await attachRanker(next, await rankers(rankerWarnings), request, debug, rankerWarnings);
    } catch (error) {
      next.dispose();
      throw error;
    }
    const warmupMs = performance.now() - warmStart;
    const saved = await commitModel(request.model, prepared, storeOptions(request));
    // The old engine (and its ranker) served until this one was ready.
    engine?.dispose();
    engine = next;
    // The copy's rows are the old model's: the page sends the history whole to this one.
    history = new HistoryCopy();
    opened = request;
    openedVersion = prepared.version;
    ranker = attached;
    openedResult = {
      model: modelSummary(request.model, prepared),
      ranker: attached?.summary ?? null,
      from: prepared.from,
      persistent: saved.persistent,
      engine: next.info(),
      warnings: [
        ...prepared.warnings,
        ...saved.warnings,
        ...next.backend.fallbacks,
        ...rankerWarnings,
      ],
      loadMs,
      initMs,
      warmupMs,
    };
    return openedResult;
  }

  async function recommend(request: RecommendRequest): Promise<RecommendResult> {
    if (!engine) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
    const started = performance.now();
    const query: TwoStageQuery = { ...request, history: history.apply(request.history) };
    const result = await engine.recommend(query);
    lastRequest = { type: 'recommend', query };
    return {
      rows: result.rows,
      scores: result.scores,
      reason: result.reason,
      reused: result.reused,
      ms: performance.now() - started,
      encodeMs: result.encodeMs,
      scoreMs: result.scoreMs,
      backend: engine.backend.name,
      stages: result.stages,
      ranking: result.ranking,
      context: result.context,
    };
  }

  async function rank(request: RankRequest): Promise<RankResult> {
    if (!engine) throw new RuntimeError('model-unavailable', 'no model is open in the worker');
    const started = performance.now();
    const result = await engine.rank(request);
    lastRequest = { type: 'rank', request };
    return { ...result, ms: performance.now() - started, backend: engine.backend.name };
  }

  /**
   * The server's ranker against the one in use: a new version (downloaded and verified,
   * not stored), or the one open, or, when none is open, the ranker as an open would get
   * it. Failures are warnings: the ranker in use stays.
   */
  async function rankerUpdate(
    current: OpenRequest,
    refused: readonly string[] | undefined,
    id: number,
    warnings: string[],
  ): Promise<{ fresh: RankerCandidate | null }> {
    const url = current.ranker;
    if (url === undefined) return { fresh: null };
    if (!ranker) {
      return { fresh: await prepareRanker(current, refused, id, warnings) };
    }
    try {
      const check = await prepareUpdate(url, {
        ...storeOptions(current, false),
        current: ranker.version,
        refused: refused ?? [],
        onVersion: claim(id, url, refused, 'ranker'),
      });
      if (check.status !== 'new') return { fresh: null };
      warnings.push(...check.model.warnings);
      return { fresh: candidateOf(url, check.model) };
    } catch (error) {
      warnings.push(rankerWarning(url, 'could not be checked for a new version', error));
      return { fresh: null };
    }
  }

  /**
   * The server's versions against the ones in use (not the stored ones: another tab may
   * have stored a newer version that this engine does not run yet). A new model is built
   * with the ranker's newest version that works; a new ranker alone goes onto the engine
   * in use.
   */
  async function update(request: UpdateRequest, id: number): Promise<UpdateResult> {
    const current = opened;
    const live = engine;
    if (!current || !openedVersion || !live || !openedResult) {
      throw new RuntimeError('model-unavailable', 'no model is open in the worker');
    }
    const started = performance.now();
    const check = await prepareUpdate(current.model, {
      ...storeOptions(current),
      current: openedVersion,
      refused: request.refused ?? [],
      onVersion: claim(id, current.model, request.refused, 'model'),
    });
    const warnings: string[] = [];
    if (check.status === 'new') {
      const result = await build(
        current,
        check.model,
        performance.now() - started,
        request.debug,
        async (rankerWarnings) => {
          const { fresh } = await rankerUpdate(current, request.rankerRefused, id, rankerWarnings);
          return [...(fresh ? [fresh] : []), ...(ranker ? [ranker] : [])];
        },
      );
      return { updated: true, version: check.version, open: result, warnings };
    }
    const unchanged = {
      updated: false,
      version: check.version,
      ...(check.status === 'refused' ? { refused: check.version } : {}),
    };
    const { fresh } = await rankerUpdate(current, request.rankerRefused, id, warnings);
    if (!fresh) return { ...unchanged, warnings };
    const attached = await attachRanker(live, [fresh], current, request.debug, warnings);
    if (!attached) return { ...unchanged, warnings };
    ranker = attached;
    openedResult = {
      ...openedResult,
      ranker: attached.summary,
      engine: live.info(),
      warnings,
    };
    return { ...unchanged, updated: true, open: openedResult, warnings: [] };
  }

  /** The engine's bytes now, and the peak of the latest request (recommend or rank) run again. */
  async function memory(): Promise<MemoryReport> {
    const live = engine;
    const request = lastRequest;
    if (!live) return { numBytes: 0, numTensors: 0, peakBytes: null };
    return live.memory(
      request
        ? () =>
            request.type === 'rank' ? live.rank(request.request) : live.recommend(request.query)
        : null,
    );
  }

  function debug(request: DebugRequest): Promise<boolean | MemoryReport | WebgpuCalls | null> {
    switch (request.action) {
      case 'lose-device':
        // Only an engine on WebGPU has a device to lose (and tfjs loaded).
        return engine?.backend.name === 'webgpu'
          ? import('./engine/backend.ts').then((backend) => backend.destroyWebgpuDevice())
          : Promise.resolve(false);
      case 'memory':
        return memory();
      case 'ping':
        return Promise.resolve(true);
      case 'webgpu-calls':
        return Promise.resolve(takeWebgpuCalls());
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

  return {
    handle(request) {
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
    },
    dispose() {
      engine?.dispose();
      engine = null;
      ranker = null;
    },
  };
}
