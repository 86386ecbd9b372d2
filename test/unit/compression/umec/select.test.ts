import { beforeAll, describe, expect, it } from 'vitest';
import { flopsRatio, keepHighest } from '../../../../src/compression/umec/groups.ts';
import { selectToBudget } from '../../../../src/compression/umec/select.ts';
import { PocketrecError } from '../../../../src/errors.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { tinyDeepFm } from './helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/**
 * Fields: user 1, genres 0.2, age 3 (mean 1.4); units of mlp.0: 1..8 (mean 4.5); of mlp.1:
 * 10..60 (mean 35). Relative to its layer's mean, genres (0.14) is the lowest of all, then
 * mlp.0's unit 0 (0.22), mlp.1's unit 0 (0.29), ...
 */
const SCORES = [
  Float32Array.from([1, 0.2, 3]),
  Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
  Float32Array.from([10, 20, 30, 40, 50, 60]),
];
const range = (n: number, from = 0) => Array.from({ length: n - from }, (_, i) => from + i);
/** ctrFlops of the dense tiny DeepFM, per row (groups.test.ts counts it by hand). */
const DENSE = 280;

describe('selectToBudget', () => {
  it('keeps every group at budget 1 with no counts', () => {
    const model = tinyDeepFm();
    const s = selectToBudget(model, SCORES, 1);
    expect(s).toEqual({ kept: [range(3), range(8), range(6)], flopsRatio: 1, repaired: 0 });
  });

  it('counts that already meet the budget are kept as they are', () => {
    const model = tinyDeepFm();
    // Counts [1, 2, 1]: genres, units 0 and 1 of mlp.0, unit 0 of mlp.1 go. By hand: first
    // order 2, FM 13, MLP 8·6 + 12 + 6·5 + 10 = 100, output 5: 120 of 280.
    const s = selectToBudget(model, SCORES, 0.5, [1, 2, 1]);
    expect(s.kept).toEqual([[0, 2], range(8, 2), range(6, 1)]);
    expect(s.repaired).toBe(0);
    expect(s.flopsRatio).toBeCloseTo(120 / DENSE, 14);
  });

  it('prunes the group lowest relative to its layer mean first', () => {
    const model = tinyDeepFm();
    // Without genres: first order 2, FM 13, MLP 8·8 + 16 + 60, output 6: 161 of 280 (0.575).
    for (const budget of [0.99, 0.6, 161 / DENSE]) {
      const s = selectToBudget(model, SCORES, budget);
      expect(s.kept).toEqual([[0, 2], range(8), range(6)]);
      expect(s.repaired).toBe(1);
      expect(s.flopsRatio).toBeCloseTo(161 / DENSE, 14);
    }
  });

  it('past the counts, prunes until the budget is met, lowest relative scores first', () => {
    const model = tinyDeepFm();
    const counts = [0, 1, 1];
    const searched = keepHighest(SCORES, counts);
    for (const budget of [0.5, 0.3, 0.2]) {
      const s = selectToBudget(model, SCORES, budget, counts);
      expect(s.flopsRatio).toBeLessThanOrEqual(budget);
      expect(s.flopsRatio).toBe(flopsRatio(model, s.kept));
      s.kept.forEach((groups, l) => {
        expect(groups.length).toBeGreaterThanOrEqual(1);
        // A subset of what the counts keep, ascending.
        for (const g of groups) expect(searched[l]).toContain(g);
        expect([...groups].sort((a, b) => a - b)).toEqual(groups);
      });
      const removed = searched.reduce((a, g, l) => a + g.length - s.kept[l]!.length, 0);
      expect(s.repaired).toBe(removed);
      expect(s.repaired).toBeGreaterThan(0);
      // Greedy by score over layer mean: everything repaired away ranks below everything
      // kept in a layer that still had groups to give.
      const means = SCORES.map((v) => v.reduce((a, b) => a + b, 0) / v.length);
      const rel = (l: number, g: number) => SCORES[l]![g]! / means[l]!;
      const repairedAway = searched.flatMap((g, l) =>
        g.filter((x) => !s.kept[l]!.includes(x)).map((x) => rel(l, x)),
      );
      const keptOpen = s.kept.flatMap((g, l) => (g.length > 1 ? g.map((x) => rel(l, x)) : []));
      if (keptOpen.length > 0) {
        expect(Math.max(...repairedAway)).toBeLessThanOrEqual(Math.min(...keptOpen));
      }
    }
  });

  it('down to one group per layer, never none', () => {
    const model = tinyDeepFm();
    // One field, one unit each: user or age alone (no pooling), first order 1, FM 4 + 4 + 1,
    // MLP 4·1 + 2 + 1·1 + 2, output 1: 20 of 280. With 2 units in mlp.0 it is 27, so a
    // budget of 0.08 (22.4) leaves exactly one group everywhere: age (its score is the
    // highest), unit 7 and unit 5.
    const s = selectToBudget(model, SCORES, 0.08, [1, 2, 1]);
    expect(s.kept).toEqual([[2], [7], [5]]);
    expect(s.flopsRatio).toBeCloseTo(20 / DENSE, 14);
    expect(s.repaired).toBe(2 + 7 + 5 - 4);
    // Just under 20 of 280, only a layer with no group left would do: refused instead.
    expect(() => selectToBudget(model, SCORES, 0.07, [1, 2, 1])).toThrow(
      expect.objectContaining({ code: 'budget-unreachable' }),
    );
  });

  it('an unreachable budget throws budget-unreachable', () => {
    const model = tinyDeepFm();
    let error: unknown;
    try {
      selectToBudget(model, SCORES, 1e-6);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('budget-unreachable');
  });
});
