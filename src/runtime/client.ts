/**
 * The client API: what a page or the storefront widget calls.
 *
 *   const rec = await createRecommender({ model: '/models/ml-1m-tt-r12' });
 *   await rec.track({ item: '1193' });
 *   const top = await rec.recommend({ k: 10 });   // [{ item, score, reason }]
 *
 * With a ranker (`createRecommender({ model, ranker: '/models/shop-ranker' })`) every
 * recommend is two stages in one worker call: the model proposes its top `candidates`
 * items, the ranker re-orders them in the shopper's local context (local-context.ts: the
 * hour, weekday, device class and locale, read here on the page, overridable per request),
 * and each recommendation says where it moved (`ranking`).
 *
 * Inference runs in a dedicated worker (worker.ts); the user's history stays on this
 * thread's IndexedDB store, so neither a crashed worker nor a lost GPU can lose it. Item
 * ids are the package's external ids (strings); internal row numbers never leave here.
 */
import type { RecommendationReason } from '../model/popularity.ts';
import { type BudgetOption, resolveBudget } from './budget.ts';
import { type CtrFieldValues, checkRankShape, type RankInput } from './ctr-request.ts';
import { BACKEND_PREFERENCES, type BackendPreference } from './engine/backend-preference.ts';
import type { ContextReport, StageTiming } from './engine/engine.ts';
import type { WebgpuCalls } from './engine/webgpu-calls.ts';
import { RuntimeError } from './errors.ts';
import {
  type HistoryChange,
  type HistoryEvent,
  type HistoryStore,
  type HistoryWrites,
  openHistoryStore,
  type TrackInput,
} from './history-store.ts';
import { HistoryMirror } from './history-sync.ts';
import {
  type ContextValues,
  checkContext,
  localContext,
  mergeContext,
  type RecommendContext,
} from './local-context.ts';
import type {
  BuildDebug,
  MemoryReport,
  OpenResult,
  RankerSummary,
  RankResult,
  RecommendRequest,
  RecommendResult,
  UpdateResult,
  WorkerEvent,
} from './protocol.ts';
import { type Refusal, WorkerConnection } from './worker-connection.ts';

/** RecommenderOptions' history defaults. */
export const HISTORY_DEFAULTS = {
  historyCap: 1000,
  historyWrites: 'write-behind',
  historyWriteDelayMs: 100,
} as const satisfies Pick<
  RecommenderOptions,
  'historyCap' | 'historyWrites' | 'historyWriteDelayMs'
>;

export interface RecommenderOptions {
  /** The model package's URL (a directory holding manifest.json). */
  model: string;
  /**
   * A ranker package's URL (a ctr-dense or ctr-pruned package made a ranker by `pocketrec
   * ranker`): the second stage of every recommend. Downloaded, verified and kept in
   * IndexedDB like the model (fetched whole: `budget` is the model's). One that cannot be
   * opened (the network, a bad package, 'not-a-ranker') leaves the recommender serving the
   * model alone: info().ranker is null and info().warnings says why; update() tries again.
   */
  ranker?: string;
  backend?: BackendPreference;
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** Whose history this is, on this device (default 'default'). */
  user?: string;
  /** Most events kept; the oldest go first (default 1000). */
  historyCap?: number;
  /**
   * When a tracked event is in IndexedDB (default 'write-behind': track() resolves at once,
   * the events of each `historyWriteDelayMs` are written together, at once when the page is
   * hidden or left, on flush() and on dispose(); a killed tab loses at most those of its last
   * delay. 'each-event': track() resolves once its event is committed).
   */
  historyWrites?: HistoryWrites;
  /** With 'write-behind', the longest an event waits to be written (default 100 ms). */
  historyWriteDelayMs?: number;
  /** Reuse the encoding of earlier events between requests (default true). */
  incremental?: boolean;
  /** A tensor-train table up to this many rows is built once; above, never (default 100,000). */
  materialiseRows?: number;
  /**
   * On the WASM backend, serve a next-item model by the fused WASM SIMD kernels where it
   * allows them (default true; false: tfjs's ops, the reference path).
   */
  fused?: boolean;
  /** A request other than opening the model that takes longer marks the worker dead (default 30 s). */
  callTimeoutMs?: number;
  /** The limit for downloading, verifying and warming up a model (default 5 min). */
  openTimeoutMs?: number;
  /** IndexedDB database names, to keep separate apps (or tests) apart. */
  databases?: { models?: string; history?: string };
  /**
   * Exposes `rec.debug`, which can break the worker and the GPU on purpose (tests). An
   * object also sets `crashBuildingVersion` for the open (and its replays after a crash):
   * see `debug.crashWhenBuilding`.
   */
  debug?: boolean | BuildDebug;
  /** Starts the worker; the default is the bundled one. */
  spawnWorker?: () => Worker;
  /**
   * The most bytes of the package's files (manifest.json excluded) to download, or 'auto'
   * (from navigator.deviceMemory and Data Saver: BUDGET_DEFAULTS in budget.ts). Only a
   * progressive ctr-pruned package can keep to it: it is fetched up to the last chunk that
   * fits (info().model.prefix says how many). A budget below its dense weights is
   * 'budget-too-small'; any other package is fetched whole. Default: the whole package.
   */
  budget?: BudgetOption;
}

