import { describe, expect, it } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import {
  auc,
  fieldCoverage,
  LOGLOSS_EPS,
  logLoss,
  logLossFromLogits,
} from '../../../src/eval/ctr-metrics.ts';
import type { CtrRows, CtrSchema } from '../../../src/model/ctr/schema.ts';
import { seededRandom } from '../../../src/random.ts';

function expectBadInput(run: () => unknown, message?: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PocketrecError);
  expect((caught as PocketrecError).code).toBe('bad-metric-input');
  if (message) expect((caught as PocketrecError).message).toMatch(message);
}

/** The definition itself: every (positive, negative) pair, a tie worth 1/2. */
function bruteForceAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      const si = scores[i] as number;
      const sj = scores[j] as number;
      wins += si > sj ? 1 : si === sj ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('auc', () => {
  it('counts the pairs a positive wins', () => {
    // 0.35 beats 0.1, loses to 0.4; 0.8 beats both: 3 of 4 pairs.
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.8, 0.9, 0.1, 0.2], [0, 0, 1, 1])).toBe(0);
  });

  it('counts a tie between a positive and a negative as 1/2', () => {
    expect(auc([0.5, 0.5], [1, 0])).toBe(0.5);
    // Positive 0.5 ties negative 0.5 (1/2) and beats 0.2 (1); positive 0.9 beats both: 3.5/4.
    expect(auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1])).toBe(0.875);
  });

  it('gives 0.5 when every score is tied', () => {
    expect(auc([0.3, 0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1, 0])).toBe(0.5);
  });

  it('is unaffected by ties within a class', () => {
    expect(auc([0.3, 0.3, 0.7, 0.7, 0.5], [0, 0, 1, 1, 0])).toBe(1);
    // Positives 1, 2, 0 against negatives 1, 1, 2: (1/2 + 1/2 + 0) + (1 + 1 + 1/2) + 0 = 3.5 of 9.
    expect(auc([1, 1, 1, 2, 2, 0], [1, 0, 0, 1, 0, 1])).toBe(3.5 / 9);
  });

  it('treats -0 and 0 as a tie, and ranks infinite scores', () => {
    expect(auc([-0, 0], [1, 0])).toBe(0.5);
    expect(auc([Number.NEGATIVE_INFINITY, 0, Number.POSITIVE_INFINITY], [0, 1, 1])).toBe(1);
  });

  it('accepts typed arrays (Float32Array labels as CtrRows holds them)', () => {
    expect(auc(Float64Array.of(0.1, 0.4, 0.35, 0.8), Float32Array.of(0, 0, 1, 1))).toBe(0.75);
  });

  const random = seededRandom(17);
  const n = 500;
  // Scores on a coarse grid so that many of them tie, within and across classes.
  const scores = Float64Array.from({ length: n }, () => Math.floor(random() * 20) / 20);
  const labels = Float32Array.from({ length: n }, (_, i) =>
    random() < 0.3 + 0.4 * (scores[i] as number) ? 1 : 0,
  );

  it('agrees with a brute-force pair count on 500 rows with many ties', () => {
    const expected = bruteForceAuc(scores, labels);
    expect(new Set(scores).size).toBeLessThanOrEqual(20);
    expect(auc(scores, labels)).toBeCloseTo(expected, 12);
  });

  it('is invariant to strictly increasing transforms of the scores', () => {
    const base = auc(scores, labels);
    const logit = scores.map((s) => Math.log((s + 0.01) / (1.01 - s)));
    const cubed = scores.map((s) => 5 * s ** 3 - 2);
    expect(auc(logit, labels)).toBeCloseTo(base, 12);
    expect(auc(cubed, labels)).toBeCloseTo(base, 12);
    // And a decreasing transform mirrors it.
    const negated = scores.map((s) => -s);
    expect(auc(negated, labels)).toBeCloseTo(1 - base, 12);
  });

  it('rejects input where AUC is undefined or the data is broken', () => {
    expectBadInput(() => auc([0.1, 0.2], [0, 1, 1]), /2 values but there are 3 labels/);
    expectBadInput(() => auc([], []), /empty/);
    expectBadInput(() => auc([0.1, 0.2], [0, 2]), /row 1: label 2 is not 0 or 1/);
    expectBadInput(() => auc([0.1, 0.2], [0, 0.5]), /label 0.5/);
    expectBadInput(() => auc([0.1, Number.NaN], [0, 1]), /row 1: score is NaN/);
    expectBadInput(() => auc([0.1, 0.2], [1, 1]), /undefined with 2 positives and 0 negatives/);
    expectBadInput(() => auc([0.1, 0.2], [0, 0]), /undefined with 0 positives and 2 negatives/);
  });
});

