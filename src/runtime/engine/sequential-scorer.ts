/**
 * How the engine scores a sequential (SASRec) model: the history is encoded with the shared
 * SASRec math (SessionEncoder) and the query scored against the item table:
 *  - with `candidates`, only those rows are looked up and scored;
 *  - a tensor-train table on WebGPU goes through the fused WGSL kernel, which scores and
 *    keeps top-k candidates without writing a score per item;
 *  - otherwise the scores come back once per request and the top-k is taken on the CPU. A
 *    tensor-train or RecJPQ table with at most `materialiseRows` rows is built once at load
 *    (one product per request is cheaper than the contraction's several, or than a RecJPQ
 *    table's gathers); a larger one is never built: the query is contracted with the cores,
 *    or scored against a RecJPQ table's codebooks and its items' codes. A quotient-remainder
 *    table is built at load whatever its rows, as a dense one is: it is no larger, and
 *    scoring through its factors would save no products (src/model/sequential-flops.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { denseScoreTopKPacked } from '../../kernels/webgpu/dense-score-topk/register.ts';
import { readPackedCandidates } from '../../kernels/webgpu/top-k-selection/run.ts';
import { ttScoreTopKPacked } from '../../kernels/webgpu/tt-score-topk/register.ts';
import type { ItemTable, TtParts } from '../../model/item-table.ts';
import { type SequentialModel, windowItems } from '../../model/sequential.ts';
import { BUILT_SCORING } from '../../model/sequential-flops.ts';
import { sequentialFromPackage } from '../../model/sequential-package.ts';
import { ttScoreAll } from '../../model/tt-matrix.ts';
import type { ModelPackage } from '../../package/reader.ts';
import type { BackendName } from './backend.ts';
import { blockTopK } from './block-top-k.ts';
import { SessionEncoder } from './session-encoder.ts';
import { nothing, type Ranked, topK } from './top-k.ts';

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

/** The best rows of a request, and the positions reused from the previous request. */
export type Ranking = Ranked & { reused: number };

/** How a full-catalogue request is scored, with what each way needs. */
export type TableScoring =
  | {
      scoring: 'dense-table' | 'tt-materialised' | 'jpq-materialised' | 'qr-materialised';
      tableT: tf.Tensor2D;
      /** On WebGPU: scores and top-k in one WGSL kernel, only the k read back. */
      gpuTopK: boolean;
    }
  /**
   * `paddingMask`: 0 for the rows that are items, -Infinity for row 0 and the rows that
   * only pad the product, so one Add masks them and the top-k runs on the backend over
   * the padded row as it comes out of the contraction.
   */
  | { scoring: 'tt-contracted'; tt: TtParts; paddingMask: tf.Tensor2D }
  | { scoring: 'tt-webgpu-kernel'; tt: TtParts }
  /**
   * The RecJPQ table's own scoreAll: each split of the query against its codebook, then
   * every item's codes' scores summed.
   */
  | { scoring: 'jpq-codebooks' };

export interface SequentialScorer {
  kind: 'sequential';
  model: SequentialModel;
  encoder: SessionEncoder;
  /**
   * The built table [numRows, dim] (dense, quotient-remainder, or a small tensor-train or
   * RecJPQ table), for lookups.
   */
  table: tf.Tensor2D | null;
  ranking: TableScoring;
}

export interface SequentialOptions {
  incremental: boolean;
  materialiseRows: number;
}

export { nothing } from './top-k.ts';

export function buildSequentialScorer(
  pkg: ModelPackage,
  options: SequentialOptions,
  backend: BackendName,
): SequentialScorer {
  const model = sequentialFromPackage(pkg);
  const { items } = model;
  const materialise =
    items.kind === 'dense' || items.kind === 'qr' || items.numRows <= options.materialiseRows;
  const table = materialise ? items.materialise() : null;
  const encoder = new SessionEncoder(model, {
    incremental: options.incremental,
    fixedShapes: backend === 'webgpu',
    // A built table answers row lookups with one gather instead of the cores' chain.
    ...(table ? { table } : {}),
  });
  return {
    kind: 'sequential',
    model,
    encoder,
    table,
    ranking: tableScoring(items, table, backend),
  };
}

