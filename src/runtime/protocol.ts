/**
 * The messages between the client (page thread) and the inference worker.
 *
 * Every request carries an id and gets exactly one reply with that id: a result or a
 * serialised error. Errors cross as plain data (structured clone drops a class) and are
 * rebuilt on the other side as the same class with the same code, so a page can
 * `catch (e) { if (e.code === 'hash-mismatch') ... }` whichever thread failed.
 */
import { PocketrecError } from '../errors.ts';
import type { RecommendationReason } from '../model/popularity.ts';
import { ModelPackageError, type ModelPackageProblem } from '../package/errors.ts';
import type { DownloadBudget, PrefixInfo } from './budget.ts';
import type { CtrFieldValues } from './ctr-request.ts';
import type { ActiveBackend, BackendPreference } from './engine/backend.ts';
import type { ContextReport, EngineInfo, RankedPlace, StageTiming } from './engine/engine.ts';
import { RuntimeError, type RuntimeProblem } from './errors.ts';
import type { HistoryUpdate } from './history-sync.ts';
import type { ContextValues } from './local-context.ts';

export interface OpenRequest {
  type: 'open';
  /** The model package's base URL (absolute: the worker resolves nothing against the page). */
  model: string;
  backend: BackendPreference;
  incremental: boolean;
  materialiseRows: number;
  /** Use the fused WASM kernels where they apply (EngineOptions.fused); absent: true. */
  fused?: boolean;
  /**
   * How much of a progressive ctr-pruned package to download (budget.ts, resolved on the
   * page: 'auto' reads the page's navigator); absent: the whole package.
   */
  budget?: DownloadBudget;
  /** Where the page serves tfjs's .wasm files. */
  wasmPaths?: Record<string, string>;
  /** IndexedDB database of the model store (tests isolate themselves with it). */
  modelDb?: string;
  /**
   * Versions of this package that crashed the worker twice: the worker never builds them
   * (it rejects with 'model-refused'). The connection fills this in on every send.
   */
  refused?: string[];
  /** Test aids, sent only by a recommender created with `debug`. */
  debug?: BuildDebug;
  /**
   * A ranker package's base URL (absolute): opened through the same model store, built
   * against the model's items, the second stage of every recommend. A ranker that cannot
   * be opened leaves the model serving alone, with a warning.
   */
  ranker?: string;
  /** As `refused`, for the ranker's versions (the connection fills it in). */
  rankerRefused?: string[];
}

/** Asks the worker to look for new versions of the open package and ranker and switch to them. */
export interface UpdateRequest {
  type: 'update';
  /** As in OpenRequest: the server's version is not downloaded when it is one of these. */
  refused?: string[];
  rankerRefused?: string[];
  debug?: BuildDebug;
}

/**
 * `crashBuildingVersion`: the worker throws an uncaught error where it would build an
 * engine from this package version ('any': from any version), as running out of memory
 * there would. For testing the crash-restart path only.
 */
export interface BuildDebug {
  crashBuildingVersion?: string;
}

export interface UpdateResult {
  /** Whether the worker switched to a new version of the model or of the ranker just now. */
  updated: boolean;
  /** The server's version of the model. */
  version: string;
  /** Set when the server's version is one of the refused ones: nothing was downloaded. */
  refused?: string;
  /** Set whenever something switched: the state now. */
  open?: OpenResult;
  /** What went wrong with the ranker without stopping the update (it keeps its version). */
  warnings?: string[];
}

export interface RecommendRequest {
  type: 'recommend';
  /** What changed in the history since the worker's copy, or all of it (history-sync.ts). */
  history: HistoryUpdate;
  k: number;
  exclude: Int32Array;
  candidates: Int32Array | null;
  excludeSeen: boolean;
  reuseEncoding: boolean;
  /** Raw local context values, for the ranker (ignored without one). */
  context?: ContextValues;
  /** Ask the ranker which context field moved each item. */
  explain?: boolean;
}

/**
 * Ranks candidates with a CTR model: raw field values, checked and encoded in the worker
 * (ctr-request.ts), so the package's vocabularies never leave it.
 */
export interface RankRequest {
  type: 'rank';
  candidates: readonly CtrFieldValues[];
  context?: CtrFieldValues;
}

/** Candidates in request order (the client sorts them: it holds their fields). */
export interface RankResult {
  /** Click probability of each candidate. */
  scores: Float32Array;
  unknownContext: string[];
  unknownByCandidate: string[][];
  ms: number;
  encodeMs: number;
  scoreMs: number;
  backend: ActiveBackend['name'];
}

