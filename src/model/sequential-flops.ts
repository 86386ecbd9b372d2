/**
 * The work of one request of a sequential (SASRec) model, counted from its architecture: the
 * multiply-adds of every product the engine runs to answer "the best items after this
 * history" (src/runtime/engine/sequential-scorer.ts, scoreSequential), with the counting
 * rules of the CTR figure (src/model/ctr/flops.ts): a matrix product [rows, k] · [k, n]
 * counts k·n per row; an element-wise multiplication or square counts one per element of
 * its output; additions, subtractions, divisions, rsqrt, ReLU, tanh, sigmoid, softmax,
 * look-ups, concatenations and top-k count nothing.
 *
 * A request is two parts.
 *
 * 1. Encoding the history into the query [1, d] (src/runtime/engine/session-encoder.ts).
 *    - 'incremental' (the default for a model whose positions count from the oldest item and
 *      whose readout is the last state, the only models the engine encodes incrementally):
 *      one encodeNext step (src/model/sasrec.ts). The newest item's row is looked up, scaled
 *      by √d (d products), and goes through every block: LayerNorm (3d: the variance's
 *      squares, the rsqrt factor, γ), the query, key and value projections (3d²), attention
 *      over L positions held in the cache, this one included (q·Kᵀ L·d, the 1/√(d/heads) scale
 *      heads·L, attention·V L·d), the output projection (d²), LayerNorm (3d) and the
 *      feed-forward pair (2d²); then the final LayerNorm (3d). L defaults to maxLen: the
 *      largest step, the last one before the window is full. Per step that is
 *        d + blocks·(6d² + 6d + 2Ld + heads·L) + 3d
 *      for blocks at the default widths. A block narrowed to per-head query/key width qk,
 *      value width v and feed-forward width f (SasrecConfig.inner, H = heads) counts
 *        6d + d·H·(2qk + v) + L·H·(qk + v) + H·L + H·v·d + 2d·f
 *      (the default widths qk = v = d/H, f = d give the figure above); the attention scale
 *      stays 1/√(d/H), a product per score as before.
 *      Caveat, from the code: encodeNext only runs while the history still fits maxLen. Once
 *      a history is longer, each new event slides the window, nothing of the earlier
 *      encoding is reusable, and the engine encodes the whole window again (the next case)
 *      at every request. This figure is the step, as asked; `encoding: 'whole-window'`
 *      gives the steady state of long sessions.
 *    - 'whole-window' (the only path of a from-latest or attention-readout model, which the
 *      engine re-encodes at every request): `encode` over a window of L = maxLen items, all
 *      real: the √d scale and the padding mask (2Ld), the attention mask (2L²), per block
 *      6Ld² + 7Ld (as above for L rows, plus the padding mask after the block) + 2L²d + heads·L²
 *      (narrowed: 7Ld + L·d·H·(2qk + v) + L²·H·(qk + v) + H·L² + L·H·v·d + 2L·d·f),
 *      then the final LayerNorm and mask (4Ld); an 'attention' readout adds its pooling
 *      (2Ld² + 3L²d + 2L²; its division by the prefix counts is not a product).
 *    - `fixedShapes` (the engine on WebGPU): the cache is held at maxLen slots and a step
 *      writes its keys and values by a one-hot blend (4·maxLen·d products a block; narrowed,
 *      2·maxLen·H·(qk + v): keys are qk wide a head, values v) and masks the empty slots
 *      (maxLen a block); attention always spans maxLen slots.
 *    The item rows read: a look-up (nothing) from a dense table, a built table of any
 *    compressed kind (a quotient-remainder table is always built), or a RecJPQ table's codebooks (each row is its codes' sub-embeddings,
 *    gathered and concatenated); from the cores (ttRows, src/model/tt-matrix.ts) when a
 *    tensor-train table is not built, one chain of products per row.
 *
 * 2. Scoring the query against every row of the item table, row 0 (padding) included, as
 *    the engine does (its top-k is a selection, not counted):
 *    - 'dense-table': one product with the table, (numItems + 1)·d.
 *    - 'tt-materialised': the same product with the tensor-train table the engine builds
 *      once at load (it does so for a table of at most EngineOptions.materialiseRows rows,
 *      100,000 by default); building it is not part of a request.
 *    - 'tt-contracted' (the default for a tensor-train table: the contraction the TT model is
 *      about, and what tfjs runs for a table the engine does not build: the cpu backend, or
 *      WASM with the fused kernels off): ttScoreAll,
 *      the query contracted into the cores first to last, never building the table. Its
 *      products, R the rank, t the STP factor, N_pad = ∏ I_k:
 *        2 cores: I_1·R·d + N_pad·R·J_2/t
 *        3 cores: I_1·R·d + I_1·I_2·(R/t)·J_2·(R/t)·J_3 + N_pad·R·J_3/t
 *      plus, when t > 1, the element-wise product by an identity that picks the pairs whose
 *      STP indices agree (stpDiagonal): (d/J_1)·I_1·R products. (tt-matrix.ts's cost note
 *      leaves that one out; tfjs runs it, so it is counted here.)
 *    - 'tt-fused-wasm': the fused WASM kernels' contraction (src/kernels/wasm/sasrec-fused/
 *      tensor-train-scoring.ts), which sums the STP index out with the first core. With p =
 *      R/t, C = J_n/t, J_m = J_2 and I_m = I_2 for 3 cores (1 for 2):
 *        I_1·C·p·J_m·J_1·t + (3 cores) I_1·C·p·J_m·I_m·p + N_pad·p·C
 *      (against 'tt-contracted''s N_pad·R·J_n/t = N_pad·p·C·t for the last product).
 *    - 'tt-webgpu-kernel': ttContractQueries down to the second core (tfjs ops), then the
 *      fused WGSL kernel's per-row stage: a J_1·r_1-term dot product for each item row
 *      1..numItems (it skips row 0, the padding rows, and the rows a request excludes; none
 *      are excluded here).
 *    - 'jpq-materialised': the same product with a RecJPQ table the engine builds once at
 *      load (at most materialiseRows rows, as for a tensor-train table).
 *    - 'jpq-codebooks' (the default for a RecJPQ table, what the engine runs for a table it
 *      does not build): each of the m splits of the query, d/m wide, times its codebook of K
 *      rows, K·d products in all; an item's score is then the sum of its m codes' scores,
 *      look-ups and numItems·m additions, which count nothing.
 *    - 'qr-materialised' (the only scoring of a quotient-remainder table): the same product
 *      with the table the engine builds once at load whatever its rows. Scoring through the
 *      factors would save nothing with the product operation (⌈n/m⌉·m ≥ n rows of d products)
 *      and the built table costs the memory of a dense one, which the engine always holds.
 *    Not counted: a request with `candidates` scores only those rows; the repeat bonus
 *    (SequentialModel.repeatBonus) scores the window's items a second time when the request
 *    keeps the history's items (excludeSeen false; the client's default drops them, leaving
 *    nothing to lift).
 *
 * test/unit/model/sequential-flops.test.ts holds each part against a brute-force count of
 * the products tfjs runs for one real request (tf.profile of scoreSequential), and the
 * WebGPU kernel's stage against a plain loop over the rows.
 */
