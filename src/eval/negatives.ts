/**
 * Negative sampling for the sampled100 protocol (SASRec paper): the target is ranked
 * against 100 random items the user has not interacted with.
 */
import { PocketrecError } from '../errors.ts';
import { seededRandom } from '../random.ts';

export const SAMPLED_NEGATIVES = 100;

/**
 * Draws distinct negatives uniformly from the items outside the history and the target.
 * One seeded stream is consumed in case order, so the draw depends on the seed and the
 * cases only, never on how the evaluator batches them.
 */
export class NegativeSampler {
  /** stamp[item] === the current case's id marks an item as unavailable for this case. */
  private readonly stamp: Int32Array;
  private caseId = 0;
  private readonly random: () => number;

  constructor(
    private readonly numItems: number,
    seed: number,
    private readonly count: number = SAMPLED_NEGATIVES,
  ) {
    this.stamp = new Int32Array(numItems + 1);
    this.random = seededRandom(seed);
  }

  sample(history: ArrayLike<number>, target: number): Int32Array {
    const id = ++this.caseId;
    this.stamp[target] = id;
    let excluded = 1;
    for (let p = 0; p < history.length; p++) {
      const item = history[p] as number;
      if (item < 1 || item > this.numItems || this.stamp[item] === id) continue;
      this.stamp[item] = id;
      excluded++;
    }
    if (this.numItems - excluded < this.count) {
      throw new PocketrecError(
        'too-few-items',
        `sampling ${this.count} negatives needs that many items outside the history and target; only ${this.numItems - excluded} of ${this.numItems} are`,
      );
    }
    // Rejection is cheap: even ML-1M's longest history leaves a third of the items free.
    const negatives = new Int32Array(this.count);
    for (let drawn = 0; drawn < this.count; ) {
      const item = 1 + Math.floor(this.random() * this.numItems);
      if (this.stamp[item] === id) continue;
      this.stamp[item] = id;
      negatives[drawn++] = item;
    }
    return negatives;
  }
}
