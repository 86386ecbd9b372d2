/**
 * The worker's inference engine: one model on one tfjs backend, served by the scorer of
 * its kind:
 *  - sequential (sequential-dense, -tt, -jpq, -qr): "the best k items after this history",
 *    with the shared SASRec math (sequential-scorer.ts); on the WASM backend, where the
 *    model allows it, by the fused WASM SIMD kernels instead (fused-sequential-scorer.ts:
 *    the same answers in a few calls, tfjs staying the reference and the fallback); on
 *    WebGPU, where the model allows it, the kernels encode and the GPU scores the table
 *    (fused-gpu-scorer.ts);
 *  - markov (sequential-markov): the same question, in plain TypeScript;
 *  - popularity (sequential-popularity): the most popular items, whatever the history;
 *  - ctr (ctr-dense, ctr-pruned): "the click probability of each of these candidates in
 *    this context", with the shared ctrForward (ctr-scorer.ts).
 * A request a kind cannot answer (recommend on a CTR model, rank on a next-item one) is a
 * RuntimeError('bad-request'). A next-item package's popularity prior (model/popularity.ts;
 * a Markov package's own popularity) answers an empty history, marked 'popular', where a
 * sequential model would have nothing to encode. Whatever the kind, a lost WebGPU device
 * moves the engine to WASM and rebuilds the model there from the package.
 *
 * A next-item engine may also hold a ranker (openRanker, ranker-stage.ts): then a
 * recommend is two stages in one call, retrieval (this model's top `candidates` items, or
 * the prior's for an empty history) and ranking (the ranker's click probability of each in
 * the request's context, fused with the retrieval score), and returns the best k of the
 * final order.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type FusedTable,
  type FusedWeights,
  fusedUnsupported,
} from '../../kernels/wasm/sasrec-fused/fused-sasrec.ts';
import type { ItemTable } from '../../model/item-table.ts';
import { type MarkovModel, markovFromPackage, scoreMarkov } from '../../model/markov.ts';
import {
  POPULARITY_KIND,
  type PopularityPrior,
  popularityFromPackage,
  popularityPriorOf,
  priorFromCounts,
  type RecommendationReason,
} from '../../model/popularity.ts';
import { isSequentialKind } from '../../model/sequential-structure.ts';
import type { ModelPackage } from '../../package/reader.ts';
import { RuntimeError } from '../errors.ts';
import type { ContextValues } from '../local-context.ts';
import type { MemoryReport } from '../protocol.ts';
import {
  type ActiveBackend,
  type BackendPreference,
  selectBackend,
  type WasmPaths,
  webgpuDeviceLost,
} from './backend.ts';
import {
  buildCtrScorer,
  type CtrScorer,
  isCtrKind,
  releaseCtrScorer,
  scoreCtr,
  warmUpRows,
} from './ctr-scorer.ts';
import { type FusedGpuScorer, scoreFusedOnGpu } from './fused-gpu-scorer.ts';
import {
  buildFusedScorer,
  type FusedSequentialScorer,
  forgetFused,
  scoreFused,
} from './fused-sequential-scorer.ts';
import { type InferenceEngine, warmUpQueries } from './inference-engine.ts';
import {
  buildRankerStage,
  type ContextReport,
  encodeContext,
  type RankerStage,
  rankCandidates,
  rebuildRankerStage,
  releaseRankerStage,
  warmUpRankerStage,
} from './ranker-stage.ts';
import {
  buildSequentialScorer,
  type Ranking,
  type RecommendQuery,
  releaseSequentialScorer,
  type SequentialScorer,
  scoreSequential,
  type TableScoring,
} from './sequential-scorer.ts';
import { rankScoreRow } from './top-k.ts';

export type { ContextReport } from './ranker-stage.ts';
export type { RecommendQuery } from './sequential-scorer.ts';

/** A recommend request: the query, and what the ranker reads when one is open. */
export interface TwoStageQuery extends RecommendQuery {
  /** Raw context values (local-context.ts), checked on the page. */
  context?: ContextValues;
  /** Also work out which context field moved each item most (1 + fields rows per candidate). */
  explain?: boolean;
}

/** A stage of a recommend request and its time inside the engine. */
export interface StageTiming {
  stage: 'retrieval' | 'ranking';
  ms: number;
}

/** Where the ranker put an item, for each item of a two-stage answer (in answer order). */
export interface RankedPlace {
  /** 0-based place in retrieval's order, and in the final one. */
  retrievalRank: number;
  rank: number;
  /** The context field that moved its score most (explain only), with how much. */
  context: { field: string; effect: number } | null;
}