import { blockWidths, encodesIncrementally, type SasrecConfig } from './sasrec-config.ts';

export { encodesIncrementally } from './sasrec-config.ts';

import type { SequentialItemTable } from './sequential-structure.ts';
import { type TtShape, ttCoreShapes } from './tt-matrix.ts';

/** How the query is encoded (see the header). */
export type SequentialEncoding = 'incremental' | 'whole-window';

/** How the query is scored against the table: the engine's TableScoring names. */
export type SequentialScoring =
  | 'dense-table'
  | 'tt-materialised'
  | 'tt-contracted'
  | 'tt-fused-wasm'
  | 'tt-webgpu-kernel'
  | 'jpq-materialised'
  | 'jpq-codebooks'
  | 'qr-materialised';

/** The table kind each scoring applies to. */
const SCORING_TABLE = {
  'dense-table': 'dense',
  'tt-materialised': 'tt',
  'tt-contracted': 'tt',
  'tt-fused-wasm': 'tt',
  'tt-webgpu-kernel': 'tt',
  'jpq-materialised': 'jpq',
  'jpq-codebooks': 'jpq',
  'qr-materialised': 'qr',
} as const satisfies Record<SequentialScoring, SequentialItemTable['kind']>;

/**
 * The scoring of a table the engine does not build at `materialiseRows` (a dense or
 * quotient-remainder table is built whatever its rows).
 */
const UNBUILT_SCORING = {
  dense: 'dense-table',
  tt: 'tt-contracted',
  jpq: 'jpq-codebooks',
  qr: 'qr-materialised',
} as const satisfies Record<SequentialItemTable['kind'], SequentialScoring>;

/** The scoring of a table the engine builds once at load (a dense one always is). */
export const BUILT_SCORING = {
  dense: 'dense-table',
  tt: 'tt-materialised',
  jpq: 'jpq-materialised',
  qr: 'qr-materialised',
} as const satisfies Record<SequentialItemTable['kind'], SequentialScoring>;

