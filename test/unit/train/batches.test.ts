import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/random.ts';
import {
  type SequenceBatch,
  sequenceBatches,
  trainingWindows,
} from '../../../src/train/batches.ts';

/** User u's items are 100 u + 1, 100 u + 2, ...: every item says which user and position it is. */
function sequence(user: number, length: number): Int32Array {
  return Int32Array.from({ length }, (_, i) => 100 * user + i + 1);
}

/** A transition "a>b": input item a, next item b. */
const pair = (a: number, b: number) => `${a}>${b}`;

/** Every transition of the sequences, in order. */
function transitions(sequences: readonly Int32Array[]): string[] {
  const out: string[] = [];
  for (const s of sequences) for (let i = 1; i < s.length; i++) out.push(pair(s[i - 1]!, s[i]!));
  return out;
}

/** The (input, target) pairs the batches train on. */
function trained(batches: readonly SequenceBatch[]): string[] {
  const out: string[] = [];
  for (const b of batches) {
    b.positions.forEach((p, k) => {
      out.push(pair(b.ids[p]!, b.targets[k]!));
    });
  }
  return out;
}

const sorted = (xs: readonly string[]) => [...xs].sort();

/** Lengths 0 to 13 twice over, so maxLen 5 has short, exact and long users. */
const SEQUENCES = Array.from({ length: 28 }, (_, u) => sequence(u, u % 14));
const ELIGIBLE = SEQUENCES.flatMap((s, u) => (s.length >= 2 ? [u] : []));

