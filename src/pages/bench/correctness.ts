/**
 * The correctness check that runs before anything is timed: every backend's top-k on the
 * same histories against the CPU backend's (tfjs's reference implementation). Float
 * arithmetic differs between backends, so scores may differ by a little, and two items
 * whose scores are that close may swap places; anything else is a mismatch.
 */

export interface TopItem {
  item: string;
  score: number;
}

/** One check history's answer on the backend under test and on the reference. */
export interface CheckCase {
  /** Events in the history. */
  length: number;
  ours: TopItem[];
  reference: TopItem[];
}

export interface Mismatch {
  historyLength: number;
  /** The first rank (0-based) where the answers part beyond a near-tie. */
  rank: number;
  ours: TopItem[];
  reference: TopItem[];
}

export interface CheckResult {
  histories: number;
  passed: boolean;
  maxScoreDiff: number;
  mismatches: Mismatch[];
}

/** Scores closer than this (relative to their size, at least 1) count as the same. */
export const SCORE_TOLERANCE = 1e-3;

const close = (a: number, b: number, tolerance: number) =>
  Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));

/**
 * The first rank where `ours` and `reference` disagree, or -1. Ranks agree when they hold
 * the same item with close scores, or different items whose scores are close to the
 * reference's at that rank (a near-tie, which rounding may order either way).
 */
export function firstDisagreement(
  ours: readonly TopItem[],
  reference: readonly TopItem[],
  tolerance = SCORE_TOLERANCE,
): number {
  if (ours.length !== reference.length) return Math.min(ours.length, reference.length);
  for (let i = 0; i < ours.length; i++) {
    const o = ours[i] as TopItem;
    const r = reference[i] as TopItem;
    if (!close(o.score, r.score, tolerance)) return i;
    if (o.item !== r.item) {
      // A swap is a near-tie only if the reference ranks our item with a close score too.
      const theirs = reference.find((x) => x.item === o.item);
      const tail = reference[reference.length - 1] as TopItem;
      const plausible = theirs
        ? close(theirs.score, o.score, tolerance)
        : close(o.score, tail.score, tolerance);
      if (!plausible) return i;
    }
  }
  return -1;
}

export function checkAgainstReference(cases: readonly CheckCase[]): CheckResult {
  let maxScoreDiff = 0;
  const mismatches: Mismatch[] = [];
  for (const c of cases) {
    c.ours.forEach((o, i) => {
      const r = c.reference[i];
      if (r) maxScoreDiff = Math.max(maxScoreDiff, Math.abs(o.score - r.score));
    });
    const rank = firstDisagreement(c.ours, c.reference);
    if (rank >= 0) {
      mismatches.push({ historyLength: c.length, rank, ours: c.ours, reference: c.reference });
    }
  }
  return { histories: cases.length, passed: mismatches.length === 0, maxScoreDiff, mismatches };
}