export interface SequentialFlopsOptions {
  /** Default: 'incremental' where the model allows it, else 'whole-window'. */
  encoding?: SequentialEncoding;
  /**
   * Positions attended by the incremental step (the cache and the new item) or encoded by a
   * whole window: 1..maxLen, default maxLen. Fixed shapes always use maxLen.
   */
  length?: number;
  /** The engine's fixed-shape mode (WebGPU). Default false (WASM, CPU). */
  fixedShapes?: boolean;
  /**
   * Default: 'dense-table' for a dense table, 'tt-contracted' for a tensor-train,
   * 'jpq-codebooks' for a RecJPQ table, 'qr-materialised' for a quotient-remainder table.
   */
  scoring?: SequentialScoring;
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Products of a LayerNorm over `rows` rows of width d: the squares, rsqrt factor and γ. */
const layerNormFlops = (rows: number, d: number): number => 3 * rows * d;

/**
 * encodeNext: one new item through every block, attending over `length` positions (the
 * cache and itself); `fixedShapes`: the cache at maxLen slots, written by a one-hot blend.
 */
export function encodeStepFlops(config: SasrecConfig, length: number, fixedShapes = false): number {
  const { dim: d, heads: H, blocks, maxLen } = config;
  const slots = fixedShapes ? maxLen : length;
  let flops = d + layerNormFlops(1, d);
  for (let b = 0; b < blocks; b++) {
    const { qk, v, ffn } = blockWidths(config, b);
    // The blend (slot × new, past × (1 − slot), keys and values) and the empty slots' mask.
    const blend = fixedShapes ? 2 * maxLen * H * (qk + v) + maxLen : 0;
    flops +=
      layerNormFlops(1, d) +
      d * H * (2 * qk + v) + // query, key, value
      slots * H * (qk + v) + // q·Kᵀ and attention·V
      H * slots + // 1/√(d/H)
      H * v * d + // output
      layerNormFlops(1, d) +
      2 * d * ffn + // feed-forward
      blend;
  }
  return flops;
}

/** encode over a window of `length` items (all real), up to the query of its last position. */
export function encodeWindowFlops(config: SasrecConfig, length: number): number {
  const { dim: d, heads: H, blocks } = config;
  const L = length;
  // √d scale, padding mask; the attention mask: causal × keep, then × 1e9.
  const input = 2 * L * d + 2 * L * L;
  let inBlocks = 0;
  for (let b = 0; b < blocks; b++) {
    const { qk, v, ffn } = blockWidths(config, b);
    inBlocks +=
      layerNormFlops(L, d) +
      L * d * H * (2 * qk + v) + // query, key, value
      L * L * H * (qk + v) + // q·Kᵀ and attention·V, over every head
      H * L * L + // 1/√(d/H)
      L * H * v * d + // output
      layerNormFlops(L, d) +
      2 * L * d * ffn + // feed-forward
      L * d; // the padding mask after the block
  }
  const output = layerNormFlops(L, d) + L * d;
  // The 'attention' readout: sees (L²), Σ sees·h (L²d), the item and session projections
  // (2Ld²), β's score (L²d) and mask (L²), Σ β·h (L²d).
  const readout = config.readout === 'attention' ? 2 * L * d * d + 3 * L * L * d + 2 * L * L : 0;
  return input + inBlocks + output + readout;
}

/** Each core's dimensions: I, J, stored [I, p, q], the STP factor t, ranks in and out. */
function ttCores(shape: TtShape) {
  const n = shape.rows.length;
  return ttCoreShapes(shape).map(([I, p, q], k) => ({
    I,
    J: shape.cols[k] as number,
    p,
    q,
    t: k === 0 ? 1 : shape.stp,
    rOut: k === n - 1 ? 1 : shape.rank,
  }));
}

/** ttRows for `rows` ids: per row and per core after the first, [M·t, p] · [p, q]. */
export function ttRowsFlops(shape: TtShape, rows: number): number {
  const cores = ttCores(shape);
  let M = cores[0]?.J as number;
  let flops = 0;
  for (const { J, t, p, q } of cores.slice(1)) {
    flops += M * t * p * q;
    M *= J;
  }
  return rows * flops;
}

/** ttScoreAll for one query (see the header). */
export function ttScoreAllFlops(shape: TtShape): number {
  const cores = ttCores(shape);
  const { rank: R, stp: t, rows, cols } = shape;
  const d = product(cols);
  const padded = product(rows);
  const [I1, I2] = rows as [number, number];
  const J1 = cols[0] as number;
  const first = d * I1 * R;
  const diagonal = t > 1 ? (d / J1) * I1 * R : 0;
  const Jn = cols[cols.length - 1] as number;
  const last = (padded * R * Jn) / t;
  if (cores.length === 2) return first + diagonal + last;
  const J2 = cols[1] as number;
  const middle = I1 * Jn * (R / t) * J2 * I2 * (R / t);
  return first + diagonal + middle + last;
}

/** ttContractQueries for one query, cores n..downTo (0-based). */
export function ttContractQueriesFlops(shape: TtShape, downTo: number): number {
  const cores = ttCores(shape);
  let M = product(shape.cols);
  let R = 1;
  let flops = 0;
  for (let k = cores.length - 1; k >= downTo; k--) {
    const { I, J, p, q, t } = cores[k] as (typeof cores)[number];
    M /= J;
    flops += M * R * t * q * I * p;
    R *= I;
  }
  return flops;
}

/** The fused WASM kernels' scoring of a table they do not build (see the header). */
export function ttFusedScoreFlops(shape: TtShape): number {
  const cores = ttCores(shape);
  const first = cores[0] as (typeof cores)[number];
  const last = cores[cores.length - 1] as (typeof cores)[number];
  const middle = cores.length === 3 ? (cores[1] as (typeof cores)[number]) : { I: 1, J: 1 };
  const { p, q: C, t } = last;
  const padded = cores.reduce((rows, core) => rows * core.I, 1);
  const throughFirst = first.I * C * p * middle.J * first.J * t;
  const throughMiddle = cores.length === 3 ? first.I * C * p * middle.J * middle.I * p : 0;
  return throughFirst + throughMiddle + padded * p * C;
}

/** The WebGPU path: the trailing cores by tfjs ops, then J_1·r_1 per item row in the kernel. */
export function ttWebgpuKernelFlops(shape: TtShape, numItems: number): number {
  const first = ttCores(shape)[0] as { q: number };
  return ttContractQueriesFlops(shape, 1) + numItems * first.q;
}

/** The scoring of one query against every row of the table (see the header). */
export function scoreAllFlops(
  config: SasrecConfig,
  table: SequentialItemTable,
  scoring: SequentialScoring,
): number {
  if (SCORING_TABLE[scoring] !== table.kind) {
    throw new Error(`scoring '${scoring}' does not apply to a ${table.kind} item table`);
  }
  const built = numRowsTimesDim(config);
  switch (table.kind) {
    case 'dense':
    case 'qr':
      return built;
    case 'jpq':
      return scoring === 'jpq-materialised' ? built : table.centroids * config.dim;
    case 'tt':
      if (scoring === 'tt-contracted') return ttScoreAllFlops(table.shape);
      if (scoring === 'tt-webgpu-kernel') return ttWebgpuKernelFlops(table.shape, config.numItems);
      if (scoring === 'tt-fused-wasm') return ttFusedScoreFlops(table.shape);
      return built;
  }
}

/** One query against every row of a built table, row 0 included. */
const numRowsTimesDim = (config: SasrecConfig): number => (config.numItems + 1) * config.dim;

/** The encoding a request runs, with its checked history length. */
function encodingOf(
  config: SasrecConfig,
  options: SequentialFlopsOptions,
): { encoding: 'incremental' | 'whole-window'; length: number; fixedShapes: boolean } {
  const encoding =
    options.encoding ?? (encodesIncrementally(config) ? 'incremental' : 'whole-window');
  if (encoding === 'incremental' && !encodesIncrementally(config)) {
    throw new Error(
      'only a model with from-oldest positions and the last-state readout is encoded incrementally',
    );
  }
  const fixedShapes = options.fixedShapes ?? false;
  const length = fixedShapes ? config.maxLen : (options.length ?? config.maxLen);
  if (!Number.isInteger(length) || length < 1 || length > config.maxLen) {
    throw new Error(`length must be an integer in 1..${config.maxLen}, not ${length}`);
  }
  return { encoding, length, fixedShapes };
}

/** Multiply-adds of one request (see the header for what counts). */
export function sequentialFlops(
  config: SasrecConfig,
  table: SequentialItemTable,
  options: SequentialFlopsOptions = {},
): number {
  const { encoding, length } = encodingOf(config, options);
  const scoring = options.scoring ?? UNBUILT_SCORING[table.kind];
  // Rows read from the cores when a tensor-train table is not built; any other is a look-up.
  const readRows = encoding === 'incremental' ? 1 : length;
  const lookups =
    table.kind === 'tt' && scoring !== BUILT_SCORING.tt ? ttRowsFlops(table.shape, readRows) : 0;
  return lookups + encoderFlops(config, options) + scoreAllFlops(config, table, scoring);
}

/**
 * The encoding part of sequentialFlops alone (part 1 of the header without the item rows'
 * look-ups): what structured pruning inside the blocks (UMEC, src/compression/umec/) can
 * change. The item rows read and the scoring against the table stay as they are whatever
 * the blocks' widths, so an encoder budget ("encoder budget 0.5") is a ratio of this figure.
 * The options mean what they mean for sequentialFlops (`scoring` is not read).
 */
export function encoderFlops(config: SasrecConfig, options: SequentialFlopsOptions = {}): number {
  const { encoding, length, fixedShapes } = encodingOf(config, options);
  return encoding === 'incremental'
    ? encodeStepFlops(config, length, fixedShapes)
    : encodeWindowFlops(config, length);
}
