import { PocketrecError } from '../../errors.ts';
import { shuffledRange } from '../../random.ts';
import type { SplitRows } from './encode.ts';

/**
 * A seeded random split of rows 0..numRows-1 by `ratios` (train, validation, test).
 * The counts follow RecBole's split_by_ratio: validation and test get floor(ratio × n)
 * rows, train the rest. Rows are shuffled once (Fisher-Yates on mulberry32), cut in that
 * order, and each split is handed back in file order, so that the same seed gives the same
 * rows on every machine and row k of a split is easy to find in the file.
 */
export function randomSplit(
  numRows: number,
  seed: number,
  ratios: readonly [number, number, number],
): SplitRows {
  const [, validationRatio, testRatio] = ratios;
  if (
    ratios.some((r) => !(r >= 0)) ||
    Math.abs(ratios[0] + validationRatio + testRatio - 1) > 1e-9
  ) {
    throw new PocketrecError(
      'bad-split',
      `split ratios ${ratios.join(':')} must be non-negative and sum to 1`,
    );
  }
  const validationCount = Math.floor(validationRatio * numRows);
  const testCount = Math.floor(testRatio * numRows);
  const trainCount = numRows - validationCount - testCount;
  const order = shuffledRange(numRows, seed);
  const part = (from: number, to: number) => order.slice(from, to).sort();
  return {
    train: part(0, trainCount),
    validation: part(trainCount, trainCount + validationCount),
    test: part(trainCount + validationCount, numRows),
  };
}

/** 0..n-1 in a seeded random order. */
/** Splits that are given as consecutive blocks (frappe's files, read one after another). */
export function consecutiveSplit(
  trainCount: number,
  validationCount: number,
  testCount: number,
): SplitRows {
  const range = (from: number, count: number) => {
    const rows = new Int32Array(count);
    for (let i = 0; i < count; i++) rows[i] = from + i;
    return rows;
  };
  return {
    train: range(0, trainCount),
    validation: range(trainCount, validationCount),
    test: range(trainCount + validationCount, testCount),
  };
}
