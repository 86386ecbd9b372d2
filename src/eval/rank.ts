/**
 * The per-case inner loop of evaluation, kept apart from the batching around it because
 * it is where all of a cheap model's evaluation time goes. A rank is the number of
 * candidates scored strictly higher than the target (0 = top); ties count in the target's
 * favour, as in ../shared/reference/baselines.md.
 */
import { PocketrecError } from '../errors.ts';
import { NegativeSampler } from './negatives.ts';

/**
 * -Infinity is a legitimate "never recommend" (Markov's padding, a model's own mask); NaN
 * and +Infinity only come from a broken model, and strict ranks would turn either into a
 * flattering rank instead of a failure. Only called once the fast check has failed, to
 * name the culprit.
 */
export function nonFiniteScoreError(
  scores: Float32Array,
  numItems: number,
  caseIndex: number,
): never {
  let item = 1;
  for (; item < numItems; item++) {
    const v = scores[item] as number;
    if (Number.isNaN(v) || v === Number.POSITIVE_INFINITY) break;
  }
  throw new PocketrecError(
    'non-finite-scores',
    `case ${caseIndex}: item ${item} scored ${scores[item]}; the model produced non-finite scores`,
  );
}

/**
 * Items 1..numItems scored strictly above `t`, or -1 when a score is NaN or +Infinity.
 * Branch-free and fused with the check: this loop is the whole cost of evaluating a cheap
 * model on a 40k-item catalogue, and a data-dependent branch (or a ternary, which V8 compiles
 * to one) mispredicts half the time; +(boolean) stays branch-free.
 * The sum is NaN or +Infinity exactly when some score is (float32 values cannot overflow
 * a double sum of 2^31 of them), whereas -Infinity scores leave it at -Infinity.
 */
export function countAbove(scores: Float32Array, t: number, numItems: number): number {
  let above = 0;
  let sum = 0;
  for (let i = 1; i <= numItems; i++) {
    const v = scores[i] as number;
    above += +(v > t);
    sum += v;
  }
  return Number.isNaN(sum) || sum === Number.POSITIVE_INFINITY ? -1 : above;
}

export interface Ranker {
  /** `above`: the items scored strictly above the target, already counted over the catalogue. */
  rank(scores: Float32Array, history: Int32Array, target: number, above: number): number;
}

/**
 * Masking subtracts the history items that outrank the target instead of writing
 * -Infinity into the scores: the same rank, without mutating arrays a scorer may share
 * between histories.
 */
export class FullRanker implements Ranker {
  /** stamp[item] === current case id marks an item already handled for this case. */
  private readonly stamp: Int32Array;
  private caseId = 0;

  constructor(
    private readonly numItems: number,
    private readonly maskHistory: boolean,
  ) {
    this.stamp = new Int32Array(numItems + 1);
  }

  rank(scores: Float32Array, history: Int32Array, target: number, above: number): number {
    if (!this.maskHistory) return above;
    const t = scores[target] as number;
    let rank = above;
    const id = ++this.caseId;
    this.stamp[target] = id;
    for (let p = 0; p < history.length; p++) {
      const item = history[p] as number;
      if (item < 1 || item > this.numItems || this.stamp[item] === id) continue;
      this.stamp[item] = id;
      if ((scores[item] as number) > t) rank--;
    }
    return rank;
  }
}

export class SampledRanker implements Ranker {
  private readonly sampler: NegativeSampler;

  constructor(numItems: number, seed: number) {
    this.sampler = new NegativeSampler(numItems, seed);
  }

  rank(scores: Float32Array, history: Int32Array, target: number): number {
    const t = scores[target] as number;
    let rank = 0;
    for (const item of this.sampler.sample(history, target))
      if ((scores[item] as number) > t) rank++;
    return rank;
  }
}