export interface EngineOptions {
  backend: BackendPreference;
  wasmPaths?: WasmPaths;
  /** Reuse earlier positions' keys and values between requests (from-oldest models). */
  incremental: boolean;
  /** A tensor-train table up to this many rows is materialised once; above, never. */
  materialiseRows: number;
  /**
   * On the WASM backend, serve a sequential model by the fused WASM SIMD kernels when it
   * allows them (false: always the tfjs ops, the reference path).
   */
  fused?: boolean;
  /** Called when a lost WebGPU device has made the engine move to another backend. */
  onBackendChange?: (backend: ActiveBackend, reason: string) => void;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  backend: 'auto',
  incremental: true,
  materialiseRows: 100_000,
  fused: true,
};

export interface Recommendations {
  rows: Int32Array;
  scores: Float32Array;
  /** 'popular': the prior answered (an empty history, or a popularity package). */
  reason: RecommendationReason;
  /** Positions reused from the previous request's encoding. */
  reused: number;
  /**
   * Time spent encoding the history, and the rest (scoring, top-k, reading back). On
   * WebGPU encoding only queues work, so there most of it shows up under scoreMs.
   */
  encodeMs: number;
  scoreMs: number;
  /** The stages that ran, in order. */
  stages: StageTiming[];
  /** Set when the ranker ran: each row's places (scores are then the fused ones). */
  ranking: RankedPlace[] | null;
  /** Set when the ranker ran: what its context fields got. */
  context: ContextReport | null;
}

/** A CTR model's answer to a rank request, candidates in request order. */
export interface CandidateScores {
  /** Click probability of each candidate. */
  scores: Float32Array;
  /** Context fields whose value the vocabulary lacks (scored out of vocabulary). */
  unknownContext: string[];
  /** Per candidate, its own fields whose value the vocabulary lacks. */
  unknownByCandidate: string[][];
  /** Encoding the request's values into ids, and the rest (the model, reading back). */
  encodeMs: number;
  scoreMs: number;
}

export interface EngineInfo {
  backend: ActiveBackend;
  kind: string;
  numItems: number;
  /**
   * How a request is scored: a sequential model's full-catalogue path on tfjs, or
   * 'fused-wasm' (the fused kernels), 'fused-wasm+webgpu' (the kernels encode, the table is
   * scored on the GPU: fused-gpu-scorer.ts), 'markov', 'popularity' or 'ctr'.
   */
  scoring:
    | TableScoring['scoring']
    | 'fused-wasm'
    | 'fused-wasm+webgpu'
    | 'markov'
    | 'popularity'
    | 'ctr';
  incremental: boolean;
}

interface MarkovScorer {
  kind: 'markov';
  model: MarkovModel;
}

interface PopularityScorer {
  kind: 'popularity';
  prior: PopularityPrior;
}

/** What a loaded model scores with, by kind. */
type Scorer =
  | SequentialScorer
  | FusedSequentialScorer
  | FusedGpuScorer
  | MarkovScorer
  | PopularityScorer
  | CtrScorer;

const SUPPORTED_KINDS =
  'sequential-dense, sequential-tt, sequential-jpq, sequential-qr, sequential-pruned, sequential-markov, sequential-popularity, ctr-dense and ctr-pruned';

function isSupported(kind: string): boolean {
  return (
    isSequentialKind(kind) ||
    kind === 'sequential-markov' ||
    kind === POPULARITY_KIND ||
    isCtrKind(kind)
  );
}

/**
 * What answers an empty history: the package's prior tensor, a Markov model's popularity,
 * a popularity package's own prior; none for a CTR model or a package without a prior.
 */
function emptyHistoryPrior(pkg: ModelPackage): PopularityPrior | null {
  const { kind } = pkg.manifest;
  if (kind === 'sequential-markov') return priorFromCounts(markovFromPackage(pkg).popularity);
  if (kind === POPULARITY_KIND) return popularityFromPackage(pkg);
  return isCtrKind(kind) ? null : popularityPriorOf(pkg);
}

/** The ranker as opened: its file, and the model's items its table lacks. */
export interface RankerOpened {
  spec: RankerStage['spec'];
  /** Items of this model the ranker's table does not list (scored with unknown item fields). */
  unknownItems: number;
}

export class Engine implements InferenceEngine {
  /** Set by create (and by recover), before any request. */
  private scorer!: Scorer;
  /** The second stage, when a ranker is open. */
  private ranker: RankerStage | null = null;
  /** Checked before any tensor is built, and kept across backends (it is plain numbers). */
  private readonly prior: PopularityPrior | null;
  private lost: string | null = null;
  private disposed = false;
  private peakBytes: number | null = null;

