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
