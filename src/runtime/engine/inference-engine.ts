/**
 * What the worker asks of an engine, whichever serves the model: Engine (tfjs, every kind,
 * engine.ts) or FusedEngine (the fused WASM kernels alone, fused-engine.ts). openEngine
 * (open-engine.ts) picks one and loads tfjs only for the first, so the common case downloads
 * none of it.
 */
import type { ModelPackage } from '../../package/reader.ts';
import type { MemoryReport } from '../protocol.ts';
import type { ActiveBackend } from './backend.ts';
import type {
  CandidateScores,
  EngineInfo,
  RankerOpened,
  Recommendations,
  TwoStageQuery,
} from './engine.ts';
import type { RecommendQuery } from './sequential-scorer.ts';

export interface InferenceEngine {
  readonly backend: ActiveBackend;
  info(): EngineInfo;
  /** Runs every path a request can take once, so nothing compiles on a user's click. */
  warmUp(): Promise<void>;
  recommend(query: TwoStageQuery): Promise<Recommendations>;
  rank(request: unknown): Promise<CandidateScores>;
  openRanker(pkg: ModelPackage, url: string): Promise<RankerOpened>;
  /** What the engine holds, after running `rerun` (the latest request) again when given. */
  memory(rerun: (() => Promise<unknown>) | null): Promise<MemoryReport>;
  dispose(): void;
}

/**
 * The requests a warm-up runs, whichever engine: one event, two events (an incremental step),
 * and a candidate list, so every path of a request has run once.
 */
export function warmUpQueries(numItems: number): RecommendQuery[] {
  const [a, b] = [1, Math.min(2, numItems)];
  const base = { k: Math.min(10, numItems), exclude: new Int32Array(0), excludeSeen: true };
  return [
    { ...base, history: Int32Array.of(a), candidates: null },
    { ...base, history: Int32Array.of(a, b), candidates: null },
    { ...base, history: Int32Array.of(b), candidates: Int32Array.of(a, b) },
  ];
}