  private constructor(
    private readonly pkg: ModelPackage,
    private readonly options: EngineOptions,
    private active: ActiveBackend,
  ) {
    this.prior = emptyHistoryPrior(pkg);
  }

  static async create(pkg: ModelPackage, options: EngineOptions): Promise<Engine> {
    if (!isSupported(pkg.manifest.kind)) {
      throw new RuntimeError(
        'bad-request',
        `${pkg.manifest.name}: the browser runtime runs ${SUPPORTED_KINDS} models, not ${pkg.manifest.kind}`,
      );
    }
    const active = await selectBackend(options.backend, options.wasmPaths);
    const engine = new Engine(pkg, options, active);
    engine.scorer = await engine.build();
    engine.watchDevice();
    return engine;
  }

  get backend(): ActiveBackend {
    return this.active;
  }

  info(): EngineInfo {
    const { scorer } = this;
    return {
      backend: this.active,
      kind: this.pkg.manifest.kind,
      numItems: this.pkg.manifest.items.count,
      scoring: scoringOf(scorer),
      incremental:
        (scorer.kind === 'sequential' && scorer.encoder.incremental) ||
        (scorer.kind === 'fused-sequential' && scorer.incremental) ||
        (scorer.kind === 'fused-encoder-gpu-table' && scorer.fused.incremental),
    };
  }

  /** Runs every path a request can take once, so shaders compile now, not on a user's click. */
  async warmUp(): Promise<void> {
    if (this.scorer.kind === 'ctr') {
      await this.run(() => {
        const scorer = this.ctrScorer();
        return scoreCtr(scorer, warmUpRows(scorer.model));
      });
      return;
    }
    for (const query of warmUpQueries(this.pkg.manifest.items.count)) await this.recommend(query);
    if (this.scorer.kind === 'sequential') this.scorer.encoder.forget();
    if (this.scorer.kind === 'fused-sequential') forgetFused(this.scorer);
    if (this.scorer.kind === 'fused-encoder-gpu-table') forgetFused(this.scorer.fused);
  }

  /**
   * The best k items after a history (next-item models); with a ranker open, the best k of
   * retrieval's top max(k, candidates) re-ranked in the query's context.
   */
  async recommend(query: TwoStageQuery): Promise<Recommendations> {
    const started = performance.now();
    let encodeMs = 0;
    const stage = this.ranker;
    const k = stage ? Math.max(query.k, stage.spec.candidates) : query.k;
    const retrieved = await this.run(() =>
      this.recommendWith(this.scorer, { ...query, k }, (ms) => {
        encodeMs = ms;
      }),
    );
    const retrievalMs = performance.now() - started;
    const stages: StageTiming[] = [{ stage: 'retrieval', ms: retrievalMs }];
    const result = { ...retrieved, encodeMs, stages, ranking: null, context: null };
    if (!stage || retrieved.rows.length === 0) {
      return { ...result, scoreMs: retrievalMs - encodeMs };
    }
    const rankStart = performance.now();
    const { encoded, report } = encodeContext(stage, query.context ?? {});
    const order = await this.run(() =>
      rankCandidates(
        this.rankerStage(),
        retrieved.rows,
        retrieved.scores,
        encoded,
        query.explain ?? false,
      ),
    );
    const top = order.slice(0, query.k);
    const rankingMs = performance.now() - rankStart;
    stages.push({ stage: 'ranking', ms: rankingMs });
    return {
      ...result,
      rows: Int32Array.from(top, (item) => item.row),
      scores: Float32Array.from(top, (item) => item.score),
      scoreMs: retrievalMs - encodeMs + rankingMs,
      ranking: top.map(({ retrievalRank, rank, context }) => ({ retrievalRank, rank, context })),
      context: report,
    };
  }

  /**
   * Makes `pkg` (a ranker, at `url`) this engine's second stage: built against this model's
   * items and warmed up before it replaces the ranker open now, whose tensors are then
   * released. Throws RuntimeError('not-a-ranker') for a package that is not a ranker,
   * 'bad-request' on an engine that cannot retrieve (a CTR model), a ModelPackageError for
   * a ranker file that does not fit; the ranker open before stays open then.
   */
  async openRanker(pkg: ModelPackage, url: string): Promise<RankerOpened> {
    this.checkLive();
    if (this.scorer.kind === 'ctr') {
      throw new RuntimeError(
        'bad-request',
        `${this.pkg.manifest.name} is a CTR model (${this.pkg.manifest.kind}): it has no items to retrieve, so ranker ${url} has nothing to re-rank`,
      );
    }
    const numItems = this.pkg.manifest.items.count;
    const next = buildRankerStage(pkg, url, { itemIds: this.pkg.itemIds, numItems });
    try {
      await warmUpRankerStage(next, numItems);
    } catch (error) {
      releaseRankerStage(next);
      throw error;
    }
    const previous = this.ranker;
    this.ranker = next;
    if (previous) releaseRankerStage(previous);
    return { spec: next.spec, unknownItems: next.table.unknownRows };
  }