describe('sequenceBatches on hand-made sequences', () => {
  it('builds left-padded rows whose positions and targets line up with the ids', () => {
    const sequences = [Int32Array.of(5, 6, 7), Int32Array.of(9, 8)];
    // One batch holds both users; sort them by length, so the order inside is known.
    const [batch, ...rest] = sequenceBatches(sequences, {
      maxLen: 4,
      batchSize: 8,
      random: seededRandom(1),
    });
    expect(rest).toHaveLength(0);
    expect(batch).toBeDefined();
    const b = batch as SequenceBatch;
    expect(b.size).toBe(2);
    expect(b.length).toBe(2); // the longest input, 5 6, not maxLen
    expect(Array.from(b.users)).toEqual([1, 0]);
    // Row 0: user 1, input [9] -> 8, padded on the left; row 1: user 0, [5, 6] -> [6, 7].
    expect(Array.from(b.ids)).toEqual([0, 9, 5, 6]);
    expect(Array.from(b.positions)).toEqual([1, 2, 3]);
    expect(Array.from(b.targets)).toEqual([8, 6, 7]);
  });

  it("'latest' trains on each user's latest maxLen + 1 items", () => {
    const maxLen = 5;
    const windows = trainingWindows(SEQUENCES, maxLen, 'latest');
    expect(windows).toHaveLength(ELIGIBLE.length);
    const batches = sequenceBatches(windows, { maxLen, batchSize: 4, random: seededRandom(3) });
    const expected = transitions(ELIGIBLE.map((u) => SEQUENCES[u]!.slice(-(maxLen + 1))));
    expect(sorted(trained(batches))).toEqual(sorted(expected));
    // A user of 13 items trains on items 8..13 only.
    const user13 = trained(batches).filter((p) => p.startsWith('13'));
    expect(sorted(user13)).toEqual(
      sorted(['1308>1309', '1309>1310', '1310>1311', '1311>1312', '1312>1313']),
    );
  });

  it("'all' trains on every transition exactly once", () => {
    for (const maxLen of [1, 3, 5, 20]) {
      const windows = trainingWindows(SEQUENCES, maxLen, 'all');
      for (const w of windows) {
        expect(w.length).toBeGreaterThanOrEqual(2);
        expect(w.length).toBeLessThanOrEqual(maxLen + 1);
      }
      const batches = sequenceBatches(windows, { maxLen, batchSize: 3, random: seededRandom(4) });
      const got = trained(batches);
      expect(got).toHaveLength(new Set(got).size);
      expect(sorted(got)).toEqual(sorted(transitions(SEQUENCES)));
    }
  });

  it("'all' cuts a history from its end into windows that overlap by one item", () => {
    const windows = trainingWindows([sequence(0, 12)], 5, 'all').map((w) => Array.from(w));
    expect(windows).toEqual([
      [7, 8, 9, 10, 11, 12],
      [2, 3, 4, 5, 6, 7],
      [1, 2],
    ]);
    expect(trainingWindows([sequence(0, 6)], 5, 'all').map((w) => Array.from(w))).toEqual([
      [1, 2, 3, 4, 5, 6],
    ]);
  });

  it('every row: padding on the left, then the inputs, each followed by its target', () => {
    const maxLen = 4;
    const batches = sequenceBatches(SEQUENCES, { maxLen, batchSize: 5, random: seededRandom(5) });
    for (const b of batches) {
      expect(b.ids).toHaveLength(b.size * b.length);
      expect(b.users).toHaveLength(b.size);
      expect(b.positions).toHaveLength(b.targets.length);
      expect(b.length).toBeLessThanOrEqual(maxLen);
      const positions = new Set(b.positions);
      b.users.forEach((u, row) => {
        const s = SEQUENCES[u]!;
        const n = Math.min(s.length - 1, maxLen);
        expect(b.length).toBeGreaterThanOrEqual(n);
        const rowIds = Array.from(b.ids.subarray(row * b.length, (row + 1) * b.length));
        // Padding first, then the latest inputs (all but the last item) in order.
        expect(rowIds).toEqual([
          ...new Array<number>(b.length - n).fill(0),
          ...Array.from(s.subarray(s.length - 1 - n, s.length - 1)),
        ]);
        for (let column = 0; column < b.length; column++) {
          expect(positions.has(row * b.length + column)).toBe(column >= b.length - n);
        }
      });
      b.positions.forEach((p, k) => {
        const input = b.ids[p]!;
        const user = b.users[Math.floor(p / b.length)]!;
        const s = SEQUENCES[user]!;
        // The target is the item after the input in the user's own sequence.
        expect(input).not.toBe(0);
        expect(b.targets[k]).toBe(s[s.indexOf(input) + 1]);
      });
      // Positions go row by row, left to right.
      expect(Array.from(b.positions)).toEqual([...b.positions].sort((x, y) => x - y));
    }
  });

  it('skips users with fewer than two items, and holds every other user once', () => {
    const batches = sequenceBatches(SEQUENCES, {
      maxLen: 5,
      batchSize: 4,
      random: seededRandom(6),
    });
    const users = batches.flatMap((b) => Array.from(b.users));
    expect([...users].sort((a, b) => a - b)).toEqual(ELIGIBLE);
    expect(users).not.toContain(0); // length 0
    expect(users).not.toContain(1); // length 1
    expect(batches.every((b) => b.size >= 1 && b.size <= 4)).toBe(true);
    expect(trainingWindows([Int32Array.of(), Int32Array.of(3)], 5, 'all')).toEqual([]);
    expect(trainingWindows([Int32Array.of(), Int32Array.of(3)], 5, 'latest')).toEqual([]);
    expect(
      sequenceBatches([Int32Array.of(), Int32Array.of(3)], {
        maxLen: 5,
        batchSize: 4,
        random: seededRandom(6),
      }),
    ).toEqual([]);
  });

  it('the same seed gives the same batches; another seed another order of the same pairs', () => {
    const many = Array.from({ length: 200 }, (_, u) => sequence(u, 2 + (u % 9)));
    const epoch = (seed: number) =>
      sequenceBatches(many, { maxLen: 5, batchSize: 4, random: seededRandom(seed) });
    const a = epoch(11);
    expect(epoch(11)).toEqual(a);
    const b = epoch(12);
    const order = (batches: SequenceBatch[]) => batches.flatMap((x) => Array.from(x.users));
    expect(order(b)).not.toEqual(order(a));
    expect(sorted(trained(b))).toEqual(sorted(trained(a)));
  });

  it('batches users of similar length together (within a group of 16 batches)', () => {
    // 64 users, lengths 2..9 shuffled: one length group of 16 batches of 4.
    const mixed = Array.from({ length: 64 }, (_, u) => sequence(u, 2 + ((u * 5) % 8)));
    const batches = sequenceBatches(mixed, { maxLen: 10, batchSize: 4, random: seededRandom(7) });
    const padding = batches.reduce(
      (n, b) => n + b.ids.reduce((z, id) => z + (id === 0 ? 1 : 0), 0),
      0,
    );
    // Sorted by length, 8 users of each length fill two whole batches: nothing is padded.
    expect(padding).toBe(0);
    expect(batches.every((b) => b.users.every((u) => mixed[u]!.length === b.length + 1))).toBe(
      true,
    );
  });
});
