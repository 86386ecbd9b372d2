/**
 * A sequential (SASRec) model served by the fused WASM SIMD kernels
 * (src/kernels/wasm/sasrec-fused/): the encoding, the scores and the top-k of a request are
 * a few calls into one module over buffers laid out at load, instead of one tfjs op per
 * layer part. It answers what scoreSequential answers on the tfjs path for the same
 * package (the reference; test/unit/runtime/fused-sequential.test.ts and, on 200 ML-1M
 * sessions, test/browser/parity.data.test.ts), and is used on the WASM backend whenever
 * the model allows it (fusedUnsupported) and the item table is dense or tensor-train (a
 * small one built, a large one scored through its cores); RecJPQ, quotient-remainder and
 * pruned tables stay on tfjs.
 *
 * Like SessionEncoder it keeps the last window it encoded: the same window again costs
 * nothing, a window that extends it costs its new rows only (from-oldest positions), and
 * anything else is encoded whole.
 */
import {
  FusedSasrec,
  type FusedTable,
  type FusedWeights,
  fusedUnsupported,
} from '../../kernels/wasm/sasrec-fused/fused-sasrec.ts';
import { DENSE_TABLE, ttCoreName } from '../../model/item-table-names.ts';
import {
  encoderWeightShapes,
  encodesIncrementally,
  type SasrecConfig,
} from '../../model/sasrec-config.ts';
import { windowItems, windowStartsWith } from '../../model/sequential-items.ts';
import { checkSequentialStructure, repeatBonusOf } from '../../model/sequential-structure.ts';
import { ttMaterialiseRows } from '../../model/tt-materialise.ts';
import { type ModelPackage, tensorValues } from '../../package/reader.ts';
import { nothing, type Ranked, type ScoreRowQuery, topK } from './top-k.ts';

/** A request's best rows, and the positions reused from the previous request's encoding. */
export type FusedRanking = Ranked & { reused: number };

/** What scoreFused is asked (the engine's RecommendQuery satisfies it). */
export interface FusedQuery extends ScoreRowQuery {
  reuseEncoding?: boolean;
}

export interface FusedSequentialScorer {
  kind: 'fused-sequential';
  config: SasrecConfig;
  repeatBonus: number;
  fused: FusedSasrec;
  /** Whether requests may reuse earlier positions (asked for, and the positions allow it). */
  incremental: boolean;
  /** The window whose keys and values the kernels hold, and whose query they keep. */
  last: Int32Array | null;
}

/** The fused scorer of a model whose weights and built item table [numRows, dim] are given. */
export async function buildFusedScorer(
  config: SasrecConfig,
  repeatBonus: number,
  weights: FusedWeights,
  options: { incremental: boolean },
): Promise<FusedSequentialScorer> {
  return {
    kind: 'fused-sequential',
    config,
    repeatBonus,
    fused: await FusedSasrec.create(config, weights),
    incremental: options.incremental && encodesIncrementally(config),
    last: null,
  };
}

/**
 * A package read straight into the fused kernels' weights (each tensor dequantised once, no
 * tfjs), after the structure checks every loader runs: a dense table as it is, a
 * tensor-train table of at most `materialiseRows` rows built once (tt-materialise.ts, as the
 * tfjs engine builds it), a larger one scored through its cores by the kernels. Null when
 * the package is not one the fused path serves (a RecJPQ, quotient-remainder or pruned
 * table, which tfjs builds or scores through its factors, or an encoder the kernels do not
 * run).
 */
export function fusedModelFromPackage(
  pkg: ModelPackage,
  options: { materialiseRows: number },
): { config: SasrecConfig; repeatBonus: number; weights: FusedWeights } | null {
  const { kind } = pkg.manifest;
  if (kind !== 'sequential-dense' && kind !== 'sequential-tt') return null;
  const { config, table } = checkSequentialStructure(pkg.manifest);
  const numRows = config.numItems + 1;
  if (fusedUnsupported(config) !== null) return null;
  if (table.kind !== 'dense' && table.kind !== 'tt') return null;
  const repeatBonus = repeatBonusOf(pkg);
  const values = (name: string): Float32Array => {
    const tensor = pkg.tensors.get(name);
    if (!tensor) throw new Error(`${pkg.manifest.name}: tensor "${name}" was not read`);
    return tensorValues(tensor);
  };
  const encoder: FusedWeights['encoder'] = {};
  for (const [name] of encoderWeightShapes(config)) encoder[name] = values(name);
  let fusedTable: FusedTable;
  if (table.kind === 'dense') {
    fusedTable = { kind: 'dense', values: values(DENSE_TABLE) };
  } else {
    const cores = table.shape.rows.map((_, k) => values(ttCoreName(k)));
    fusedTable =
      numRows <= options.materialiseRows
        ? { kind: 'dense', values: ttMaterialiseRows(cores, table.shape, numRows) }
        : { kind: 'tensor-train', cores, shape: table.shape };
  }
  return { config, repeatBonus, weights: { encoder, table: fusedTable, numRows } };
}

