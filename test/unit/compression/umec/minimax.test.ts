import { describe, expect, it } from 'vitest';
import {
  ascendingOrder,
  DEFAULT_MINIMAX_RATES,
  initialMinimax,
  leastSum,
  leastSumGradient,
  type MinimaxLayer,
  type MinimaxState,
  minimaxStep,
  proxFactor,
  prunedCount,
} from '../../../../src/compression/umec/minimax.ts';

const TOL = 1e-12;

/** The linear resource function of the hand examples: each layer-0 group 0.1, each layer-1 group 0.05. */
const linearR = (counts: readonly number[]): number =>
  1 - 0.1 * (counts[0] as number) - 0.05 * (counts[1] as number);

/** Layer 0: 3 groups, ascending 0.1, 0.3, 0.4. Layer 1: 4 groups, ascending 0.5, 1, 2, 3. */
const LAYERS: MinimaxLayer[] = [{ scores: [0.4, 0.1, 0.3] }, { scores: [2, 0.5, 1, 3] }];
/** Where the public code puts the top of s: n − 1 − 1e-8. */
const UPPER0 = 3 - 1 - 1e-8;

function state(s: number[], y: number[], z: number): MinimaxState {
  return { s: Float64Array.from(s), y: Float64Array.from(y), z };
}

function expectState(m: MinimaxState, s: number[], y: number[], z: number): void {
  expect(m.s.length).toBe(s.length);
  s.forEach((v, l) => {
    expect(Math.abs((m.s[l] as number) - v)).toBeLessThan(TOL);
  });
  y.forEach((v, l) => {
    expect(Math.abs((m.y[l] as number) - v)).toBeLessThan(TOL);
  });
  expect(Math.abs(m.z - z)).toBeLessThan(TOL);
}

describe('least-s sums', () => {
  // Ascending: 0.1 (index 1), 0.1 (index 3, a tie), 0.3, 0.4.
  const scores = [0.4, 0.1, 0.3, 0.1];

  it('orders ascending, ties by index', () => {
    expect(Array.from(ascendingOrder(scores))).toEqual([1, 3, 2, 0]);
    expect(Array.from(ascendingOrder([]))).toEqual([]);
  });

  it('leastSum is the sum of the k smallest of unsorted scores', () => {
    expect(leastSum(scores, 0)).toBe(0);
    expect(leastSum(scores, 1)).toBeCloseTo(0.1, 15);
    expect(leastSum(scores, 2)).toBeCloseTo(0.2, 15);
    expect(leastSum(scores, 3)).toBeCloseTo(0.5, 15);
    expect(leastSum(scores, 4)).toBeCloseTo(0.9, 15);
    // k past n: every score.
    expect(leastSum(scores, 7)).toBeCloseTo(0.9, 15);
    expect(leastSum([], 2)).toBe(0);
    expect(leastSum([5, -1, 2], 2)).toBeCloseTo(1, 15);
  });

  it('leastSumGradient is the (k+1)-th smallest, the largest once k = n', () => {
    expect(leastSumGradient(scores, 0)).toBe(0.1);
    // The tie: the second-smallest is also 0.1.
    expect(leastSumGradient(scores, 1)).toBe(0.1);
    expect(leastSumGradient(scores, 2)).toBe(0.3);
    expect(leastSumGradient(scores, 3)).toBe(0.4);
    expect(leastSumGradient(scores, 4)).toBe(0.4);
    expect(leastSumGradient(scores, 9)).toBe(0.4);
    expect(leastSumGradient([7, 2, 9, 4], 1)).toBe(4);
    expect(leastSumGradient([], 0)).toBe(0);
  });

  it('proxFactor is 1 / (1 + 2 lr y)', () => {
    expect(proxFactor(0.01, 0.5)).toBeCloseTo(1 / 1.01, 15);
    expect(proxFactor(0.1, 2)).toBeCloseTo(1 / 1.4, 15);
    expect(proxFactor(0.5, 0)).toBe(1);
    expect(proxFactor(0.25, 3)).toBeCloseTo(0.4, 15);
  });

  it('prunedCount is ⌈s⌉, tolerating rounding just above an integer', () => {
    // === rather than toBe: ⌈0 − 1e-9⌉ is −0, which counts as 0 everywhere it is used.
    expect(prunedCount(0) === 0).toBe(true);
    expect(prunedCount(0.5)).toBe(1);
    expect(prunedCount(1)).toBe(1);
    expect(prunedCount(1 + 1e-12)).toBe(1);
    expect(prunedCount(1.0001)).toBe(2);
    expect(prunedCount(UPPER0)).toBe(2);
  });

  it('initialMinimax is all zeros', () => {
    const m = initialMinimax(3);
    expect(Array.from(m.s)).toEqual([0, 0, 0]);
    expect(Array.from(m.y)).toEqual([0, 0, 0]);
    expect(m.z).toBe(0);
  });
});

