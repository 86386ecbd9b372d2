/**
 * The worker's inference engine: one model on one tfjs backend, answering "the best k
 * items after this history".
 *
 * Sequential models encode the history with the shared SASRec math (SessionEncoder) and
 * score the query against the item table:
 *  - with `candidates`, only those rows are looked up and scored;
 *  - a tensor-train table on WebGPU goes through the fused WGSL kernel, which scores and
 *    keeps top-k candidates without writing a score per item;
 *  - otherwise the scores come back once per request and the top-k is taken on the CPU. A
 *    tensor-train table with at most `materialiseRows` rows is built once at load (one
 *    product per request is cheaper than the contraction's several); a larger one is never
 *    built: the query is contracted with the cores.
 * Markov models score in plain TypeScript.
 */
import * as tf from '@tensorflow/tfjs';
import { ttScoreTopK } from '../../kernels/webgpu/tt-score-topk/register.ts';
import { type MarkovModel, markovFromPackage, scoreMarkov } from '../../model/markov.ts';
import { type SequentialModel, windowItems } from '../../model/sequential.ts';
import { sequentialFromPackage } from '../../model/sequential-package.ts';
import { isSequentialKind } from '../../model/sequential-structure.ts';
import { ttScoreAll } from '../../model/tt-matrix.ts';
import type { ModelPackage } from '../../package/reader.ts';
import { RuntimeError } from '../errors.ts';
import {
  type ActiveBackend,
  type BackendPreference,
  selectBackend,
  type WasmPaths,
  webgpuDeviceLost,
} from './backend.ts';
import { blockTopK } from './block-top-k.ts';
import { SessionEncoder } from './session-encoder.ts';
import { type Ranked, topK } from './top-k.ts';

export interface EngineOptions {
  backend: BackendPreference;
  wasmPaths?: WasmPaths;
  /** Reuse earlier positions' keys and values between requests (from-oldest models). */
  incremental: boolean;
  /** A tensor-train table up to this many rows is materialised once; above, never. */
  materialiseRows: number;
  /** Called when a lost WebGPU device has made the engine move to another backend. */
  onBackendChange?: (backend: ActiveBackend, reason: string) => void;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  backend: 'auto',
  incremental: true,
  materialiseRows: 100_000,
};

export interface RecommendQuery {
  /** Internal item ids (1..numItems), oldest first. */
  history: Int32Array;
  k: number;
  /** Rows never to return. */
  exclude: Int32Array;
  /** Only these rows may be returned (null: every item). */
  candidates: Int32Array | null;
  /** Leave out the items of `history` (the default of the client API). */
  excludeSeen: boolean;
  /** false: encode the whole window afresh, reusing nothing from earlier requests. */
  reuseEncoding?: boolean;
}

export interface Recommendations {
  rows: Int32Array;
  scores: Float32Array;
  /** Positions reused from the previous request's encoding. */
  reused: number;
  /**
   * Time spent encoding the history, and the rest (scoring, top-k, reading back). On
   * WebGPU encoding only queues work, so there most of it shows up under scoreMs.
   */
  encodeMs: number;
  scoreMs: number;
}

type Ranking = Omit<Recommendations, 'encodeMs' | 'scoreMs'>;

export interface EngineInfo {
  backend: ActiveBackend;
  kind: string;
  numItems: number;
  /** How a full-catalogue request is scored. */
  scoring: 'markov' | 'dense-table' | 'tt-materialised' | 'tt-contracted' | 'tt-webgpu-kernel';
  incremental: boolean;
}

/** What a loaded sequential model scores with. */
interface Scorer {
  model: SequentialModel;
  encoder: SessionEncoder;
  /** [dim, numRows]: a transposed table, so one plain product scores a query. */
  tableT: tf.Tensor2D | null;
  /**
   * For a contracted tensor-train table: 0 for the rows that are items, -Infinity for row 0
   * and the rows that only pad the product, so one Add masks them and the top-k can run
   * on the backend over the padded row as it comes out of the contraction.
   */
  paddingMask: tf.Tensor2D | null;
  /** The built table [numRows, dim] (dense, or a small tensor-train), for lookups. */
  table: tf.Tensor2D | null;
  scoring: EngineInfo['scoring'];
}

