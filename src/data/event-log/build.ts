/**
 * From a log's rows to the item sequences models train on: each user's or session's events
 * in time order (ties in file order), the same item twice in a row merged, items with
 * fewer than min-item-count steps dropped, sequences too short to predict anything
 * dropped, and the kept items numbered 1..n. Every step counts what it removes.
 */
import { GrowableInt32Array } from '../growable.ts';
import type { LogRows } from './read.ts';

export interface BuildOptions {
  readonly minItemCount: number;
  /** Shortest sequence kept: one item to condition on and one to predict. */
  readonly minSequenceLength: number;
}

/** What building removed, and what is left. */
export interface BuildCounts {
  /** Events that repeat the item just before them in their sequence (a view, then a cart). */
  repeatsMerged: number;
  items: {
    inLog: number;
    /** Items with fewer than min-item-count steps, and the steps they had. */
    belowMinCount: number;
    belowMinCountSteps: number;
    /** Items whose every step was in a sequence dropped as too short. */
    onlyInShortSequences: number;
    kept: number;
  };
  sequences: {
    inLog: number;
    /** Sequences shorter than the minimum after the items were dropped, and their steps. */
    tooShort: number;
    tooShortSteps: number;
    kept: number;
  };
}

/** Kept sequences in order of their group's first row, with their items' shop ids. */
export interface BuiltSequences {
  /** Item ids 1..itemIds.length, time-ordered. */
  readonly sequences: Int32Array[];
  /** Time of each sequence's last kept step (milliseconds since 1970). */
  readonly lastTimes: Float64Array;
  /** Time of each sequence's first kept step. */
  readonly firstTimes: Float64Array;
  /** `itemIds[item - 1]` is the shop's id of item `item`. */
  readonly itemIds: string[];
  readonly counts: BuildCounts;
}

export function buildSequences(rows: LogRows, options: BuildOptions): BuiltSequences {
  const order = timeOrder(rows);
  const merged = mergeRepeats(rows, order, () => true);
  const steps = new Int32Array(rows.itemIds.length);
  for (const k of merged.kept) {
    const item = rows.itemOf[k] as number;
    steps[item] = (steps[item] as number) + 1;
  }
  const keepItem = (item: number) => (steps[item] as number) >= options.minItemCount;
  let belowMinCount = 0;
  let belowMinCountSteps = 0;
  for (let item = 0; item < steps.length; item++) {
    if (keepItem(item)) continue;
    belowMinCount++;
    belowMinCountSteps += steps[item] as number;
  }
  // Dropping an item can bring the same item twice together again (A, rare, A): merged too.
  const final = mergeRepeats(rows, merged.kept, (k) => keepItem(rows.itemOf[k] as number));
  const built = keptSequences(rows, final, options.minSequenceLength);
  return {
    ...built,
    counts: {
      repeatsMerged: merged.repeats + final.repeats,
      items: {
        inLog: rows.itemIds.length,
        belowMinCount,
        belowMinCountSteps,
        onlyInShortSequences: rows.itemIds.length - belowMinCount - built.itemIds.length,
        kept: built.itemIds.length,
      },
      sequences: {
        inLog: rows.groupIds.length,
        tooShort: built.tooShort,
        tooShortSteps: built.tooShortSteps,
        kept: built.sequences.length,
      },
    },
  };
}

/**
 * Row numbers grouped by user or session (groups in order of first row), and by time within
 * each: a counting sort keeps file order, and the comparison falls back to it on equal times.
 */
function timeOrder(rows: LogRows): Int32Array {
  const numGroups = rows.groupIds.length;
  const starts = new Int32Array(numGroups + 1);
  for (let k = 0; k < rows.groupOf.length; k++) {
    const g = rows.groupOf[k] as number;
    starts[g + 1] = (starts[g + 1] as number) + 1;
  }
  for (let g = 0; g < numGroups; g++)
    starts[g + 1] = (starts[g + 1] as number) + (starts[g] as number);
  const order = new Int32Array(rows.groupOf.length);
  const next = starts.slice(0, numGroups);
  for (let k = 0; k < rows.groupOf.length; k++) {
    const g = rows.groupOf[k] as number;
    const at = next[g] as number;
    order[at] = k;
    next[g] = at + 1;
  }
  const time = rows.timeOf;
  for (let g = 0; g < numGroups; g++) {
    order
      .subarray(starts[g], starts[g + 1])
      .sort((a, b) => (time[a] as number) - (time[b] as number) || a - b);
  }
  return order;
}

/**
 * The rows of `order` that `keep` accepts, less those that repeat the item of the kept row
 * before them in the same group.
 */
function mergeRepeats(
  rows: LogRows,
  order: Int32Array,
  keep: (row: number) => boolean,
): { kept: Int32Array; repeats: number } {
  const kept = new GrowableInt32Array(order.length);
  let repeats = 0;
  let previous = -1;
  for (const k of order) {
    if (!keep(k)) continue;
    const sameGroup = previous !== -1 && rows.groupOf[previous] === rows.groupOf[k];
    if (sameGroup && rows.itemOf[previous] === rows.itemOf[k]) {
      repeats++;
      continue;
    }
    kept.push(k);
    previous = k;
  }
  return { kept: kept.toArray(), repeats };
}

/**
 * Cuts the merged rows into one sequence per group, drops the short ones, and numbers the
 * items that are left 1..n in order of first appearance.
 */
function keptSequences(
  rows: LogRows,
  merged: { kept: Int32Array },
  minLength: number,
): Omit<BuiltSequences, 'counts'> & { tooShort: number; tooShortSteps: number } {
  const idOf = new Int32Array(rows.itemIds.length);
  const itemIds: string[] = [];
  const sequences: Int32Array[] = [];
  const firstTimes: number[] = [];
  const lastTimes: number[] = [];
  let tooShort = 0;
  let tooShortSteps = 0;
  const kept = merged.kept;
  for (let start = 0; start < kept.length; ) {
    const group = rows.groupOf[kept[start] as number];
    let end = start + 1;
    while (end < kept.length && rows.groupOf[kept[end] as number] === group) end++;
    const length = end - start;
    if (length < minLength) {
      tooShort++;
      tooShortSteps += length;
      start = end;
      continue;
    }
    const sequence = new Int32Array(length);
    for (let i = 0; i < length; i++) {
      const item = rows.itemOf[kept[start + i] as number] as number;
      if (idOf[item] === 0) {
        itemIds.push(rows.itemIds[item] as string);
        idOf[item] = itemIds.length;
      }
      sequence[i] = idOf[item] as number;
    }
    sequences.push(sequence);
    firstTimes.push(rows.timeOf[kept[start] as number] as number);
    lastTimes.push(rows.timeOf[kept[end - 1] as number] as number);
    start = end;
  }
  // Groups all of whose rows were dropped never reach the loop: too short with no steps.
  const groupsSeen = sequences.length + tooShort;
  tooShort += rows.groupIds.length - groupsSeen;
  return {
    sequences,
    firstTimes: Float64Array.from(firstTimes),
    lastTimes: Float64Array.from(lastTimes),
    itemIds,
    tooShort,
    tooShortSteps,
  };
}
