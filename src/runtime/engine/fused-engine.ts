/**
 * The engine of the common case without tfjs: a dense next-item model (sequential-dense)
 * served by the fused WASM SIMD kernels alone, its weights read straight from the verified
 * package. The worker opens it when the page allows WASM ('auto' or 'wasm'), asks for no
 * ranker and the kernels run the model's encoder (open-engine.ts); tfjs, its WASM binary and
 * the other scorers are then never downloaded. It answers as Engine does on the same package
 * with the fused kernels (fused-sequential-scorer.ts): the same recommend, an empty history
 * answered by the package's prior, the same errors for what a next-item model cannot do.
 */
import { popularityPriorOf, type RecommendationReason } from '../../model/popularity.ts';
import type { ModelPackage } from '../../package/reader.ts';
import { RuntimeError } from '../errors.ts';
import type { MemoryReport } from '../protocol.ts';
import type { ActiveBackend } from './backend.ts';
import type {
  CandidateScores,
  EngineInfo,
  EngineOptions,
  RankerOpened,
  Recommendations,
  TwoStageQuery,
} from './engine.ts';
import {
  buildFusedScorer,
  type FusedSequentialScorer,
  forgetFused,
  type fusedModelFromPackage,
  scoreFused,
} from './fused-sequential-scorer.ts';
import { type InferenceEngine, warmUpQueries } from './inference-engine.ts';
import { type Ranked, rankScoreRow } from './top-k.ts';

/** The kernels run on the page's CPU in one thread, with WASM SIMD. */
const FUSED_BACKEND: ActiveBackend = {
  name: 'wasm',
  adapter: null,
  wasm: { simd: true, threaded: false, threads: 1 },
  fallbacks: [],
};

export class FusedEngine implements InferenceEngine {
  readonly backend: ActiveBackend = { ...FUSED_BACKEND, fallbacks: [] };
  private disposed = false;

  private constructor(
    private readonly pkg: ModelPackage,
    private readonly scorer: FusedSequentialScorer,
    private readonly prior: ReturnType<typeof popularityPriorOf>,
  ) {}

  /** `model`: the package as fusedModelFromPackage read it. */
  static async create(
    pkg: ModelPackage,
    model: NonNullable<ReturnType<typeof fusedModelFromPackage>>,
    options: Pick<EngineOptions, 'incremental'>,
  ): Promise<FusedEngine> {
    const prior = popularityPriorOf(pkg);
    const scorer = await buildFusedScorer(model.config, model.repeatBonus, model.weights, options);
    return new FusedEngine(pkg, scorer, prior);
  }

  info(): EngineInfo {
    return {
      backend: this.backend,
      kind: this.pkg.manifest.kind,
      numItems: this.pkg.manifest.items.count,
      scoring: 'fused-wasm',
      incremental: this.scorer.incremental,
    };
  }

  /** The paths a request can take, once (as Engine.warmUp), then nothing kept. */
  async warmUp(): Promise<void> {
    for (const query of warmUpQueries(this.pkg.manifest.items.count)) await this.recommend(query);
    forgetFused(this.scorer);
  }

  async recommend(query: TwoStageQuery): Promise<Recommendations> {
    this.checkLive();
    const started = performance.now();
    let encodeMs = 0;
    const answered: Ranked & { reused: number; reason: RecommendationReason } =
      query.history.length === 0 && this.prior
        ? { ...rankScoreRow(this.prior.scores, query), reused: 0, reason: 'popular' }
        : {
            ...scoreFused(this.scorer, query, (ms) => {
              encodeMs = ms;
            }),
            reason: 'model',
          };
    const ms = performance.now() - started;
    return {
      ...answered,
      encodeMs,
      scoreMs: ms - encodeMs,
      stages: [{ stage: 'retrieval', ms }],
      ranking: null,
      context: null,
    };
  }

  async rank(_request: unknown): Promise<CandidateScores> {
    this.checkLive();
    const { name, kind } = this.pkg.manifest;
    throw new RuntimeError(
      'bad-request',
      `${name} is a next-item model (${kind}): it recommends items after a history (recommend); rank needs a CTR model`,
    );
  }

  async openRanker(_pkg: ModelPackage, url: string): Promise<RankerOpened> {
    // open-engine.ts opens the tfjs engine whenever a ranker is asked for at open.
    throw new RuntimeError(
      'bad-request',
      `ranker ${url} needs the tfjs engine: open the recommender with the ranker to use one`,
    );
  }

  /** The kernels' memory; no tfjs tensors (there is no tfjs). */
  async memory(rerun: (() => Promise<unknown>) | null): Promise<MemoryReport> {
    if (rerun) await rerun();
    const bytes = this.scorer.fused.memoryBytes;
    return { numBytes: bytes, numTensors: 0, peakBytes: bytes };
  }

  dispose(): void {
    this.disposed = true;
    forgetFused(this.scorer);
  }

  private checkLive(): void {
    if (this.disposed) throw new RuntimeError('disposed', 'the engine was disposed');
  }
}