/** No items; fresh arrays each time, as the worker transfers (detaches) what it returns. */
const nothing = () => ({ rows: new Int32Array(0), scores: new Float32Array(0) });

/** The excluded rows that are items of the table (not row 0, not padding), ascending. */
function itemRowsOf(excluded: ReadonlySet<number>, numRows: number): Int32Array {
  return Int32Array.from([...excluded].filter((r) => r > 0 && r < numRows)).sort();
}

function isSequential(pkg: ModelPackage): boolean {
  return isSequentialKind(pkg.manifest.kind);
}

export class Engine {
  private scorer: Scorer | null = null;
  private markov: MarkovModel | null = null;
  private lost: string | null = null;
  /** The current request's encoding time (see Recommendations.encodeMs). */
  private encodeMs = 0;
  private disposed = false;

  private constructor(
    private readonly pkg: ModelPackage,
    private readonly options: EngineOptions,
    private active: ActiveBackend,
  ) {}

  static async create(pkg: ModelPackage, options: EngineOptions): Promise<Engine> {
    if (!isSequential(pkg) && pkg.manifest.kind !== 'sequential-markov') {
      throw new RuntimeError(
        'bad-request',
        `${pkg.manifest.name}: the browser runtime runs next-item models (sequential-dense, sequential-tt, sequential-markov), not ${pkg.manifest.kind}`,
      );
    }
    const active = await selectBackend(options.backend, options.wasmPaths);
    const engine = new Engine(pkg, options, active);
    engine.build();
    engine.watchDevice();
    return engine;
  }

  get backend(): ActiveBackend {
    return this.active;
  }

  info(): EngineInfo {
    return {
      backend: this.active,
      kind: this.pkg.manifest.kind,
      numItems: this.pkg.manifest.items.count,
      scoring: this.scorer?.scoring ?? 'markov',
      incremental: this.scorer?.encoder.incremental ?? false,
    };
  }

  /** Runs every path a request can take once, so shaders compile now, not on a user's click. */
  async warmUp(): Promise<void> {
    const n = this.pkg.manifest.items.count;
    const a = 1;
    const b = Math.min(2, n);
    const none = new Int32Array(0);
    const base = { k: Math.min(10, n), exclude: none, excludeSeen: true };
    await this.recommend({ ...base, history: Int32Array.of(a), candidates: null });
    await this.recommend({ ...base, history: Int32Array.of(a, b), candidates: null });
    await this.recommend({ ...base, history: Int32Array.of(b), candidates: Int32Array.of(a, b) });
    this.scorer?.encoder.forget();
  }

  async recommend(query: RecommendQuery): Promise<Recommendations> {
    if (this.disposed) throw new RuntimeError('disposed', 'the engine was disposed');
    if (this.lost) await this.recover();
    let ranking: Ranking;
    const started = performance.now();
    this.encodeMs = 0;
    try {
      ranking = await this.score(query);
    } catch (error) {
      // A device lost mid-request surfaces as a failed op or read; answer from the fallback.
      if (!(this.active.name === 'webgpu' && (await this.deviceGone()))) throw error;
      await this.recover();
      ranking = await this.score(query);
    }
    const total = performance.now() - started;
    return { ...ranking, encodeMs: this.encodeMs, scoreMs: total - this.encodeMs };
  }

  dispose(): void {
    this.disposed = true;
    this.release();
  }

