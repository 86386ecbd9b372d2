/**
 * Shared by the real-data evaluation tests. They never skip: without the data directory
 * they fail and say how to point at it.
 */
import { resolveDataDir } from '../../../src/data/data-dir.ts';
import type { EvaluationResult } from '../../../src/eval/evaluate.ts';

let resolved: string | undefined;

/** Resolved inside each test so a missing directory fails the tests instead of skipping them. */
export function dataDir(): string {
  try {
    resolved ??= resolveDataDir();
  } catch (error) {
    throw new Error(
      `the real-data evaluation tests need the data sets (see the data README): ${(error as Error).message}`,
    );
  }
  return resolved;
}

/** A row of ../shared/reference/baselines.md. */
export type ReferenceRow = Record<
  'HR@10' | 'NDCG@10' | 'MRR@10' | 'HR@20' | 'NDCG@20' | 'MRR@20',
  number
>;

/** The metrics rounded to the table's 4 decimals, for a readable diff on failure. */
export function rounded(result: EvaluationResult, row: ReferenceRow): ReferenceRow {
  const out = { ...row };
  for (const name of Object.keys(row) as (keyof ReferenceRow)[]) {
    out[name] = Math.round((result.metrics[name] as number) * 1e4) / 1e4;
  }
  return out;
}

/** Positions where two score arrays differ (Object.is, so -0/NaN count); toEqual is slow here. */
export function differingPositions(a: Float32Array, b: Float32Array): number[] {
  const out: number[] = [];
  if (a.length !== b.length) return [-1];
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) out.push(i);
  return out;
}
