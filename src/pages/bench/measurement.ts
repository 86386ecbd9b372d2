/**
 * What measuring one variant on one backend needs and gives back, whichever way the
 * variant runs (pocketrec's client API, or the layers baseline on the page).
 */
import { checkAgainstReference, type TopItem } from './correctness.ts';
import type { BenchBackend, BenchParams, Variant } from './params.ts';
import type { BenchRow, RowCorrectness } from './report.ts';
import type { AppendStep } from './sessions.ts';

export const K = 10;

export interface MeasureContext {
  params: BenchParams;
  /** Unique per run: names the IndexedDB databases it creates (and deletes). */
  runId: string;
  /** The correctness check's histories. */
  checks: string[][];
  /** The history the warm requests answer. */
  warmHistory: string[];
  /** The shopper's pattern: one more event, then a request. */
  steps: AppendStep[];
  /** The one event of the first request after the open. */
  firstItem: string;
  /** The CPU backend's answers on `checks`; null when this row is the CPU row itself. */
  reference: TopItem[][] | null;
  log(line: string): void;
}

export interface Measured {
  row: BenchRow;
  /** The answers on the check histories (the reference, when this is the CPU row). */
  answers: TopItem[][];
}

/** A row for a variant that did not run here, and why. */
export function notRun(
  variant: Variant,
  backend: BenchBackend,
  status: 'unavailable' | 'failed',
  reason: string,
): BenchRow {
  return {
    variant,
    backend,
    status,
    reason,
    model: null,
    ran: null,
    open: null,
    warm: null,
    incremental: null,
    memory: null,
    correctness: null,
    ratioToBaseline: { warmP50: null, incrementalP50: null },
    samples: null,
  };
}

/** How a WASM backend ran: SIMD, and threads where the page is cross-origin isolated. */
export function wasmDetail(wasm: { simd: boolean; threaded: boolean; threads: number }): string {
  const threads = wasm.threaded
    ? `threaded binary, ${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}`
    : 'no threads';
  return `${wasm.simd ? 'SIMD' : 'no SIMD'}, ${threads}`;
}

/** Times one awaited call. */
export async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await run();
  return { ms: performance.now() - started, value };
}

/** The check's verdict: `answers` against the CPU's, or the CPU row itself as the reference. */
export function rowCorrectness(
  checks: readonly string[][],
  answers: readonly TopItem[][],
  reference: readonly TopItem[][] | null,
): RowCorrectness {
  if (!reference) {
    return {
      reference: 'cpu',
      isReference: true,
      histories: checks.length,
      passed: true,
      maxScoreDiff: 0,
      mismatches: [],
    };
  }
  const cases = checks.map((history, i) => ({
    length: history.length,
    ours: answers[i] as TopItem[],
    reference: reference[i] as TopItem[],
  }));
  return { reference: 'cpu', isReference: false, ...checkAgainstReference(cases) };
}