/** Encodes the request's window, reusing what the kernels hold; returns the positions reused. */
function encodeWindow(scorer: FusedSequentialScorer, history: Int32Array, reuse: boolean): number {
  const window = history.slice(Math.max(0, history.length - scorer.config.maxLen));
  const last = reuse ? scorer.last : null;
  if (last && last.length === window.length && windowStartsWith(window, last)) return window.length;
  const from = scorer.incremental && last && windowStartsWith(window, last) ? last.length : 0;
  // Forgotten first: a failed call must not leave a window the kernels no longer hold.
  scorer.last = null;
  scorer.fused.encode(window, from);
  scorer.last = window;
  return from;
}

/** Drops the kept window (the next request encodes its own whole). */
export function forgetFused(scorer: FusedSequentialScorer): void {
  scorer.last = null;
}

/**
 * The best k of a request, as scoreSequential ranks it: seen and excluded rows left out,
 * the window's items lifted by the model's repeat bonus, ties to the lower row.
 */
export function scoreFused(
  scorer: FusedSequentialScorer,
  query: FusedQuery,
  onEncoded: (ms: number) => void,
): FusedRanking {
  const started = encodeRequest(scorer, query, onEncoded);
  if (!started) return { ...nothing(), reused: 0 };
  const { excluded, reused } = started;
  const { fused, repeatBonus } = scorer;
  const repeats = repeatsToLift(scorer, query.history, excluded);
  if (query.candidates) {
    return { ...rankFusedCandidates(scorer, query.candidates, repeats, query.k, excluded), reused };
  }
  const scores = fused.scoreAll();
  for (const row of repeats) scores[row] = (scores[row] as number) + repeatBonus;
  return { ...fused.topK(query.k, excluded), reused };
}

/**
 * A request's start on the kernels: the rows it may not return (the excluded, and the seen
 * when asked), and its window encoded; null for an empty history, which has no window.
 */
export function encodeRequest(
  scorer: FusedSequentialScorer,
  query: FusedQuery,
  onEncoded: (ms: number) => void,
): { excluded: Set<number>; reused: number } | null {
  if (query.history.length === 0) return null;
  const excluded = new Set<number>(query.exclude);
  if (query.excludeSeen) for (const item of query.history) excluded.add(item);
  const encodeStart = performance.now();
  const reused = encodeWindow(scorer, query.history, query.reuseEncoding ?? true);
  onEncoded(performance.now() - encodeStart);
  return { excluded, reused };
}

/** The window's items the model's repeat bonus lifts (none without one), less the excluded. */
export function repeatsToLift(
  scorer: FusedSequentialScorer,
  history: Int32Array,
  excluded: ReadonlySet<number>,
): number[] {
  if (scorer.repeatBonus <= 0) return [];
  const { numRows } = scorer.fused;
  return windowItems(history, scorer.config.maxLen).filter(
    (row) => row > 0 && row < numRows && !excluded.has(row),
  );
}

/** A request for given candidates: their scores against the last query, repeats lifted. */
export function rankFusedCandidates(
  scorer: FusedSequentialScorer,
  rows: Int32Array,
  repeats: readonly number[],
  k: number,
  excluded: ReadonlySet<number>,
): Ranked {
  const values = scorer.fused.scoreRows(rows);
  const lifted = new Set(repeats);
  for (let i = 0; i < rows.length; i++) {
    if (lifted.has(rows[i] as number)) values[i] = (values[i] as number) + scorer.repeatBonus;
  }
  return topK(values, k, excluded, { rows });
}