describe('minimaxStep by hand', () => {
  it('one step with the gradient clipped to max-norm 1 (default rates)', () => {
    const m = state([0.5, 1], [1, 2], 5);
    minimaxStep(m, LAYERS, linearR, 0.7);
    // counts [1, 1], R = 0.85. Layer 0: penalty 1 · 0.3 (2nd smallest), slope −0.1:
    // g0 = 0.3 − 0.5 = −0.2. Layer 1: penalty 2 · 1, slope −0.05: g1 = 2 − 0.25 = 1.75.
    // Max-norm 1.75 > 1, so both scale by 1/1.75; sLr 0.05.
    const s0 = 0.5 - (0.05 * -0.2) / 1.75;
    const s1 = 1 - (0.05 * 1.75) / 1.75;
    // After: counts [1, 1] still; y += 0.1 · least-1 sums (0.1, 0.5); z += 2 (0.85 − 0.7).
    expectState(m, [s0, s1], [1 + 0.1 * 0.1, 2 + 0.1 * 0.5], 5 + 2 * (0.85 - 0.7));
    expect(m.s[1]).toBeCloseTo(0.95, 12);
  });

  it('one step without clipping, s moving up from 0 and crossing to another count', () => {
    const m = state([1.2, 0], [0, 0], 2);
    minimaxStep(m, LAYERS, linearR, 0.7, { sLr: 1, yLr: 0.5, zLr: 0.25 });
    // counts [2, 0], R = 0.8; y = 0, so g = z · slope: g0 = 2 · −0.1, g1 = 2 · −0.05 (at 0
    // but pushing up: allowed). Max-norm 0.2: no clip.
    // After: counts [2, 1]: least sums 0.1 + 0.3 and 0.5; R = 0.75.
    expectState(m, [1.4, 0.1], [0.5 * 0.4, 0.5 * 0.5], 2 + 0.25 * (0.75 - 0.7));
  });

  it('s at its upper bound is not pushed higher, nor s at 0 lower', () => {
    const m = state([UPPER0, 0], [0, 1], 1);
    minimaxStep(m, LAYERS, linearR, 0.7);
    // counts [2, 0], R = 0.8. g0 = 1 · −0.1 < 0 would raise s0 past its top: clamped to 0.
    // g1 = 1 · 0.5 + 1 · −0.05 = 0.45 > 0 would lower s1 below 0: clamped to 0.
    expect(m.s[0]).toBe(UPPER0);
    expect(m.s[1]).toBe(0);
    expectState(m, [UPPER0, 0], [0.1 * (0.1 + 0.3), 1], 1 + 2 * (0.8 - 0.7));
  });

  it('the clamped gradients do not count toward the clipping norm', () => {
    // Layer 0 at its top with a large negative gradient (clamped to 0); layer 1 with 0.5.
    const m = state([UPPER0, 0.5], [0, 0.5], 20);
    minimaxStep(m, LAYERS, linearR, 0.7);
    // counts [2, 1], R = 0.75. g0 = 20 · −0.1 = −2 → 0. g1 = 0.5 · 1 + 20 · −0.05 = −0.5:
    // max-norm 0.5, no clip, so s1 = 0.5 + 0.05 · 0.5.
    expectState(m, [UPPER0, 0.525], [0.1 * 0.4, 0.5 + 0.1 * 0.5], 20 + 2 * (0.75 - 0.7));
  });

  it('nor does a gradient clamped at 0', () => {
    // Layer 1 at 0 with a large positive gradient (clamped to 0); layer 0 with −0.5.
    const m = state([1.2, 0], [0, 10], 5);
    minimaxStep(m, LAYERS, linearR, 0.7);
    // counts [2, 0], R = 0.8. g0 = 5 · −0.1 = −0.5; g1 = 10 · 0.5 + 5 · −0.05 = 4.75 → 0.
    // Max-norm 0.5, no clip: s0 = 1.2 + 0.05 · 0.5.
    expectState(m, [1.225, 0], [0.1 * 0.4, 10], 5 + 2 * (0.8 - 0.7));
  });

  it('s at its upper bound may move down', () => {
    const m = state([UPPER0, 0], [1, 0], 0);
    minimaxStep(m, LAYERS, linearR, 0.7);
    // counts [2, 0]; g0 = 1 · 0.4 (3rd smallest) > 0: s0 goes down by 0.05 · 0.4.
    expectState(m, [UPPER0 - 0.02, 0], [1 + 0.1 * 0.4, 0], 0 + 2 * (0.8 - 0.7));
  });

  it('s is clamped to [0, n − 1] after the step', () => {
    const m = state([1.99, 0.01], [0, 10], 10);
    minimaxStep(m, LAYERS, linearR, 0.7, { sLr: 1, yLr: 0.1, zLr: 2 });
    // counts [2, 1], R = 0.75. g0 = 10 · −0.1 = −1; g1 = 10 · 1 + 10 · −0.05 = 9.5.
    // Clip by 1/9.5: s0 = 1.99 + 1/9.5 > 2 − 1e-8 → the top; s1 = 0.01 − 1 < 0 → 0.
    expect(m.s[0]).toBe(UPPER0);
    expect(m.s[1]).toBe(0);
    // After: counts [2, 0], R = 0.8.
    expectState(m, [UPPER0, 0], [0.1 * 0.4, 10], 10 + 2 * (0.8 - 0.7));
  });

  it('y and z are clamped at 0', () => {
    const m = state([0.5, 0], [-1, 0], 0.05);
    minimaxStep(m, LAYERS, linearR, 0.9);
    // counts [1, 0], R = 0.9. g0 = −1 · 0.3 + 0.05 · −0.1 = −0.305, g1 = 0.05 · −0.05.
    const s0 = 0.5 + 0.05 * 0.305;
    const s1 = 0 + 0.05 * 0.0025;
    // After: counts [1, 1], R = 0.85. y0 = −1 + 0.1 · 0.1 < 0 → 0; z = 0.05 + 2 (0.85 − 0.9) < 0 → 0.
    expectState(m, [s0, s1], [0, 0.1 * 0.5], 0);
    expect(m.y[0]).toBe(0);
    expect(m.z).toBe(0);
  });

  it('a layer of one group never moves (its top is 0)', () => {
    const m = state([0, 0.5], [1, 1], 3);
    minimaxStep(m, [{ scores: [0.7] }, { scores: [2, 0.5, 1, 3] }], linearR, 0.7);
    expect(m.s[0]).toBe(0);
  });
});

