/**
 * Next-item evaluation shared by every model (the SASRec teacher, the TT student, the
 * baselines), so that their numbers differ only by the model. Ranks are strict, ties in the
 * target's favour: a model scoring everything equal would look perfect, which is why NaN,
 * the usual way that happens, is an error and not a rank.
 */
import { PocketrecError } from '../errors.ts';
import { CUTOFFS, type MetricName, RankingMetrics } from '../model/metrics.ts';
import { countAbove, FullRanker, nonFiniteScoreError, type Ranker, SampledRanker } from './rank.ts';
import type { Scorer } from './scorer.ts';
import type { EvalCases } from './splits.ts';

/**
 * 'full' ranks the target against the whole catalogue (the numbers to report).
 * 'sampled100' ranks it against 100 random unseen items, as the SASRec paper did; it
 * inflates every metric and exists only to compare with published numbers.
 */
export type Protocol = 'full' | 'sampled100';

export interface EvaluateOptions {
  readonly protocol: Protocol;
  /**
   * Full protocol: leave the items of the input history out of the ranking, except the
   * target itself. Right for user data sets (a user rarely re-watches a film); wrong for
   * sessions, where re-clicking an item is a common and legitimate next event.
   */
  readonly maskHistory: boolean;
  /** Items counted as popular (a 0/1 array by item id, or a set); the rest is the tail. */
  readonly hotItems?: Uint8Array | ReadonlySet<number>;
  readonly batchSize?: number;
  /** Seeds the sampled100 negatives; the same seed draws the same negatives per case. */
  readonly seed?: number;
  readonly cutoffs?: readonly number[];
  readonly onProgress?: (done: number, total: number) => void;
}

export type Metrics = Record<MetricName, number>;

export interface EvaluationResult {
  readonly protocol: Protocol;
  /** Whether history items were kept out of the candidates (always so for sampled100). */
  readonly masked: boolean;
  readonly cases: number;
  readonly metrics: Metrics;
  /** Cases whose target is not a hot item; null when no hot items were given. */
  readonly tail: EvaluationPart | null;
  /**
   * Unmasked full ranking only (sessions): cases whose target re-clicks an item of its own
   * input, and the rest. A model can do well on one and badly on the other.
   */
  readonly byRepeat: { readonly repeat: EvaluationPart; readonly fresh: EvaluationPart } | null;
}

export interface EvaluationPart {
  readonly cases: number;
  readonly metrics: Metrics;
}

export const DEFAULT_BATCH_SIZE = 256;
export const DEFAULT_SEED = 0;

export async function evaluate(
  scorer: Scorer,
  cases: EvalCases,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  const { protocol, maskHistory } = options;
  const numItems = scorer.numItems;
  const total = cases.inputs.length;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const cutoffs = options.cutoffs ?? CUTOFFS;
  checkArguments(cases, protocol, batchSize, cutoffs);
  const isHot = hotPredicate(options.hotItems);
  const all = new RankingMetrics(cutoffs);
  const tail = isHot === null ? null : { isHot, metrics: new RankingMetrics(cutoffs) };
  const byRepeat =
    protocol === 'full' && !maskHistory
      ? { repeat: new RankingMetrics(cutoffs), fresh: new RankingMetrics(cutoffs) }
      : null;
  const ranker: Ranker =
    protocol === 'full'
      ? new FullRanker(numItems, maskHistory)
      : new SampledRanker(numItems, options.seed ?? DEFAULT_SEED);

  for (let start = 0; start < total; start += batchSize) {
    const end = Math.min(total, start + batchSize);
    const histories = cases.inputs.slice(start, end);
    const scores = await scorer.score(histories);
    if (scores.length !== histories.length) {
      throw new PocketrecError(
        'scorer-mismatch',
        `scorer returned ${scores.length} score arrays for ${histories.length} histories`,
      );
    }
    for (let k = 0; k < histories.length; k++) {
      const caseIndex = start + k;
      const target = cases.targets[caseIndex] as number;
      if (!(Number.isInteger(target) && target >= 1 && target <= numItems)) {
        throw new PocketrecError(
          'invalid-argument',
          `case ${caseIndex}: target ${target} is outside 1..${numItems}`,
        );
      }
      const caseScores = scores[k] as Float32Array;
      if (caseScores.length !== numItems + 1) {
        throw new PocketrecError(
          'scorer-mismatch',
          `case ${caseIndex}: ${caseScores.length} scores, expected numItems + 1 = ${numItems + 1}`,
        );
      }
      // Checked whatever the protocol: a NaN item is a broken model even if not sampled.
      const above = countAbove(caseScores, caseScores[target] as number, numItems);
      if (above < 0) nonFiniteScoreError(caseScores, numItems, caseIndex);
      const rank = ranker.rank(caseScores, histories[k] as Int32Array, target, above);
      all.add(rank);
      if (tail !== null && !tail.isHot(target)) tail.metrics.add(rank);
      if (byRepeat !== null) {
        (histories[k]?.includes(target) ? byRepeat.repeat : byRepeat.fresh).add(rank);
      }
    }
    options.onProgress?.(end, total);
  }

  return {
    protocol,
    masked: protocol === 'sampled100' || maskHistory,
    cases: all.count,
    metrics: all.result(),
    tail: tail === null ? null : part(tail.metrics),
    byRepeat:
      byRepeat === null ? null : { repeat: part(byRepeat.repeat), fresh: part(byRepeat.fresh) },
  };
}

const part = (metrics: RankingMetrics): EvaluationPart => ({
  cases: metrics.count,
  metrics: metrics.result(),
});

function checkArguments(
  cases: EvalCases,
  protocol: Protocol,
  batchSize: number,
  cutoffs: readonly number[],
): void {
  if (cases.inputs.length !== cases.targets.length) {
    throw new PocketrecError(
      'invalid-argument',
      `${cases.inputs.length} inputs but ${cases.targets.length} targets`,
    );
  }
  if (protocol !== 'full' && protocol !== 'sampled100') {
    throw new PocketrecError('invalid-argument', `unknown protocol '${protocol}'`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new PocketrecError(
      'invalid-argument',
      `batchSize must be an integer >= 1, got ${batchSize}`,
    );
  }
  if (cutoffs.length === 0 || !cutoffs.every((k) => Number.isInteger(k) && k >= 1)) {
    throw new PocketrecError('invalid-argument', `cutoffs must be integers >= 1, got [${cutoffs}]`);
  }
}

function hotPredicate(hot: EvaluateOptions['hotItems']): ((item: number) => boolean) | null {
  if (hot === undefined) return null;
  if (hot instanceof Uint8Array) return (item) => (hot[item] ?? 0) !== 0;
  return (item) => hot.has(item);
}