describe('logLoss', () => {
  it('is the mean binary cross-entropy', () => {
    // -(ln 0.8 + ln(1 - 0.3) + ln 0.6 + ln(1 - 0.1)) / 4
    const expected = -(Math.log(0.8) + Math.log(0.7) + Math.log(0.6) + Math.log(0.9)) / 4;
    expect(logLoss([0.8, 0.3, 0.6, 0.1], [1, 0, 1, 0])).toBeCloseTo(expected, 14);
    expect(logLoss([0.5], [1])).toBeCloseTo(Math.LN2, 14);
  });

  it('clips hard 0 and 1 to [1e-7, 1 - 1e-7], as FuxiCTR / BARS do', () => {
    expect(LOGLOSS_EPS).toBe(1e-7);
    const worst = -Math.log(1e-7); // ≈ 16.118
    expect(logLoss([0], [1])).toBeCloseTo(worst, 10);
    // 1 - 1e-7 rounds in float64, so the negative's cap is ln of 1 - (1 - 1e-7), not of 1e-7.
    expect(logLoss([1], [0])).toBe(-Math.log(1 - (1 - 1e-7)));
    expect(logLoss([1], [0])).toBeCloseTo(worst, 8);
    expect(logLoss([1, 0], [1, 0])).toBeCloseTo(-Math.log1p(-1e-7), 14);
    // Even a right answer given as a hard 1 is charged -ln(1 - 1e-7) ≈ 1e-7.
    expect(logLoss([0, 1], [1, 1])).toBeCloseTo((worst - Math.log1p(-1e-7)) / 2, 12);
    expect(logLoss([0], [1], { eps: 1e-3 })).toBeCloseTo(-Math.log(1e-3), 12);
  });

  it('rejects broken input', () => {
    expectBadInput(() => logLoss([0.5], [1, 0]), /1 values but there are 2 labels/);
    expectBadInput(() => logLoss([], []), /empty/);
    expectBadInput(() => logLoss([0.5], [-1]), /label -1 is not 0 or 1/);
    expectBadInput(() => logLoss([1.5], [1]), /probability 1.5 is not in \[0, 1\]/);
    expectBadInput(() => logLoss([Number.NaN], [1]), /probability NaN/);
    expectBadInput(() => logLoss([0.5], [1], { eps: 0 }), /eps 0/);
    expectBadInput(() => logLoss([0.5], [1], { eps: 0.5 }), /eps 0.5/);
  });
});

describe('logLossFromLogits', () => {
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

  it('equals the probability form away from the clip', () => {
    const logits = [-3, -0.5, 0, 0.7, 2.5, 8, -12];
    const labels = [0, 1, 1, 0, 1, 1, 0];
    expect(logLossFromLogits(logits, labels)).toBeCloseTo(logLoss(logits.map(sigmoid), labels), 9);
    expect(logLossFromLogits([0], [0])).toBeCloseTo(Math.LN2, 15);
  });

  it('stays finite and exact at |z| = 1000, where the clipped form saturates', () => {
    expect(logLossFromLogits([-1000], [1])).toBe(1000);
    expect(logLossFromLogits([1000], [0])).toBe(1000);
    expect(logLossFromLogits([1000], [1])).toBe(0);
    expect(logLossFromLogits([-1000], [0])).toBe(0);
    expect(logLossFromLogits([1000, -1000], [1, 1])).toBe(500);
    // The clipped probability form caps the same mistake at -ln(1e-7).
    expect(logLoss([sigmoid(-1000)], [1])).toBeCloseTo(-Math.log(1e-7), 10);
  });

  it('gives 0 or Infinity for infinite logits, never NaN', () => {
    expect(logLossFromLogits([Number.POSITIVE_INFINITY], [1])).toBe(0);
    expect(logLossFromLogits([Number.POSITIVE_INFINITY], [0])).toBe(Number.POSITIVE_INFINITY);
  });

  it('rejects broken input', () => {
    expectBadInput(() => logLossFromLogits([0.5, 1], [1]), /2 values but there are 1 labels/);
    expectBadInput(() => logLossFromLogits([], []), /empty/);
    expectBadInput(() => logLossFromLogits([0.5], [3]), /label 3/);
    expectBadInput(() => logLossFromLogits([Number.NaN], [1]), /row 0: logit is NaN/);
  });
});

describe('fieldCoverage', () => {
  const schema: CtrSchema = {
    fields: [
      { name: 'user', kind: 'categorical', vocabularySize: 10 },
      { name: 'genres', kind: 'multi', vocabularySize: 20, maxValues: 3 },
      { name: 'hour', kind: 'numeric', vocabularySize: 5, boundaries: [6, 12, 18] },
    ],
  };
  const rows: CtrRows = {
    numRows: 4,
    ids: [
      Int32Array.of(3, 0, 7, 0),
      // Rows: [0, 4, -1] covered (one known id), [0, -1, -1] not (OOV + padding),
      // [2, 5, 9] covered, [0, 0, 0] not (all OOV).
      Int32Array.of(0, 4, -1, 0, -1, -1, 2, 5, 9, 0, 0, 0),
      Int32Array.of(1, 2, 3, 4),
    ],
    labels: Float32Array.of(1, 0, 0, 1),
  };

  it('counts rows with a known id per field; multi-valued rows need one known id', () => {
    expect(fieldCoverage(schema, rows)).toEqual([
      { field: 'user', kind: 'categorical', covered: 2, share: 0.5 },
      { field: 'genres', kind: 'multi', covered: 2, share: 0.5 },
      { field: 'hour', kind: 'numeric', covered: 4, share: 1 },
    ]);
  });

  it('rejects rows that do not match the schema, and empty rows', () => {
    expectBadInput(
      () => fieldCoverage(schema, { ...rows, ids: rows.ids.slice(0, 2) }),
      /2 id columns but the schema has 3/,
    );
    const short = [rows.ids[0], Int32Array.of(1, 2, 3, 4), rows.ids[2]] as Int32Array[];
    expectBadInput(
      () => fieldCoverage(schema, { ...rows, ids: short }),
      /field genres: 4 ids, expected 4 rows × 3 = 12/,
    );
    expectBadInput(
      () =>
        fieldCoverage(schema, {
          numRows: 0,
          ids: [new Int32Array(0), new Int32Array(0), new Int32Array(0)],
          labels: new Float32Array(0),
        }),
      /empty/,
    );
  });
});