  private build(): void {
    if (!isSequential(this.pkg)) {
      this.markov = markovFromPackage(this.pkg);
      return;
    }
    const model = sequentialFromPackage(this.pkg);
    const materialise =
      model.items.kind === 'dense' || model.items.numRows <= this.options.materialiseRows;
    const table = materialise ? model.items.materialise() : null;
    const encoder = new SessionEncoder(model, {
      incremental: this.options.incremental,
      fixedShapes: this.active.name === 'webgpu',
      // A built table answers row lookups with one gather instead of the cores' chain.
      ...(table ? { table } : {}),
    });
    const tableT = table ? tf.tidy(() => table.transpose() as tf.Tensor2D) : null;
    let paddingMask: tf.Tensor2D | null = null;
    let scoring: EngineInfo['scoring'];
    if (model.items.kind === 'dense') scoring = 'dense-table';
    else if (table) scoring = 'tt-materialised';
    else if (this.active.name === 'webgpu') scoring = 'tt-webgpu-kernel';
    else {
      scoring = 'tt-contracted';
      const padded = (model.items.tt as NonNullable<typeof model.items.tt>).shape.rows.reduce(
        (a, b) => a * b,
        1,
      );
      const mask = new Float32Array(padded);
      mask[0] = Number.NEGATIVE_INFINITY;
      mask.fill(Number.NEGATIVE_INFINITY, model.items.numRows);
      paddingMask = tf.tensor2d(mask, [1, padded]);
    }
    this.scorer = { model, encoder, tableT, table, paddingMask, scoring };
  }

  private release(): void {
    if (!this.scorer) return;
    const { model, encoder, tableT, table, paddingMask } = this.scorer;
    encoder.forget();
    tf.dispose([...Object.values(model.encoder), ...Object.values(model.items.weights)]);
    // A dense table is one of the weights; a built tensor-train table is not.
    if (table && model.items.kind === 'tt') table.dispose();
    tf.dispose([tableT, paddingMask].filter((t): t is tf.Tensor2D => t !== null));
    this.scorer = null;
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
    // The old tensors live on the dead device: their memory cannot be read back or moved.
    this.scorer = null;
    tf.removeBackend('webgpu');
    const next = await selectBackend('wasm', this.options.wasmPaths);
    this.active = { ...next, fallbacks: [...this.active.fallbacks, `webgpu: ${reason}`] };
    this.build();
    this.options.onBackendChange?.(this.active, reason);
  }

  /** Scores and top-k in the fused WGSL kernel: no per-item score ever leaves the GPU. */
  private async kernelTopK(
    q: tf.Tensor2D,
    k: number,
    excluded: ReadonlySet<number>,
  ): Promise<{ rows: Int32Array; scores: Float32Array }> {
    const { model } = this.scorer as Scorer;
    const { cores, shape } = model.items.tt as NonNullable<typeof model.items.tt>;
    const numRows = model.items.numRows;
    const exclude = itemRowsOf(excluded, numRows);
    const available = numRows - 1 - exclude.length;
    if (available <= 0) return nothing();
    const { values, indices } = ttScoreTopK(
      [...cores],
      shape,
      numRows,
      q,
      Math.min(k, available),
      exclude,
    );
    const [scores, rows] = await Promise.all([values.data(), indices.data()]);
    tf.dispose([values, indices]);
    return { rows: rows as Int32Array, scores: scores as Float32Array };
  }

  /**
   * A large tensor-train table on WASM or CPU: the contraction's padded score row, masked by
   * one Add, goes through the backend's top-k, so only k + |excluded| scores leave it (not
   * a copy of every item's score and a pass over it in JavaScript).
   */
  private async contractedTopK(
    q: tf.Tensor2D,
    k: number,
    excluded: ReadonlySet<number>,
  ): Promise<{ rows: Int32Array; scores: Float32Array }> {
    const { model, paddingMask } = this.scorer as Scorer;
    const { cores, shape } = model.items.tt as NonNullable<typeof model.items.tt>;
    const numRows = model.items.numRows;
    const wanted = Math.min(k + itemRowsOf(excluded, numRows).length, numRows - 1);
    if (wanted <= 0) return nothing();
    const { values, indices } = tf.tidy(() => {
      const scores = ttScoreAll(cores, shape, q).add(paddingMask as tf.Tensor2D);
      return blockTopK(scores.reshape([-1]), wanted, shape.rows[shape.rows.length - 1] as number);
    });
    const [top, rows] = await Promise.all([values.data(), indices.data()]);
    tf.dispose([values, indices]);
    // The backend's top-k is sorted by score; topK restores ties to the lower row.
    return topK(top as Float32Array, k, excluded, { rows: rows as Int32Array });
  }

