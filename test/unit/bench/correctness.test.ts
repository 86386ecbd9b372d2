// The check of every backend's answers against the CPU's (src/pages/bench/correctness.ts).
import { describe, expect, it } from 'vitest';
import {
  checkAgainstReference,
  firstDisagreement,
  type TopItem,
} from '../../../src/pages/bench/correctness.ts';

const top = (...pairs: [string, number][]): TopItem[] =>
  pairs.map(([item, score]) => ({ item, score }));
const reference = top(['a', 9], ['b', 8], ['c', 7.5], ['d', 7.4999]);

describe('firstDisagreement', () => {
  it('accepts the same items with scores within rounding', () => {
    expect(firstDisagreement(reference, reference)).toBe(-1);
    expect(
      firstDisagreement(top(['a', 9.001], ['b', 8], ['c', 7.5], ['d', 7.4999]), reference),
    ).toBe(-1);
  });

  it('accepts two items whose scores are that close swapping places', () => {
    expect(firstDisagreement(top(['a', 9], ['b', 8], ['d', 7.4999], ['c', 7.5]), reference)).toBe(
      -1,
    );
    // A near-tie at the last rank with an item the reference left just outside the top.
    expect(firstDisagreement(top(['a', 9], ['b', 8], ['c', 7.5], ['e', 7.4998]), reference)).toBe(
      -1,
    );
  });

  it('names the first rank where the answers really part', () => {
    expect(firstDisagreement(top(['b', 8], ['a', 9], ['c', 7.5], ['d', 7.4999]), reference)).toBe(
      0,
    );
    // An item the reference ranks nowhere near, though its score here equals the rank's.
    const spread = top(['a', 9], ['b', 8], ['c', 7], ['d', 6]);
    expect(firstDisagreement(top(['a', 9], ['b', 8], ['x', 7], ['d', 6]), spread)).toBe(2);
    expect(firstDisagreement(top(['a', 9], ['b', 8.5], ['c', 7.5], ['d', 7.4999]), reference)).toBe(
      1,
    );
    expect(firstDisagreement(top(['a', 9], ['b', 8]), reference)).toBe(2);
  });
});

describe('checkAgainstReference', () => {
  it('passes when every history agrees, and reports the largest score difference', () => {
    const result = checkAgainstReference([
      { length: 1, ours: reference, reference },
      { length: 7, ours: top(['a', 9.002], ['b', 8], ['c', 7.5], ['d', 7.4999]), reference },
    ]);
    expect(result).toEqual({
      histories: 2,
      passed: true,
      maxScoreDiff: expect.closeTo(0.002, 6),
      mismatches: [],
    });
  });

  it('fails with each mismatching history, its length, rank and both answers', () => {
    const wrong = top(['z', 9], ['b', 8], ['c', 7.5], ['d', 7.4999]);
    const result = checkAgainstReference([
      { length: 1, ours: reference, reference },
      { length: 50, ours: wrong, reference },
    ]);
    expect(result.passed).toBe(false);
    expect(result.mismatches).toEqual([{ historyLength: 50, rank: 0, ours: wrong, reference }]);
  });
});