export interface RecommendOptions {
  /** How many items (default 10). */
  k?: number;
  /** Items never to recommend. */
  exclude?: readonly (string | number)[];
  /**
   * Only these items may be recommended (e.g. those in stock). With an empty history and a
   * popularity prior, the most popular of them: a page narrows the prior to the category
   * it shows by passing that category's items.
   */
  candidates?: readonly (string | number)[];
  /** Leave out items already in the history (default true). */
  excludeSeen?: boolean;
  /**
   * false: encode the whole history afresh instead of reusing the previous request's work
   * (default true). The answer is the same either way; this exists to check that it is.
   */
  reuseEncoding?: boolean;
  /**
   * With a ranker: raw context values (strings or finite numbers, at most 64 fields) that
   * override the local context field by field (localContext(): hour, weekday, device,
   * locale); undefined or null leaves a field out. Anything else is 'bad-request'. Fields
   * the ranker does not read, and values it never saw in training (scored as unknown), are
   * named once each in info().warnings. Checked, and otherwise ignored, without a ranker.
   */
  context?: RecommendContext;
  /**
   * With a ranker: also name, for each item, the context field that moved its score most
   * (`ranking.context`). Costs the ranker (1 + context fields) × candidates rows instead of
   * candidates rows (default false).
   */
  explain?: boolean;
}

/** Where the ranker put a recommendation (set when a ranker ran). */
export interface RecommendationRanking {
  /** 0-based place in the model's (retrieval's) order, and in the final one. */
  retrievalRank: number;
  rank: number;
  /** retrievalRank - rank: positive when the ranker moved the item up. */
  move: number;
  /**
   * With `explain`: the context field whose value moved the item's score most, and by how
   * much (weight × the ranker's logit with the value less with the field unknown; positive
   * raised it). Null without `explain`.
   */
  context: { field: string; effect: number } | null;
}

export interface Recommendation {
  item: string;
  /**
   * 'model': the model's answer to the history. 'popular': the package's popularity prior
   * answered, because the history is empty (or none of its items is known to the model), or
   * the package is a popularity model.
   */
  reason: RecommendationReason;
  /**
   * The model's score; for a popular item ln(1 + its training count), which is not on the
   * scale of a model's scores. With a ranker, that score + weight × the ranker's logit
   * (the order's). Higher is better either way.
   */
  score: number;
  /** Set when a ranker re-ranked this answer. */
  ranking?: RecommendationRanking;
}

/** A rank request: fields every candidate shares, and each candidate's own (ctr-request.ts). */
export type RankOptions = RankInput;

export interface RankedCandidate {
  /** Where the candidate is in the request's `candidates`. */
  index: number;
  /** The model's click probability. */
  score: number;
  /** The candidate's fields as given. */
  fields: CtrFieldValues;
  /** Its own fields whose value the model never saw in training (scored as unknown). */
  unknown: string[];
}