  /**
   * The click probability of each candidate (CTR models). `request` is a rank request as
   * the page sent it, checked here (ctr-request.ts).
   */
  async rank(request: unknown): Promise<CandidateScores> {
    this.checkLive();
    const started = performance.now();
    const { rows, unknownContext, unknownByCandidate } = this.ctrScorer().requests.encode(request);
    const encodeMs = performance.now() - started;
    const scores = await this.run(() => scoreCtr(this.ctrScorer(), rows));
    const scoreMs = performance.now() - started - encodeMs;
    return { scores, unknownContext, unknownByCandidate, encodeMs, scoreMs };
  }

  /**
   * tfjs's tensors and bytes now, and the most bytes it held while running `rerun` (the
   * latest request) again, the highest so far.
   */
  async memory(rerun: (() => Promise<unknown>) | null): Promise<MemoryReport> {
    if (rerun) {
      const profile = await tf.profile(async () => {
        await rerun();
      });
      // -Infinity when no kernel ran (a Markov model).
      if (Number.isFinite(profile.peakBytes)) {
        this.peakBytes = Math.max(this.peakBytes ?? 0, profile.peakBytes);
      }
    }
    const { numBytes, numTensors } = tf.memory();
    return { numBytes, numTensors, peakBytes: this.peakBytes };
  }

  dispose(): void {
    this.disposed = true;
    this.release();
  }

  private async build(): Promise<Scorer> {
    const { pkg, options } = this;
    if (isSequentialKind(pkg.manifest.kind)) {
      const scorer = buildSequentialScorer(pkg, options, this.active.name);
      const backend = this.active.name;
      const fuse =
        options.fused !== false &&
        (backend === 'wasm' || backend === 'webgpu') &&
        fusedUnsupported(scorer.model.config) === null;
      let fused: FusedSequentialScorer | null = null;
      try {
        fused = fuse ? await fusedScorerOf(scorer, options) : null;
      } catch (error) {
        releaseSequentialScorer(scorer);
        throw error;
      }
      if (!fused) return scorer;
      // On WebGPU the table stays there to be ranked; on WASM the kernels hold all of it.
      if (backend === 'webgpu') return { kind: 'fused-encoder-gpu-table', fused, table: scorer };
      releaseSequentialScorer(scorer);
      return fused;
    }
    if (isCtrKind(pkg.manifest.kind)) return buildCtrScorer(pkg);
    if (pkg.manifest.kind === POPULARITY_KIND) {
      return { kind: 'popularity', prior: popularityFromPackage(pkg) };
    }
    return { kind: 'markov', model: markovFromPackage(pkg) };
  }

  private release(): void {
    const { scorer, ranker } = this;
    if (scorer.kind === 'sequential') releaseSequentialScorer(scorer);
    else if (scorer.kind === 'fused-encoder-gpu-table') releaseSequentialScorer(scorer.table);
    else if (scorer.kind === 'ctr') releaseCtrScorer(scorer);
    if (ranker) releaseRankerStage(ranker);
    this.ranker = null;
  }

  /** The ranker the running request reads (after a lost device, the one rebuilt). */
  private rankerStage(): RankerStage {
    if (!this.ranker) throw new RuntimeError('model-unavailable', 'the ranker was closed');
    return this.ranker;
  }

  private async recommendWith(
    scorer: Scorer,
    query: RecommendQuery,
    onEncoded: (ms: number) => void,
  ): Promise<Ranking & { reason: RecommendationReason }> {
    if (query.history.length === 0 && this.prior) {
      return { ...rankScoreRow(this.prior.scores, query), reused: 0, reason: 'popular' };
    }
    switch (scorer.kind) {
      case 'sequential':
        return { ...(await scoreSequential(scorer, query, onEncoded)), reason: 'model' };
      case 'fused-sequential':
        return { ...scoreFused(scorer, query, onEncoded), reason: 'model' };
      case 'fused-encoder-gpu-table':
        return { ...(await scoreFusedOnGpu(scorer, query, onEncoded)), reason: 'model' };
      case 'markov': {
        const ranked = rankScoreRow(scoreMarkov(scorer.model, query.history), query);
        return { ...ranked, reused: 0, reason: 'model' };
      }
      case 'popularity':
        return { ...rankScoreRow(scorer.prior.scores, query), reused: 0, reason: 'popular' };
      case 'ctr':
        throw new RuntimeError(
          'bad-request',
          `${this.pkg.manifest.name} is a CTR model (${this.pkg.manifest.kind}): it ranks candidates given as fields (rank), it does not recommend items after a history`,
        );
    }
  }

