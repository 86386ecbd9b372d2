import { describe, expect, it } from 'vitest';
import type { SessionDataset } from '../../../src/data/sessions.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { hotItems, itemCounts } from '../../../src/eval/hot-items.ts';
import { leaveOneOut, sessionSplit } from '../../../src/eval/splits.ts';

const arrays = (xs: readonly Int32Array[]) => xs.map((x) => Array.from(x));

describe('leaveOneOut', () => {
  const buffer = Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const sequences = [buffer.subarray(0, 4), buffer.subarray(4, 6), buffer.subarray(6, 9)];
  const split = leaveOneOut(sequences);

  it('holds out the last item for test and the one before for validation', () => {
    expect(arrays(split.train)).toEqual([[1, 2], [5, 6], [7]]);
    expect(arrays(split.validation.inputs)).toEqual([[1, 2], [7]]);
    expect(Array.from(split.validation.targets)).toEqual([3, 8]);
    expect(arrays(split.test.inputs)).toEqual([
      [1, 2, 3],
      [7, 8],
    ]);
    expect(Array.from(split.test.targets)).toEqual([4, 9]);
    expect(arrays(split.trainAllButLast)).toEqual([
      [1, 2, 3],
      [5, 6],
      [7, 8],
    ]);
  });

  it('keeps users shorter than 3 whole for training, with no cases (as SASRec does)', () => {
    expect(split.shortUsers).toBe(1);
    expect(split.test.inputs).toHaveLength(2);
  });

  it('returns views, not copies', () => {
    for (const x of [...split.train, ...split.test.inputs]) expect(x.buffer).toBe(buffer.buffer);
  });
});

describe('sessionSplit', () => {
  it('passes the given sessions and prefix/target cases through', () => {
    const dataset: SessionDataset = {
      dataset: 'toy',
      numItems: 4,
      minTrainPrefixLength: 1,
      trainSessions: [Int32Array.of(1, 2), Int32Array.of(3, 4, 1)],
      testPrefixes: [Int32Array.of(2, 3)],
      testTargets: Int32Array.of(4),
    };
    const split = sessionSplit(dataset);
    expect(split.train).toBe(dataset.trainSessions);
    expect(split.test.inputs).toBe(dataset.testPrefixes);
    expect(split.test.targets).toBe(dataset.testTargets);
  });
});

describe('hotItems', () => {
  // Counts: item 1 three times, 2 twice, 3 and 4 once, 5..10 never.
  const train = [Int32Array.of(1, 1, 2), Int32Array.of(3, 2, 1), Int32Array.of(4)];
  const hotSet = (hot: Uint8Array) => [...hot.keys()].filter((i) => hot[i] === 1);

  it('counts items', () => {
    expect(Array.from(itemCounts(train, 5))).toEqual([0, 3, 2, 1, 1, 0]);
  });

  it('marks the most frequent 20% of the catalogue, ties to the lower id', () => {
    expect(hotSet(hotItems(train, 10))).toEqual([1, 2]); // ceil(0.2 * 10) = 2
    expect(hotSet(hotItems(train, 10, 0.3))).toEqual([1, 2, 3]); // 3 and 4 tie: 3 wins
    expect(hotSet(hotItems(train, 10, 0.21))).toEqual([1, 2, 3]); // ceil(2.1) = 3
    expect(hotItems(train, 10)).toHaveLength(11);
  });

  it('never marks items unseen in training', () => {
    expect(hotSet(hotItems(train, 10, 1))).toEqual([1, 2, 3, 4]);
    expect(hotSet(hotItems(train, 10, 0))).toEqual([]);
  });

  it('rejects bad fractions and out-of-range items', () => {
    expect(() => hotItems(train, 10, 1.5)).toThrow(PocketrecError);
    expect(() => hotItems(train, 10, Number.NaN)).toThrow(PocketrecError);
    expect(() => hotItems(train, 3)).toThrow(/outside 1..3/);
  });
});