  private async score(query: RecommendQuery): Promise<Ranking> {
    const excluded = new Set<number>(query.exclude);
    if (query.excludeSeen) for (const item of query.history) excluded.add(item);
    const k = query.k;
    if (this.markov) {
      const scores = scoreMarkov(this.markov, query.history);
      const ranked = query.candidates
        ? topK(
            Array.from(query.candidates, (row) => scores[row] as number),
            k,
            excluded,
            { rows: query.candidates },
          )
        : topK(scores, k, excluded, { from: 1 });
      return { ...ranked, reused: 0 };
    }
    const scorer = this.scorer as Scorer;
    if (query.history.length === 0) {
      // A sequential model has nothing to encode before the first event.
      return { ...nothing(), reused: 0 };
    }
    const encodeStart = performance.now();
    const { query: q, reused } = scorer.encoder.encode(query.history, query.reuseEncoding ?? true);
    this.encodeMs = performance.now() - encodeStart;
    // Items of the encoded window get the model's repeat bonus (SequentialModel.repeatBonus).
    const bonus = scorer.model.repeatBonus ?? 0;
    const numRows = scorer.model.items.numRows;
    const repeats =
      bonus > 0
        ? windowItems(query.history, scorer.model.config.maxLen).filter(
            (row) => row > 0 && row < numRows && !excluded.has(row),
          )
        : [];
    if (query.candidates) {
      const rows = query.candidates;
      const values = await this.scoreRows(q, rows);
      const lifted = new Set(repeats);
      for (let i = 0; i < rows.length; i++) {
        if (lifted.has(rows[i] as number)) values[i] = (values[i] as number) + bonus;
      }
      return { ...topK(values, k, excluded, { rows }), reused };
    }
    if (repeats.length === 0) return { ...(await this.rankAll(q, k, excluded)), reused };
    // The rest of the catalogue is ranked without the window's items, which are scored on
    // their own with the bonus: the best k of the two lists is the best k of all.
    const rest = await this.rankAll(q, k, new Set([...excluded, ...repeats]));
    const rows = Int32Array.from(repeats);
    const lifted = (await this.scoreRows(q, rows)).map((v) => v + bonus);
    return { ...mergeRanked(rest, { rows, scores: lifted }, k), reused };
  }

  /** Scores of the given rows only. */
  private async scoreRows(q: tf.Tensor2D, rows: Int32Array): Promise<Float32Array> {
    const scorer = this.scorer as Scorer;
    const scores = tf.tidy(() => {
      const vectors = scorer.model.items.lookup(tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
      return tf.matMul(q, vectors.transpose()).reshape([-1]);
    });
    const values = (await scores.data()) as Float32Array;
    scores.dispose();
    return values;
  }

  /** The best k of the whole catalogue, on whichever path the table and backend allow. */
  private async rankAll(q: tf.Tensor2D, k: number, excluded: ReadonlySet<number>): Promise<Ranked> {
    const scorer = this.scorer as Scorer;
    if (scorer.scoring === 'tt-webgpu-kernel') return this.kernelTopK(q, k, excluded);
    if (scorer.paddingMask) return this.contractedTopK(q, k, excluded);
    const scores = tf.tidy(() => tf.matMul(q, scorer.tableT as tf.Tensor2D));
    const values = (await scores.data()) as Float32Array;
    scores.dispose();
    return topK(values, k, excluded, { from: 1 });
  }
}

/** The best k of two rankings of disjoint rows: best score first, ties to the lower row. */
function mergeRanked(a: Ranked, b: Ranked, k: number): Ranked {
  const all = [
    ...Array.from(a.rows, (row, i) => ({ row, score: a.scores[i] as number })),
    ...Array.from(b.rows, (row, i) => ({ row, score: b.scores[i] as number })),
  ]
    .filter(({ score }) => Number.isFinite(score))
    .sort((x, y) => y.score - x.score || x.row - y.row)
    .slice(0, k);
  return {
    rows: Int32Array.from(all, ({ row }) => row),
    scores: Float32Array.from(all, ({ score }) => score),
  };
}