/** Test aids: what a driver reset or a crashed worker would do; and the worker's tfjs memory. */
export interface DebugRequest {
  type: 'debug';
  action: 'lose-device' | 'crash' | 'hang' | 'memory' | 'ping' | 'webgpu-calls';
}

/** The answer to the debug action 'memory': the worker's tfjs bytes (tf.memory()). */
export interface MemoryReport {
  numBytes: number;
  numTensors: number;
  /**
   * The most bytes tfjs held during a request: the max of `tf.profile`'s peakBytes over
   * the requests profiled so far (each 'memory' call runs the latest recommend or rank
   * again). Null before the first request.
   */
  peakBytes: number | null;
}

export type WorkerRequest = (
  | OpenRequest
  | RecommendRequest
  | RankRequest
  | DebugRequest
  | UpdateRequest
) & {
  id: number;
};

export interface ModelSummary {
  name: string;
  kind: string;
  url: string;
  version: string;
  numItems: number;
  /** External ids of items 1..numItems (null: the ids are the numbers themselves). */
  itemIds: string[] | null;
  bytes: number;
  params: number;
  embeddingCompression: number;
  modelCompression: number;
  /**
   * Whether the package carries a popularity prior (a prior tensor, or a Markov or popularity
   * package's own counts): an empty history then gets the most popular items.
   */
  prior: boolean;
  /** Set when the model is a prefix of a progressive package, as much as the budget allowed. */
  prefix?: PrefixInfo;
}

/** The ranker open beside the model. */
export interface RankerSummary {
  name: string;
  kind: string;
  url: string;
  version: string;
  from: 'network' | 'indexeddb';
  persistent: boolean;
  /** Items retrieval proposes to it (at least k are always proposed). */
  candidates: number;
  /** Final score = retrieval score + weight × the ranker's logit. */
  weight: number;
  contextFields: string[];
  /** Item fields from its table, the item's own id field first when it has one. */
  itemFields: string[];
  /** The model's items its table does not list (their item fields are scored as unknown). */
  unknownItems: number;
}

export interface OpenResult {
  model: ModelSummary;
  /**
   * Null (or absent) when no ranker was asked for, or when it could not be opened (see
   * warnings).
   */
  ranker?: RankerSummary | null;
  from: 'network' | 'indexeddb';
  persistent: boolean;
  engine: EngineInfo;
  warnings: string[];
  loadMs: number;
  /** Selecting the backend and building the model's tensors on it (Engine.create). */
  initMs: number;
  warmupMs: number;
}

export interface RecommendResult {
  rows: Int32Array;
  /** With a ranker, the fused scores (retrieval score + weight × ranker logit). */
  scores: Float32Array;
  /** What every row of this answer rests on (engine/engine.ts: Recommendations). */
  reason: RecommendationReason;
  reused: number;
  ms: number;
  /** The engine's split of `ms` (see Recommendations in engine/engine.ts). */
  encodeMs: number;
  scoreMs: number;
  backend: ActiveBackend['name'];
  /** The stages that ran and each one's time in the engine (absent: none reported). */
  stages?: StageTiming[];
  /** Set when the ranker ran: per row, its places in the two orders (absent: null). */
  ranking?: RankedPlace[] | null;
  /** Set when the ranker ran: what its context fields got (absent: null). */
  context?: ContextReport | null;
}

export interface SerializedError {
  name: string;
  code: string | null;
  message: string;
  file?: string;
}

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: SerializedError };

/** Unsolicited messages from the worker. */
export type WorkerEvent =
  | { event: 'progress'; loaded: number; total: number }
  | { event: 'backend-change'; backend: ActiveBackend; reason: string }
  /**
   * Request `id` (an open or update) now works on this version of the package at `url`:
   * a crash from here until its reply is blamed on that version (worker-connection.ts).
   */
  | { event: 'building'; id: number; url: string; version: string };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof ModelPackageError) {
    return { name: error.name, code: error.code, message: error.message, file: error.file };
  }
  if (error instanceof PocketrecError) {
    return { name: error.name, code: error.code, message: error.message };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { name: e.name, code: null, message: e.message };
}

export function deserializeError(error: SerializedError): Error {
  if (error.name === 'ModelPackageError') {
    // The message already names the file; rebuild without repeating it.
    const file = error.file ?? '';
    const problem = error.message.startsWith(`${file}: `)
      ? error.message.slice(file.length + 2)
      : error.message;
    return new ModelPackageError(error.code as ModelPackageProblem, file, problem);
  }
  if (error.name === 'RuntimeError') {
    return new RuntimeError(error.code as RuntimeProblem, error.message);
  }
  if (error.code) return new PocketrecError(error.code, error.message);
  const plain = new Error(error.message);
  plain.name = error.name;
  return plain;
}
