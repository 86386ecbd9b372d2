/**
 * A sequential (SASRec) model served by the fused WASM SIMD kernels
 * (src/kernels/wasm/sasrec-fused/): the encoding, the scores and the top-k of a request are
 * a few calls into one module over buffers laid out at load, instead of one tfjs op per
 * layer part. It answers what scoreSequential answers on the tfjs path for the same
 * package (the reference; test/unit/runtime/fused-sequential.test.ts and, on 200 ML-1M
 * sessions, test/browser/parity.data.test.ts), and is used on the WASM backend whenever
 * the model allows it (fusedUnsupported) and the item table is built (every table but a
 * large tensor-train or RecJPQ one, which the tfjs path scores through its factors).
 *
 * Like SessionEncoder it keeps the last window it encoded: the same window again costs
 * nothing, a window that extends it costs its new rows only (from-oldest positions), and
 * anything else is encoded whole.
 */
import type * as tf from '@tensorflow/tfjs';
import {
  FusedSasrec,
  type FusedWeights,
  fusedUnsupported,
} from '../../kernels/wasm/sasrec-fused/fused-sasrec.ts';
import { type SequentialModel, windowItems } from '../../model/sequential.ts';
import type { Ranking, RecommendQuery } from './sequential-scorer.ts';
import { nothing } from './sequential-scorer.ts';
import { topK } from './top-k.ts';

export interface FusedSequentialScorer {
  kind: 'fused-sequential';
  config: SequentialModel['config'];
  repeatBonus: number;
  fused: FusedSasrec;
  /** Whether requests may reuse earlier positions (asked for, and the positions allow it). */
  incremental: boolean;
  /** The window whose keys and values the kernels hold, and whose query they keep. */
  last: Int32Array | null;
}

/**
 * Why `model` stays on the tfjs path (its encoder's options, or a table the engine does
 * not build), or null when the fused path serves it.
 */
export function fusedRefusal(model: SequentialModel, tableBuilt: boolean): string | null {
  if (!tableBuilt) return `a ${model.items.kind} table scored through its factors`;
  return fusedUnsupported(model.config);
}

/**
 * The fused scorer for `model`, whose item table `table` [numRows, dim] is built. Reads
 * the weights back from their tensors once; the caller releases the tensors after.
 */
export async function buildFusedScorer(
  model: SequentialModel,
  table: tf.Tensor2D,
  options: { incremental: boolean },
): Promise<FusedSequentialScorer> {
  const encoder: FusedWeights['encoder'] = {};
  for (const [name, tensor] of Object.entries(model.encoder)) {
    encoder[name] = (await tensor.data()) as Float32Array;
  }
  const [numRows] = table.shape;
  const fused = await FusedSasrec.create(model.config, {
    encoder,
    table: (await table.data()) as Float32Array,
    numRows,
  });
  return {
    kind: 'fused-sequential',
    config: model.config,
    repeatBonus: model.repeatBonus ?? 0,
    fused,
    incremental:
      options.incremental &&
      model.config.positions === 'from-oldest' &&
      model.config.readout === 'last',
    last: null,
  };
}

function startsWith(window: Int32Array, prefix: Int32Array): boolean {
  if (prefix.length > window.length) return false;
  for (let i = 0; i < prefix.length; i++) if (window[i] !== prefix[i]) return false;
  return true;
}

/** Encodes the request's window, reusing what the kernels hold; returns the positions reused. */
function encodeWindow(scorer: FusedSequentialScorer, history: Int32Array, reuse: boolean): number {
  const window = history.slice(Math.max(0, history.length - scorer.config.maxLen));
  const last = reuse ? scorer.last : null;
  if (last && last.length === window.length && startsWith(window, last)) return window.length;
  const from = scorer.incremental && last && startsWith(window, last) ? last.length : 0;
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
  query: RecommendQuery,
  onEncoded: (ms: number) => void,
): Ranking {
  const excluded = new Set<number>(query.exclude);
  if (query.excludeSeen) for (const item of query.history) excluded.add(item);
  if (query.history.length === 0) return { ...nothing(), reused: 0 };
  const encodeStart = performance.now();
  const reused = encodeWindow(scorer, query.history, query.reuseEncoding ?? true);
  onEncoded(performance.now() - encodeStart);
  const { fused, repeatBonus } = scorer;
  const repeats =
    repeatBonus > 0
      ? windowItems(query.history, scorer.config.maxLen).filter(
          (row) => row > 0 && row < fused.numRows && !excluded.has(row),
        )
      : [];
  if (query.candidates) {
    const rows = query.candidates;
    const values = fused.scoreRows(rows);
    const lifted = new Set(repeats);
    for (let i = 0; i < rows.length; i++) {
      if (lifted.has(rows[i] as number)) values[i] = (values[i] as number) + repeatBonus;
    }
    return { ...topK(values, query.k, excluded, { rows }), reused };
  }
  const scores = fused.scoreAll();
  for (const row of repeats) scores[row] = (scores[row] as number) + repeatBonus;
  return { ...fused.topK(query.k, excluded), reused };
}