export interface Ranking {
  /** Every candidate, highest score first (ties: the earlier candidate first). */
  ranked: RankedCandidate[];
  /** Context fields whose value the model never saw in training. */
  unknownContext: string[];
}

/** The ranker as info() reports it: its package, its ranker file, and how it was opened. */
export type RankerInfo = RankerSummary;

export interface RecommenderInfo {
  backend: RecommendResult['backend'];
  /** The WebGPU adapter, when on WebGPU. */
  adapter: string | null;
  /** The WASM binary's SIMD and threads, when on WASM. */
  wasm: OpenResult['engine']['backend']['wasm'];
  model: Omit<OpenResult['model'], 'itemIds'>;
  /** Where this open found the model. */
  source: OpenResult['from'];
  storage: { model: 'indexeddb' | 'memory'; history: 'indexeddb' | 'memory' };
  incremental: boolean;
  scoring: OpenResult['engine']['scoring'];
  timings: {
    /** The last request's encoding and scoring time inside the worker. */
    lastEncodeMs: number | null;
    lastScoreMs: number | null;
    loadMs: number;
    initMs: number;
    warmupMs: number;
    lastRecommendMs: number | null;
    lastWorkerMs: number | null;
    /** createRecommender's call to its resolution: the worker's start, the model, the history. */
    openMs: number;
    /** createRecommender's call to the first recommend's answer (null before it). */
    firstAnswerMs: number | null;
  };
  /** The stages that ran in the last recommend (or rank), each one's time inside the worker. */
  stages: StageTiming[];
  /** The ranker open beside the model; null when none was asked for or it could not be opened. */
  ranker: RankerInfo | null;
  /** Everything that went wrong without stopping the recommender. */
  warnings: string[];
  /**
   * Package versions that crashed the worker twice in a row while being loaded: never
   * tried again by this recommender, which keeps serving its last good model.
   */
  refused: Refusal[];
  workerRestarts: number;
  /** Requests answered, and history positions whose encoding was reused rather than redone. */
  stats: { requests: number; reusedPositions: number };
}

export interface Recommender {
  track(event: TrackInput): Promise<HistoryEvent>;
  /** Resolves once every event tracked so far is in IndexedDB (see `historyWrites`). */
  flush(): Promise<void>;
  /** Whether the open model knows this item (track, exclude and candidates accept it). */
  knows(item: string | number): boolean;
  recommend(options?: RecommendOptions): Promise<Recommendation[]>;
  /**
   * Scores candidates with a CTR model (ctr-dense, ctr-pruned): every field of the model
   * given once, in the context or in every candidate. A wrong field is 'bad-field'; a
   * value the model never saw is scored as unknown and reported, not refused. On a
   * next-item model: 'bad-request'.
   */
  rank(request: RankOptions): Promise<Ranking>;
  history(): Promise<HistoryEvent[]>;
  /** Erases this user's history on this device. */
  clear(): Promise<void>;
  info(): RecommenderInfo;
  /**
   * Looks for a new model version, and a new ranker version (or, when the ranker could not
   * be opened, for the ranker again); switches to each once it is downloaded, verified and
   * warmed up. Resolves false when there is none, or when the server's version is one this
   * recommender refused (a warning says so). Rejects with 'model-refused' when the new
   * model version crashes the worker twice during this call; the old model keeps serving.
   * A ranker that fails is a warning: the one in use keeps serving.
   */
  update(): Promise<boolean>;
  dispose(): void;
  readonly debug?: {
    loseDevice(): Promise<boolean>;
    crashWorker(): Promise<void>;
    hangWorker(): Promise<void>;
    /** The worker's tfjs bytes and tensors, and the peak bytes of a recommend. */
    memory(): Promise<MemoryReport>;
    /** A call the worker answers at once: the messaging's own round trip (benchmarks). */
    ping(): Promise<boolean>;
    /**
     * What the worker asked of the GPU since the last call (submits, maps, bytes mapped;
     * engine/webgpu-calls.ts); the first call starts counting. Null without WebGPU.
     */
    webgpuCalls(): Promise<WebgpuCalls | null>;
    /**
     * Later updates make the worker throw an uncaught error where it would build an
     * engine from this version ('any': any version; null: none), as running out of memory
     * there would.
     */
    crashWhenBuilding(version: string | null): void;
  };
}

function defaultWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'pocketrec' });
}

/** Item id ↔ row number of the open model. */
class ItemIndex {
  private readonly rows: Map<string, number> | null;

  constructor(
    private readonly ids: string[] | null,
    readonly count: number,
  ) {
    this.rows = ids ? new Map(ids.map((id, i) => [id, i + 1])) : null;
  }

  row(id: string): number | undefined {
    if (this.rows) return this.rows.get(id);
    // Without an id map the ids are the row numbers themselves.
    const n = Number(id);
    return Number.isInteger(n) && n >= 1 && n <= this.count && String(n) === id ? n : undefined;
  }

  id(row: number): string {
    return this.ids ? (this.ids[row - 1] as string) : String(row);
  }

  rowsOf(ids: readonly (string | number)[], what: string): Int32Array {
    return Int32Array.from(ids, (raw) => {
      const row = this.row(String(raw));
      if (row === undefined) {
        throw new RuntimeError(
          'unknown-item',
          `${what}: the model does not know item ${JSON.stringify(raw)}`,
        );
      }
      return row;
    });
  }
}

export async function createRecommender(options: RecommenderOptions): Promise<Recommender> {
  const openStarted = performance.now();
  if (typeof options?.model !== 'string' || options.model === '') {
    throw new RuntimeError('bad-request', 'createRecommender needs { model: <package URL> }');
  }
  const backend = options.backend ?? 'auto';
  const budget = resolveBudget(options.budget);
  if (!BACKEND_PREFERENCES.includes(backend)) {
    throw new RuntimeError(
      'bad-request',
      `backend must be one of ${BACKEND_PREFERENCES.join(', ')}, got ${JSON.stringify(backend)}`,
    );
  }
  const absolute = (what: string, url: string): string => {
    try {
      return new URL(url, globalThis.location?.href).href;
    } catch (error) {
      throw new RuntimeError('bad-request', `${what} ${JSON.stringify(url)} is not a URL`, {
        cause: error,
      });
    }
  };
  const model = absolute('model', options.model);
  if (
    options.ranker !== undefined &&
    (typeof options.ranker !== 'string' || options.ranker === '')
  ) {
    throw new RuntimeError('bad-request', 'ranker must be a package URL');
  }
  const rankerUrl = options.ranker === undefined ? undefined : absolute('ranker', options.ranker);
  let opened: OpenResult;
  let index: ItemIndex;
  const warnings: string[] = [];
  let backendNow: Pick<RecommenderInfo, 'adapter' | 'wasm'> & { name: RecommendResult['backend'] };
  let lastRecommendMs: number | null = null;
  let lastWorkerMs: number | null = null;
  let lastEncodeMs: number | null = null;
  let lastScoreMs: number | null = null;
  let stages: StageTiming[] = [];
  const stats = { requests: 0, reusedPositions: 0 };

  /** Set once the history is read, after the first open. */
  let mirror: HistoryMirror | null = null;
  const adopt = (result: OpenResult) => {
    opened = result;
    const next = new ItemIndex(result.model.itemIds, result.model.numItems);
    index = next;
    mirror?.reindex((item) => next.row(item));
    const { name, adapter, wasm } = result.engine.backend;
    backendNow = { name, adapter, wasm };
    for (const w of result.warnings) if (!warnings.includes(w)) warnings.push(w);
  };
  const warn = (warning: string) => {
    if (!warnings.includes(warning)) warnings.push(warning);
  };
  /**
   * Context fields the ranker could not use, once per field and problem: values it never
   * saw, and fields the page gave that it does not read (not the local context's own
   * defaults, which a ranker may well leave out).
   */
  const reportContext = (report: ContextReport, given: RecommendContext | undefined) => {
    const name = opened.ranker?.name ?? 'the ranker';
    for (const field of report.unknown) {
      warn(
        `context field "${field}": ${name} never saw this value in training; it is scored as unknown`,
      );
    }
    for (const field of report.missing) {
      warn(`context field "${field}" was not given; ${name} scores it as unknown`);
    }
    for (const field of report.unread) {
      if (given !== undefined && Object.hasOwn(given, field)) {
        warn(`context field "${field}" is not one ${name} reads; it is ignored`);
      }
    }
  };
  const onEvent = (event: WorkerEvent) => {
    switch (event.event) {
      case 'progress':
        options.onProgress?.({ loaded: event.loaded, total: event.total });
        break;
      case 'backend-change': {
        const { name, adapter, wasm } = event.backend;
        backendNow = { name, adapter, wasm };
        warnings.push(`switched to ${event.backend.name}: ${event.reason}`);
        break;
      }
      case 'building':
        // The connection's business (it blames crashes on the version).
        break;
    }
  };
  const refusalWarning = (url: string, version: string | null) =>
    version === null
      ? `model ${url} crashed the inference worker twice before its version was known; it is not retried`
      : url === rankerUrl
        ? `version ${version} of ranker ${url} crashed the inference worker twice while loading and is refused; recommendations come from the model alone until another version works`
        : `version ${version} of model ${url} crashed the inference worker twice while loading and is refused; the recommender keeps its last good model`;
  const connection = new WorkerConnection({
    spawn: options.spawnWorker ?? defaultWorker,
    callTimeoutMs: options.callTimeoutMs ?? 30_000,
    openTimeoutMs: options.openTimeoutMs ?? 300_000,
    onEvent,
    onRestart: (result) => adopt(result as OpenResult),
    onRefused: (refusal) => warn(refusalWarning(refusal.url, refusal.version)),
  });
  // Only a debug recommender's requests carry a crash trigger.
  let crashBuilding =
    typeof options.debug === 'object' ? options.debug.crashBuildingVersion : undefined;
  const buildDebug = (): { debug?: BuildDebug } =>
    options.debug && crashBuilding !== undefined
      ? { debug: { crashBuildingVersion: crashBuilding } }
      : {};

  const historyCap = options.historyCap ?? HISTORY_DEFAULTS.historyCap;
  // Read while the worker opens the model: the two wait on different databases.
  const history = openHistoryStore({
    isKnownItem: (id) => index.row(id) !== undefined,
    user: options.user ?? 'default',
    cap: historyCap,
    writes: options.historyWrites ?? HISTORY_DEFAULTS.historyWrites,
    writeDelayMs: options.historyWriteDelayMs ?? HISTORY_DEFAULTS.historyWriteDelayMs,
    ...(options.databases?.history ? { dbName: options.databases.history } : {}),
  }).then(async (store) => {
    const stored = await store.events();
    // Other tabs' changes from here on, kept until the mirror below takes over.
    const heard: HistoryChange[] = [];
    const stopHearing = store.onChange((change) => heard.push(change));
    return { store, stored, heard, stopHearing };
  });
  // Settled below, whichever way the model's open goes.
  history.catch(() => {});

  try {
    adopt(
      await connection.call<OpenResult>({
        type: 'open',
        // Absolute, query and fragment as given: the model store keys and resolves it.
        model,
        backend,
        incremental: options.incremental ?? true,
        materialiseRows: options.materialiseRows ?? 100_000,
        fused: options.fused ?? true,
        ...(budget ? { budget } : {}),
        ...(rankerUrl === undefined ? {} : { ranker: rankerUrl }),
        ...(options.databases?.models ? { modelDb: options.databases.models } : {}),
        ...buildDebug(),
      }),
    );
  } catch (error) {
    connection.close();
    history.then(({ store }) => store.close()).catch(() => {});
    throw error;
  }

  const opening = await history.catch((error: unknown) => {
    connection.close();
    throw error;
  });
  const store: HistoryStore = opening.store;
  warnings.push(...store.warnings);
  // A mirror of the stored history, so a request does not wait on IndexedDB, and sends the
  // worker only what changed since the last (history-sync.ts).
  const mirrored = new HistoryMirror(opening.stored, historyCap, (item) => index.row(item));
  // adopt() reindexes it from here on (a new model, a new worker).
  mirror = mirrored;
  const hear = (change: HistoryChange) => {
    if (change.kind === 'clear') mirrored.clear();
    else mirrored.append(change.event);
  };
  /**
   * A recommend with the history's changes since the worker's copy; a worker that does not
   * hold that copy (a new one after a crash) is sent the whole history once more.
   */
  const recommendWithHistory = async (
    body: Omit<RecommendRequest, 'history'>,
  ): Promise<RecommendResult> => {
    const send = () =>
      connection.call<RecommendResult>({ ...body, history: mirrored.next() }).catch((error) => {
        mirrored.lost();
        throw error;
      });
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof RuntimeError && error.code === 'history-out-of-sync')) throw error;
      return send();
    }
  };
  opening.heard.forEach(hear);
  opening.stopHearing();
  store.onChange(hear);

  const openMs = performance.now() - openStarted;
  let firstAnswerMs: number | null = null;
  // The same figures in the page's performance timeline (DevTools' Timings track).
  const measure = (name: string) => {
    try {
      performance.measure(name, { start: openStarted });
    } catch {
      // A timeline that refuses (an old browser) costs the page nothing.
    }
  };
  measure('pocketrec:open');
  const answered = () => {
    if (firstAnswerMs !== null) return;
    firstAnswerMs = performance.now() - openStarted;
    measure('pocketrec:first-answer');
  };

  const recommender: Recommender = {
    async track(event) {
      const stored = await store.append(event);
      mirrored.append(stored);
      return stored;
    },

    flush: () => store.flush(),

    knows: (item) => index.row(String(item)) !== undefined,

    async recommend(request = {}) {
      const started = performance.now();
      const k = request.k ?? 10;
      if (!Number.isInteger(k) || k < 1 || k > 1000) {
        throw new RuntimeError(
          'bad-request',
          `k must be an integer from 1 to 1000, got ${JSON.stringify(request.k)}`,
        );
      }
      // Here, so a value structured clone cannot copy fails typed, not in postMessage.
      if (request.context !== undefined) checkContext(request.context);
      if (request.explain !== undefined && typeof request.explain !== 'boolean') {
        throw new RuntimeError(
          'bad-request',
          `explain must be true or false, got ${JSON.stringify(request.explain)}`,
        );
      }
      const exclude = index.rowsOf(request.exclude ?? [], 'exclude');
      const candidates = request.candidates
        ? index.rowsOf(request.candidates, 'candidates').sort()
        : null;
      // The local context is read only when a ranker can use it.
      const context: ContextValues | null = opened.ranker
        ? mergeContext(localContext(), request.context)
        : null;
      const result = await recommendWithHistory({
        type: 'recommend',
        k,
        exclude,
        candidates,
        excludeSeen: request.excludeSeen ?? true,
        reuseEncoding: request.reuseEncoding ?? true,
        ...(context ? { context, explain: request.explain ?? false } : {}),
      });
      lastWorkerMs = result.ms;
      lastEncodeMs = result.encodeMs;
      lastScoreMs = result.scoreMs;
      stages = result.stages ?? [{ stage: 'retrieval', ms: result.ms }];
      stats.requests++;
      stats.reusedPositions += result.reused;
      backendNow = { ...backendNow, name: result.backend };
      if (result.context) reportContext(result.context, request.context);
      const places = result.ranking ?? null;
      const out = Array.from(result.rows, (row, i): Recommendation => {
        const place = places?.[i];
        return {
          item: index.id(row),
          reason: result.reason,
          score: result.scores[i] as number,
          ...(place
            ? {
                ranking: {
                  retrievalRank: place.retrievalRank,
                  rank: place.rank,
                  move: place.retrievalRank - place.rank,
                  context: place.context,
                },
              }
            : {}),
        };
      });
      lastRecommendMs = performance.now() - started;
      answered();
      return out;
    },

    async rank(request) {
      const started = performance.now();
      // Here, so a value structured clone cannot copy fails typed, not in postMessage.
      checkRankShape(request);
      const result = await connection.call<RankResult>({
        type: 'rank',
        candidates: request.candidates,
        ...(request.context === undefined ? {} : { context: request.context }),
      });
      lastWorkerMs = result.ms;
      lastEncodeMs = result.encodeMs;
      lastScoreMs = result.scoreMs;
      stages = [{ stage: 'ranking', ms: result.ms }];
      stats.requests++;
      backendNow = { ...backendNow, name: result.backend };
      const ranking = rankedCandidates(request, result);
      lastRecommendMs = performance.now() - started;
      answered();
      return ranking;
    },

    history: async () => [...(await store.events())],

    async clear() {
      await store.clear();
      mirrored.clear();
    },

    info() {
      const { itemIds: _, ...model } = opened.model;
      return {
        backend: backendNow.name,
        adapter: backendNow.adapter,
        wasm: backendNow.wasm,
        model,
        source: opened.from,
        storage: {
          model: opened.persistent ? 'indexeddb' : 'memory',
          history: store.persistent ? 'indexeddb' : 'memory',
        },
        incremental: opened.engine.incremental,
        scoring: opened.engine.scoring,
        stages: stages.map((s) => ({ ...s })),
        ranker: opened.ranker
          ? {
              ...opened.ranker,
              contextFields: [...opened.ranker.contextFields],
              itemFields: [...opened.ranker.itemFields],
            }
          : null,
        timings: {
          loadMs: opened.loadMs,
          initMs: opened.initMs,
          warmupMs: opened.warmupMs,
          lastRecommendMs,
          lastWorkerMs,
          lastEncodeMs,
          lastScoreMs,
          openMs,
          firstAnswerMs,
        },
        warnings: [...warnings],
        refused: connection.refused.map((r) => ({ ...r })),
        workerRestarts: connection.restarts,
        stats: { ...stats },
      };
    },

    async update() {
      const result = await connection.call<UpdateResult>({ type: 'update', ...buildDebug() });
      if (result.open) adopt(result.open);
      for (const warning of result.warnings ?? []) warn(warning);
      // Already reported (the call that refused it rejected): a page that polls for
      // updates is told once, not on every poll.
      if (result.refused !== undefined) warn(refusalWarning(model, result.refused));
      return result.updated;
    },

    dispose() {
      connection.close();
      store.close();
    },

    ...(options.debug
      ? {
          debug: {
            loseDevice: () => connection.call<boolean>({ type: 'debug', action: 'lose-device' }),
            crashWorker: async () => {
              await connection.call({ type: 'debug', action: 'crash' });
            },
            hangWorker: async () => {
              await connection.call({ type: 'debug', action: 'hang' });
            },
            memory: () => connection.call<MemoryReport>({ type: 'debug', action: 'memory' }),
            ping: () => connection.call<boolean>({ type: 'debug', action: 'ping' }),
            webgpuCalls: () =>
              connection.call<WebgpuCalls | null>({ type: 'debug', action: 'webgpu-calls' }),
            crashWhenBuilding: (version: string | null) => {
              crashBuilding = version ?? undefined;
            },
          },
        }
      : {}),
  };
  return recommender;
}

/** The candidates of a request with the worker's scores, best first. */
function rankedCandidates(request: RankOptions, result: RankResult): Ranking {
  const ranked = request.candidates.map((fields, index) => ({
    index,
    score: result.scores[index] as number,
    fields,
    unknown: result.unknownByCandidate[index] ?? [],
  }));
  ranked.sort((a, b) => b.score - a.score || a.index - b.index);
  return { ranked, unknownContext: result.unknownContext };
}
