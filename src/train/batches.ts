/**
 * Training batches for next-item models: each user's latest `maxLen + 1` training items
 * give `maxLen` (input, next item) pairs, left-padded to the longest history of the batch.
 *
 * Users are shuffled, then sorted by length within groups of a few batches, so a batch is
 * padded only to histories of similar length (ML-1M's lengths run from 3 to 2,277) while
 * the order still changes every epoch.
 */
import { shuffleInPlace } from '../random.ts';

export interface SequenceBatch {
  /** Item ids [size, length], 0 = padding on the left. */
  ids: Int32Array;
  size: number;
  length: number;
  /** Flat positions (row * length + column) that have a next item to predict. */
  positions: Int32Array;
  /** The next item at each of `positions`. */
  targets: Int32Array;
  /** The users (indices into the sequence list) in this batch, row by row. */
  users: Int32Array;
}

const BATCHES_PER_LENGTH_GROUP = 16;

/**
 * Which (input, next item) pairs an epoch trains on: 'latest' takes each user's latest
 * maxLen + 1 items (SASRec's choice); 'all' cuts each whole history into windows of
 * maxLen + 1 that overlap by one item, so every transition is trained once per epoch.
 * ML-1M histories average 165 items, so with maxLen 50 'latest' leaves most of them unused.
 */
export type WindowPolicy = 'latest' | 'all';

export function trainingWindows(
  sequences: readonly Int32Array[],
  maxLen: number,
  policy: WindowPolicy,
): Int32Array[] {
  const windows: Int32Array[] = [];
  for (const s of sequences) {
    if (s.length < 2) continue;
    if (policy === 'latest') {
      windows.push(s);
      continue;
    }
    for (let end = s.length; end >= 2; end -= maxLen) {
      windows.push(s.subarray(Math.max(0, end - maxLen - 1), end));
    }
  }
  return windows;
}

/** One epoch of batches over the histories with at least two training items. */
export function sequenceBatches(
  sequences: readonly Int32Array[],
  options: { maxLen: number; batchSize: number; random: () => number },
): SequenceBatch[] {
  const { maxLen, batchSize, random } = options;
  const users: number[] = [];
  sequences.forEach((s, u) => {
    if (s.length >= 2) users.push(u);
  });
  shuffleInPlace(users, random);
  const window = (u: number) => Math.min((sequences[u] as Int32Array).length - 1, maxLen);
  const groupSize = batchSize * BATCHES_PER_LENGTH_GROUP;
  const batches: SequenceBatch[] = [];
  for (let g = 0; g < users.length; g += groupSize) {
    const group = users.slice(g, g + groupSize).sort((a, b) => window(a) - window(b));
    for (let b = 0; b < group.length; b += batchSize) {
      batches.push(buildBatch(sequences, group.slice(b, b + batchSize), maxLen));
    }
  }
  return shuffleInPlace(batches, random);
}

function buildBatch(
  sequences: readonly Int32Array[],
  users: number[],
  maxLen: number,
): SequenceBatch {
  let length = 1;
  for (const u of users)
    length = Math.max(length, Math.min((sequences[u] as Int32Array).length - 1, maxLen));
  const ids = new Int32Array(users.length * length);
  const positions: number[] = [];
  const targets: number[] = [];
  users.forEach((u, row) => {
    const s = sequences[u] as Int32Array;
    const n = Math.min(s.length - 1, length);
    const start = s.length - 1 - n;
    for (let i = 0; i < n; i++) {
      const column = length - n + i;
      ids[row * length + column] = s[start + i] as number;
      positions.push(row * length + column);
      targets.push(s[start + i + 1] as number);
    }
  });
  return {
    ids,
    size: users.length,
    length,
    positions: Int32Array.from(positions),
    targets: Int32Array.from(targets),
    users: Int32Array.from(users),
  };
}

/**
 * Splits a batch by rows into at most `count` parts of nearly equal size (none empty), for
 * data-parallel training: each part keeps its rows' positions and targets.
 */
export function splitBatch(batch: SequenceBatch, count: number): SequenceBatch[] {
  const parts = Math.max(1, Math.min(count, batch.size));
  const out: SequenceBatch[] = [];
  for (let k = 0; k < parts; k++) {
    const lo = Math.floor((k * batch.size) / parts);
    const hi = Math.floor(((k + 1) * batch.size) / parts);
    const first = lo * batch.length;
    const end = hi * batch.length;
    const positions: number[] = [];
    const targets: number[] = [];
    batch.positions.forEach((p, i) => {
      if (p >= first && p < end) {
        positions.push(p - first);
        targets.push(batch.targets[i] as number);
      }
    });
    out.push({
      ids: batch.ids.slice(first, end),
      size: hi - lo,
      length: batch.length,
      positions: Int32Array.from(positions),
      targets: Int32Array.from(targets),
      users: batch.users.slice(lo, hi),
    });
  }
  return out;
}