describe('minimaxStep dynamics', () => {
  it('with fixed scores and R above the budget, z and s grow until R meets the budget', () => {
    const layers: MinimaxLayer[] = [
      { scores: [0.02, 0.05, 0.01, 0.04, 0.03] },
      { scores: [0.002, 0.004, 0.001, 0.003, 0.006, 0.005] },
    ];
    const budget = 0.7;
    const m = initialMinimax(2);
    const R = (s: Float64Array) => linearR(Array.from(s, (v) => Math.ceil(v - 1e-9)));
    let met = -1;
    for (let step = 0; step < 400 && met < 0; step++) {
      const before = { s: Float64Array.from(m.s), z: m.z };
      const rBefore = R(before.s);
      minimaxStep(m, layers, linearR, budget, DEFAULT_MINIMAX_RATES);
      const rAfter = R(m.s);
      // R(ceil s) above the budget: z grows (by zLr (R − B) exactly) ...
      if (rAfter > budget) {
        expect(m.z).toBeGreaterThan(before.z);
        expect(m.z - before.z).toBeCloseTo(2 * (rAfter - budget), 12);
      }
      // ... and while it was above, s does not shrink anywhere, and grows once z > 0.
      if (rBefore > budget) {
        for (let l = 0; l < 2; l++) expect(m.s[l]).toBeGreaterThanOrEqual(before.s[l] as number);
        if (before.z > 0) {
          expect((m.s[0] as number) + (m.s[1] as number)).toBeGreaterThan(
            (before.s[0] as number) + (before.s[1] as number),
          );
        }
      }
      for (let l = 0; l < 2; l++) {
        expect(m.s[l]).toBeGreaterThanOrEqual(0);
        expect(m.s[l]).toBeLessThanOrEqual(layers[l]!.scores.length - 1);
        expect(m.y[l]).toBeGreaterThanOrEqual(0);
      }
      if (rAfter <= budget + 1e-12) met = step;
    }
    expect(met).toBeGreaterThan(0);
    expect(R(m.s)).toBeLessThanOrEqual(budget + 1e-12);
  });
});
