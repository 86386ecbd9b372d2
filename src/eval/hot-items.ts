/**
 * The head of the popularity distribution. Compact models tend to win their averages on
 * popular items and lose the long tail, so the evaluator reports tail targets separately.
 */
import { PocketrecError } from '../errors.ts';

export const DEFAULT_HOT_FRACTION = 0.2;

/** Occurrences of each item in `sequences`, index 0 unused. */
export function itemCounts(sequences: readonly Int32Array[], numItems: number): Int32Array {
  const counts = new Int32Array(numItems + 1);
  for (const s of sequences) {
    for (let t = 0; t < s.length; t++) {
      const item = s[t] as number;
      if (item < 1 || item > numItems) {
        throw new PocketrecError('invalid-argument', `item ${item} is outside 1..${numItems}`);
      }
      counts[item] = (counts[item] as number) + 1;
    }
  }
  return counts;
}

/**
 * Marks (1) the ceil(fraction * numItems) most frequent items of the training part, ties
 * to the lower id so the set is reproducible. Items never seen in training are never hot,
 * even when fewer items were seen than the quota: an unseen item is the tail by definition.
 */
export function hotItems(
  trainSequences: readonly Int32Array[],
  numItems: number,
  fraction: number = DEFAULT_HOT_FRACTION,
): Uint8Array {
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new PocketrecError('invalid-argument', `fraction must be in [0, 1], got ${fraction}`);
  }
  const counts = itemCounts(trainSequences, numItems);
  const seen: number[] = [];
  for (let item = 1; item <= numItems; item++) if ((counts[item] as number) > 0) seen.push(item);
  seen.sort((a, b) => (counts[b] as number) - (counts[a] as number) || a - b);
  const quota = Math.min(seen.length, Math.ceil(fraction * numItems));
  const hot = new Uint8Array(numItems + 1);
  for (let k = 0; k < quota; k++) hot[seen[k] as number] = 1;
  return hot;
}
