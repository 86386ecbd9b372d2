import { expect } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import type { Scorer } from '../../../src/eval/scorer.ts';
import type { EvalCases } from '../../../src/eval/splits.ts';

/** Cases from plain arrays. */
export function cases(rows: readonly [history: number[], target: number][]): EvalCases {
  return {
    inputs: rows.map(([history]) => Int32Array.from(history)),
    targets: Int32Array.from(rows.map(([, target]) => target)),
  };
}

/**
 * A scorer that looks each history up in a table (key: the items joined by commas); the
 * rows give scores for items 0..numItems, index 0 included so tests can show it is ignored.
 */
export function tableScorer(numItems: number, table: Record<string, number[]>): Scorer {
  return {
    numItems,
    score: async (histories) =>
      histories.map((history) => {
        const row = table[Array.from(history).join(',')];
        if (row === undefined) throw new Error(`no scores for history [${history}]`);
        expect(row).toHaveLength(numItems + 1);
        return Float32Array.from(row);
      }),
  };
}

/** A scorer that gives every history the same scores. */
export function constantScorer(scores: number[]): Scorer {
  const row = Float32Array.from(scores);
  return { numItems: scores.length - 1, score: async (histories) => histories.map(() => row) };
}

export async function expectPocketrecError(run: () => Promise<unknown>, code: string) {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PocketrecError);
  expect((error as PocketrecError).code).toBe(code);
  return error as PocketrecError;
}

/** 1 / log2(rank + 2): the NDCG gain of one relevant item at 0-based `rank`. */
export const gain = (rank: number) => 1 / Math.log2(rank + 2);