function tableScoring(
  items: ItemTable,
  table: tf.Tensor2D | null,
  backend: BackendName,
): TableScoring {
  if (table) {
    const tableT = tf.tidy(() => table.transpose() as tf.Tensor2D);
    // The kernel runs only on tfjs's WebGPU backend itself (sequential-flops.test.ts builds
    // the WebGPU encoder on WASM to count its products; there the product stays tfjs's).
    const gpuTopK = backend === 'webgpu' && tf.getBackend() === 'webgpu';
    return { scoring: BUILT_SCORING[items.kind], tableT, gpuTopK };
  }
  if (items.kind === 'jpq') return { scoring: 'jpq-codebooks' };
  if (items.kind !== 'tt') throw new Error(`a ${items.kind} item table is always built`);
  if (backend === 'webgpu') return { scoring: 'tt-webgpu-kernel', tt: items.tt };
  const padded = items.tt.shape.rows.reduce((a, b) => a * b, 1);
  const mask = new Float32Array(padded);
  mask[0] = Number.NEGATIVE_INFINITY;
  mask.fill(Number.NEGATIVE_INFINITY, items.numRows);
  return { scoring: 'tt-contracted', tt: items.tt, paddingMask: tf.tensor2d(mask, [1, padded]) };
}

export function releaseSequentialScorer(scorer: SequentialScorer): void {
  const { model, encoder, table, ranking } = scorer;
  encoder.forget();
  tf.dispose([...Object.values(model.encoder), ...Object.values(model.items.weights)]);
  // A RecJPQ table's codes are not among its weights.
  if (model.items.jpq) model.items.jpq.codes.dispose();
  // A dense table is one of the weights; a built table of any other kind is not.
  if (table && model.items.kind !== 'dense') table.dispose();
  if ('tableT' in ranking) ranking.tableT.dispose();
  if ('paddingMask' in ranking) ranking.paddingMask.dispose();
}

/** The excluded rows that are items of the table (not row 0, not padding), ascending. */
function itemRowsOf(excluded: ReadonlySet<number>, numRows: number): Int32Array {
  return Int32Array.from([...excluded].filter((r) => r > 0 && r < numRows)).sort();
}

/**
 * The best k of a request. `onEncoded` gets the time spent encoding the history (on
 * WebGPU encoding only queues work, so there most of it shows up as scoring).
 */
export async function scoreSequential(
  scorer: SequentialScorer,
  query: RecommendQuery,
  onEncoded: (ms: number) => void,
): Promise<Ranking> {
  const excluded = new Set<number>(query.exclude);
  if (query.excludeSeen) for (const item of query.history) excluded.add(item);
  const k = query.k;
  // A sequential model has nothing to encode before the first event.
  if (query.history.length === 0) return { ...nothing(), reused: 0 };
  const encodeStart = performance.now();
  const { query: q, reused } = scorer.encoder.encode(query.history, query.reuseEncoding ?? true);
  onEncoded(performance.now() - encodeStart);
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
    const values = await scoreRows(scorer, q, rows);
    const lifted = new Set(repeats);
    for (let i = 0; i < rows.length; i++) {
      if (lifted.has(rows[i] as number)) values[i] = (values[i] as number) + bonus;
    }
    return { ...topK(values, k, excluded, { rows }), reused };
  }
  if (repeats.length === 0) return { ...(await rankAll(scorer, q, k, excluded)), reused };
  // The rest of the catalogue is ranked without the window's items, which are scored on
  // their own with the bonus: the best k of the two lists is the best k of all.
  const rest = await rankAll(scorer, q, k, new Set([...excluded, ...repeats]));
  const rows = Int32Array.from(repeats);
  const lifted = (await scoreRows(scorer, q, rows)).map((v) => v + bonus);
  return { ...mergeRanked(rest, { rows, scores: lifted }, k), reused };
}