  private ctrScorer(): CtrScorer {
    if (this.scorer.kind !== 'ctr') {
      throw new RuntimeError(
        'bad-request',
        `${this.pkg.manifest.name} is a next-item model (${this.pkg.manifest.kind}): it recommends items after a history (recommend); rank needs a CTR model`,
      );
    }
    return this.scorer;
  }

  private checkLive(): void {
    if (this.disposed) throw new RuntimeError('disposed', 'the engine was disposed');
  }

  /**
   * Runs a request's device work; when the WebGPU device is lost, before or during it,
   * moves to WASM and runs it again there. `work` reads the scorer when it runs.
   */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    this.checkLive();
    if (this.lost) await this.recover();
    try {
      return await work();
    } catch (error) {
      // A device lost mid-request surfaces as a failed op or read; answer from the fallback.
      if (!(this.active.name === 'webgpu' && (await this.deviceGone()))) throw error;
      await this.recover();
      return work();
    }
  }

  private watchDevice(): void {
    const lost = this.active.name === 'webgpu' ? webgpuDeviceLost() : null;
    lost?.then((info) => {
      if (this.disposed) return;
      this.lost = `the WebGPU device was lost (${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''})`;
    });
  }

  private async deviceGone(): Promise<boolean> {
    // `lost` settles a task or two after the failure that revealed it.
    await new Promise((resolve) => setTimeout(resolve, 0));
    return this.lost !== null;
  }

  /** Moves to the next backend after a lost device, rebuilding every tensor from the package. */
  private async recover(): Promise<void> {
    const reason = this.lost ?? 'the WebGPU device failed';
    this.lost = null;
    // The old tensors live on the dead device: their memory cannot be read back or moved,
    // so they are dropped with the backend rather than released.
    tf.removeBackend('webgpu');
    const next = await selectBackend('wasm', this.options.wasmPaths);
    this.active = { ...next, fallbacks: [...this.active.fallbacks, `webgpu: ${reason}`] };
    this.scorer = await this.build();
    if (this.ranker) this.ranker = rebuildRankerStage(this.ranker);
    this.options.onBackendChange?.(this.active, reason);
  }
}

function scoringOf(scorer: Scorer): EngineInfo['scoring'] {
  if (scorer.kind === 'sequential') return scorer.ranking.scoring;
  if (scorer.kind === 'fused-sequential') return 'fused-wasm';
  if (scorer.kind === 'fused-encoder-gpu-table') return 'fused-wasm+webgpu';
  return scorer.kind;
}

/**
 * The fused kernels' scorer for a tfjs one, from its encoder's weights and its table (the
 * tensors stay the caller's); null where the kernels cannot read the table.
 */
async function fusedScorerOf(
  scorer: SequentialScorer,
  options: EngineOptions,
): Promise<FusedSequentialScorer | null> {
  const { model, table } = scorer;
  const fusedTable = await fusedTableOf(table, model.items);
  if (!fusedTable) return null;
  const encoder: FusedWeights['encoder'] = {};
  for (const [name, tensor] of Object.entries(model.encoder)) {
    encoder[name] = (await tensor.data()) as Float32Array;
  }
  const weights = { encoder, table: fusedTable, numRows: model.items.numRows };
  return buildFusedScorer(model.config, model.repeatBonus ?? 0, weights, options);
}

/**
 * The table the fused kernels read for a sequential scorer: the table it built, or a
 * tensor-train table's cores (scored through them); null for a table the kernels do not
 * score (RecJPQ's codebooks).
 */
async function fusedTableOf(
  built: tf.Tensor2D | null,
  items: ItemTable,
): Promise<FusedTable | null> {
  if (built) return { kind: 'dense', values: (await built.data()) as Float32Array };
  if (items.kind !== 'tt') return null;
  const { cores, shape } = items.tt;
  const values = await Promise.all(cores.map(async (core) => (await core.data()) as Float32Array));
  return { kind: 'tensor-train', cores: values, shape };
}
