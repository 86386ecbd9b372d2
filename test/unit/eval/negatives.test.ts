import { describe, expect, it } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import { NegativeSampler, SAMPLED_NEGATIVES } from '../../../src/eval/negatives.ts';

describe('NegativeSampler', () => {
  const numItems = 250;
  const history = Int32Array.from({ length: 120 }, (_, i) => i + 1); // items 1..120
  const target = 200;

  it('draws 100 distinct items from 1..numItems outside the history and the target', () => {
    const sampler = new NegativeSampler(numItems, 3);
    for (let c = 0; c < 50; c++) {
      const negatives = sampler.sample(history, target);
      expect(negatives).toHaveLength(SAMPLED_NEGATIVES);
      expect(new Set(negatives).size).toBe(SAMPLED_NEGATIVES);
      const misplaced = negatives.filter(
        (item) => item <= 120 || item > numItems || item === target,
      );
      expect(Array.from(misplaced)).toEqual([]);
    }
  });

  it('repeats the same draws for the same seed, and not for another', () => {
    const draw = (seed: number) => {
      const sampler = new NegativeSampler(numItems, seed);
      return [sampler.sample(history, target), sampler.sample([5, 6], 7)];
    };
    expect(draw(11)).toEqual(draw(11));
    expect(draw(12)[0]).not.toEqual(draw(11)[0]);
  });

  it('draws every free item about equally often', () => {
    // 129 free items, 100 drawn per case: each should be drawn in 100/129 of the cases.
    const sampler = new NegativeSampler(numItems, 5);
    const cases = 2000;
    const drawn = new Int32Array(numItems + 1);
    for (let c = 0; c < cases; c++)
      for (const item of sampler.sample(history, target)) drawn[item] = (drawn[item] as number) + 1;
    const expected = (cases * SAMPLED_NEGATIVES) / 129;
    for (let item = 121; item <= numItems; item++) {
      if (item === target) continue;
      // Binomial sd is about 19 here; 6 sd either way.
      expect(Math.abs((drawn[item] as number) - expected)).toBeLessThan(115);
    }
  });

  it('fails when fewer than 100 items are free', () => {
    const sampler = new NegativeSampler(120, 1);
    // 120 items, 20 in the history, target 60 (not in it): 99 free.
    const error = (() => {
      try {
        sampler.sample(
          Int32Array.from({ length: 20 }, (_, i) => i + 1),
          60,
        );
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('too-few-items');
    // 100 free is enough.
    expect(
      sampler.sample(
        Int32Array.from({ length: 19 }, (_, i) => i + 1),
        60,
      ),
    ).toHaveLength(100);
  });
});