/** Scores of the given rows only. */
async function scoreRows(
  scorer: SequentialScorer,
  q: tf.Tensor2D,
  rows: Int32Array,
): Promise<Float32Array> {
  const scores = tf.tidy(() => {
    const vectors = scorer.model.items.lookup(tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
    return tf.matMul(q, vectors.transpose()).reshape([-1]);
  });
  const values = (await scores.data()) as Float32Array;
  scores.dispose();
  return values;
}

/** The best k of the whole catalogue, on whichever path the table and backend allow. */
export async function rankAll(
  scorer: SequentialScorer,
  q: tf.Tensor2D,
  k: number,
  excluded: ReadonlySet<number>,
): Promise<Ranked> {
  const { ranking } = scorer;
  const numRows = scorer.model.items.numRows;
  switch (ranking.scoring) {
    case 'tt-webgpu-kernel': {
      const { cores, shape } = ranking.tt;
      return gpuTopK(numRows, k, excluded, (kept, exclude) =>
        ttScoreTopKPacked([...cores], shape, numRows, q, kept, exclude),
      );
    }
    case 'tt-contracted':
      return contractedTopK(ranking.tt, ranking.paddingMask, numRows, q, k, excluded);
    case 'jpq-codebooks': {
      const scores = tf.tidy(() => scorer.model.items.scoreAll(q));
      const values = (await scores.data()) as Float32Array;
      scores.dispose();
      return topK(values, k, excluded, { from: 1 });
    }
    default: {
      if (ranking.gpuTopK) {
        return gpuTopK(numRows, k, excluded, (kept, exclude) =>
          denseScoreTopKPacked(ranking.tableT, numRows, q, kept, exclude),
        );
      }
      const scores = tf.tidy(() => tf.matMul(q, ranking.tableT));
      const values = (await scores.data()) as Float32Array;
      scores.dispose();
      return topK(values, k, excluded, { from: 1 });
    }
  }
}

/**
 * Scores and top-k in a WGSL kernel (`select` runs it for k and the sorted exclusions): no
 * per-item score leaves the GPU, and the packed best k are the request's one read.
 */
async function gpuTopK(
  numRows: number,
  k: number,
  excluded: ReadonlySet<number>,
  select: (k: number, exclude: Int32Array) => tf.Tensor1D,
): Promise<Ranked> {
  const exclude = itemRowsOf(excluded, numRows);
  const available = numRows - 1 - exclude.length;
  if (available <= 0) return nothing();
  const packed = select(Math.min(k, available), exclude);
  const bits = (await packed.data()) as Int32Array;
  const candidates = readPackedCandidates(bits.subarray(0, packed.size));
  packed.dispose();
  return candidates;
}

/**
 * A large tensor-train table on WASM or CPU: the contraction's padded score row, masked by
 * one Add, goes through the backend's top-k, so only k + |excluded| scores leave it (not
 * a copy of every item's score and a pass over it in JavaScript).
 */
async function contractedTopK(
  { cores, shape }: TtParts,
  paddingMask: tf.Tensor2D,
  numRows: number,
  q: tf.Tensor2D,
  k: number,
  excluded: ReadonlySet<number>,
): Promise<Ranked> {
  const wanted = Math.min(k + itemRowsOf(excluded, numRows).length, numRows - 1);
  if (wanted <= 0) return nothing();
  const { values, indices } = tf.tidy(() => {
    const scores = ttScoreAll(cores, shape, q).add(paddingMask);
    return blockTopK(scores.reshape([-1]), wanted, shape.rows[shape.rows.length - 1] as number);
  });
  const [top, rows] = await Promise.all([values.data(), indices.data()]);
  tf.dispose([values, indices]);
  // The backend's top-k is sorted by score; topK restores ties to the lower row.
  return topK(top as Float32Array, k, excluded, { rows: rows as Int32Array });
}

/** The best k of two rankings of disjoint rows: best score first, ties to the lower row. */
export function mergeRanked(a: Ranked, b: Ranked, k: number): Ranked {
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
