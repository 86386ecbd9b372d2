/**
 * The JSON a bench.html run produces (and downloads, and loads back to compare): its types,
 * and a validator that checks every field, so a report from another browser, another
 * version of the page or a hand-edited file is refused with the field it lacks rather
 * than drawn wrong.
 */
import type { CheckResult } from './correctness.ts';
import type { BenchBackend, BenchParams, Variant } from './params.ts';
import { BENCH_BACKENDS, VARIANTS } from './params.ts';
import type { LatencyStats } from './stats.ts';

export const REPORT_FORMAT = 'pocketrec-bench/1';

export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean | null;
}

export interface BenchEnvironment {
  userAgent: string;
  browser: { name: string; version: string };
  os: string;
  hardwareConcurrency: number | null;
  /** navigator.deviceMemory (GiB, rounded by the browser), where exposed. */
  deviceMemoryGb: number | null;
  crossOriginIsolated: boolean;
  /** What this browser's WebAssembly supports (SIMD; threads need cross-origin isolation too). */
  wasm: { simd: boolean; threads: boolean };
  webgpu: {
    available: boolean;
    /** Why not, when not. */
    reason: string | null;
    adapter: GpuAdapterSummary | null;
    /** A software adapter (SwiftShader, a fallback adapter): its timings are CPU timings. */
    software: boolean;
  };
  /** performance.memory exists (Chromium): the JS heap figures are real, else null. */
  jsHeapExposed: boolean;
  /** The smallest step performance.now() took here (browsers coarsen it). */
  timerResolutionMs: number;
  /** The browser's command-line flags, when whoever started it said (the runner does). */
  flags: string[];
  tfjs: string;
  page: string;
}

export interface OpenTimings {
  /** Downloading and verifying the package (from the network, into a fresh store). */
  downloadMs: number;
  /** Reading and verifying it from IndexedDB (null: not asked, idb=0). */
  indexeddbMs: number | null;
  /** Initialising the backend and building the model's tensors on it. */
  initMs: number;
  /** The warm-up requests before the first real one (shader compilation on WebGPU). */
  warmupMs: number;
  /** The first request after the open, one event in the history. */
  firstRecommendMs: number;
}

export interface MemoryFigures {
  /** The page's JS heap after the runs (null where the browser does not expose it). */
  jsHeapBytes: number | null;
  /** tfjs's bytes (in the worker for pocketrec, on the page for the baseline). */
  tfBytes: number;
  tensorsBefore: number;
  tensorsAfter: number;
  /** Tensors left over by the timed requests (after - before). */
  tensorsLeaked: number;
}

export interface RowCorrectness extends CheckResult {
  /** What the answers were compared with. */
  reference: string;
  /** The CPU row itself: the reference the others are checked against. */
  isReference: boolean;
}

export interface BenchRow {
  variant: Variant;
  /** The backend asked for. */
  backend: BenchBackend;
  status: 'ok' | 'unavailable' | 'failed';
  /** Why the row is unavailable or failed. */
  reason: string | null;
  model: {
    name: string;
    url: string;
    kind: string;
    numItems: number;
    bytes: number;
    params: number;
    /** How a request is scored ('dense-table', 'tt-materialised', ...; 'layers' for the baseline). */
    scoring: string;
  } | null;
  /** The backend that ran, and its adapter or WASM features. */
  ran: { backend: string; detail: string | null } | null;
  open: OpenTimings | null;
  /** recommend() on a whole window encoded afresh each time. */
  warm: LatencyStats | null;
  /** track() one more event, then recommend(): the shopper's pattern. */
  incremental: (LatencyStats & { reusedRuns: number | null }) | null;
  memory: MemoryFigures | null;
  correctness: RowCorrectness | null;
  /** Baseline p50 / this row's p50 on the same backend (how many times faster). */
  ratioToBaseline: { warmP50: number | null; incrementalP50: number | null };
  /** Every timed request, for the charts. */
  samples: { warmMs: number[]; incrementalMs: number[] } | null;
}

export interface BenchReport {
  format: typeof REPORT_FORMAT;
  createdAt: string;
  /** How the report is named beside others ("Chromium 156 (Linux)"). */
  label: string;
  params: BenchParams;
  environment: BenchEnvironment;
  sessions: { source: string; count: number; meanLength: number };
  notes: string[];
  correctness: {
    passed: boolean;
    checkedRows: number;
    mismatchedRows: number;
    /** The baseline's CPU answers equal pocketrec's dense variant's (same network); null: not both run. */
    baselineMatchesDense: boolean | null;
  };
  rows: BenchRow[];
  durationMs: number;
}

// ---------------------------------------------------------------------------------------
// The schema, as data the validator walks

type Spec =
  | 'string'
  | 'number'
  | 'boolean'
  | { nullable: Spec }
  | { array: Spec }
  | { object: Record<string, Spec> }
  | { oneOf: readonly (string | number)[] }
  | { either: readonly Spec[] };

const nullable = (spec: Spec): Spec => ({ nullable: spec });
const object = (fields: Record<string, Spec>): Spec => ({ object: fields });

const STATS_FIELDS: Record<string, Spec> = {
  runs: 'number',
  p50Ms: 'number',
  p95Ms: 'number',
  p99Ms: 'number',
  meanMs: 'number',
  minMs: 'number',
  maxMs: 'number',
  throughputPerS: 'number',
};
const TOP: Spec = { array: object({ item: 'string', score: 'number' }) };

const ROW: Spec = object({
  variant: { oneOf: VARIANTS },
  backend: { oneOf: BENCH_BACKENDS },
  status: { oneOf: ['ok', 'unavailable', 'failed'] },
  reason: nullable('string'),
  model: nullable(
    object({
      name: 'string',
      url: 'string',
      kind: 'string',
      numItems: 'number',
      bytes: 'number',
      params: 'number',
      scoring: 'string',
    }),
  ),
  ran: nullable(object({ backend: 'string', detail: nullable('string') })),
  open: nullable(
    object({
      downloadMs: 'number',
      indexeddbMs: nullable('number'),
      initMs: 'number',
      warmupMs: 'number',
      firstRecommendMs: 'number',
    }),
  ),
  warm: nullable(object(STATS_FIELDS)),
  incremental: nullable(object({ ...STATS_FIELDS, reusedRuns: nullable('number') })),
  memory: nullable(
    object({
      jsHeapBytes: nullable('number'),
      tfBytes: 'number',
      tensorsBefore: 'number',
      tensorsAfter: 'number',
      tensorsLeaked: 'number',
    }),
  ),
  correctness: nullable(
    object({
      reference: 'string',
      isReference: 'boolean',
      histories: 'number',
      passed: 'boolean',
      maxScoreDiff: 'number',
      mismatches: {
        array: object({ historyLength: 'number', rank: 'number', ours: TOP, reference: TOP }),
      },
    }),
  ),
  ratioToBaseline: object({ warmP50: nullable('number'), incrementalP50: nullable('number') }),
  samples: nullable(object({ warmMs: { array: 'number' }, incrementalMs: { array: 'number' } })),
});

const REPORT: Spec = object({
  format: { oneOf: [REPORT_FORMAT] },
  createdAt: 'string',
  label: 'string',
  params: object({
    variants: { array: { oneOf: VARIANTS } },
    backends: { array: { oneOf: BENCH_BACKENDS } },
    warmup: 'number',
    runs: 'number',
    catalogue: { either: [{ oneOf: ['ml-1m'] }, 'number'] },
    idb: 'boolean',
    seed: 'number',
  }),
  environment: object({
    userAgent: 'string',
    browser: object({ name: 'string', version: 'string' }),
    os: 'string',
    hardwareConcurrency: nullable('number'),
    deviceMemoryGb: nullable('number'),
    crossOriginIsolated: 'boolean',
    wasm: object({ simd: 'boolean', threads: 'boolean' }),
    webgpu: object({
      available: 'boolean',
      reason: nullable('string'),
      adapter: nullable(
        object({
          vendor: 'string',
          architecture: 'string',
          device: 'string',
          description: 'string',
          isFallbackAdapter: nullable('boolean'),
        }),
      ),
      software: 'boolean',
    }),
    jsHeapExposed: 'boolean',
    timerResolutionMs: 'number',
    flags: { array: 'string' },
    tfjs: 'string',
    page: 'string',
  }),
  sessions: object({ source: 'string', count: 'number', meanLength: 'number' }),
  notes: { array: 'string' },
  correctness: object({
    passed: 'boolean',
    checkedRows: 'number',
    mismatchedRows: 'number',
    baselineMatchesDense: nullable('boolean'),
  }),
  rows: { array: ROW },
  durationMs: 'number',
});

function check(value: unknown, spec: Spec, path: string, problems: string[]): void {
  if (spec === 'string' || spec === 'boolean') {
    if (typeof value !== spec) problems.push(`${path}: expected a ${spec}`);
  } else if (spec === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${path}: expected a finite number`);
    }
  } else if ('nullable' in spec) {
    if (value !== null) check(value, spec.nullable, path, problems);
  } else if ('either' in spec) {
    const attempts = spec.either.map((option) => {
      const found: string[] = [];
      check(value, option, path, found);
      return found;
    });
    if (attempts.every((found) => found.length)) problems.push(...(attempts[0] as string[]));
  } else if ('oneOf' in spec) {
    if (!spec.oneOf.includes(value as string)) {
      problems.push(`${path}: expected one of ${spec.oneOf.join(', ')}`);
    }
  } else if ('array' in spec) {
    if (!Array.isArray(value)) problems.push(`${path}: expected an array`);
    else {
      value.forEach((v, i) => {
        check(v, spec.array, `${path}[${i}]`, problems);
      });
    }
  } else {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${path}: expected an object`);
      return;
    }
    const record = value as Record<string, unknown>;
    for (const [key, field] of Object.entries(spec.object)) {
      if (!(key in record)) problems.push(`${path}.${key}: missing`);
      else check(record[key], field, `${path}.${key}`, problems);
    }
    for (const key of Object.keys(record)) {
      if (!(key in spec.object)) problems.push(`${path}.${key}: not a field of the format`);
    }
  }
}

/** The fields a row that ran ('ok') must have filled in. */
const OK_ROW_FIELDS = ['model', 'ran', 'open', 'warm', 'incremental', 'memory', 'correctness'];

/**
 * Every problem with `value` as a report: missing or extra fields, wrong types, non-finite
 * numbers, an 'ok' row without its figures. Empty when it is a well-formed report.
 */
export function validateReport(value: unknown): string[] {
  const problems: string[] = [];
  check(value, REPORT, 'report', problems);
  if (problems.length) return problems;
  const report = value as BenchReport;
  report.rows.forEach((row, i) => {
    if (row.status === 'ok') {
      for (const field of OK_ROW_FIELDS) {
        if (row[field as keyof BenchRow] === null) {
          problems.push(`report.rows[${i}].${field}: null in a row that ran`);
        }
      }
    } else if (row.reason === null) {
      problems.push(`report.rows[${i}].reason: a row that did not run must say why`);
    }
  });
  return problems;
}

/** Parses and validates a report file; throws an Error listing what is wrong. */
export function parseReport(text: string, name = 'the file'): BenchReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${name} is not JSON: ${(error as Error).message}`);
  }
  const problems = validateReport(value);
  if (problems.length) {
    const shown = problems.slice(0, 8).join('; ');
    throw new Error(
      `${name} is not a bench report (${REPORT_FORMAT}): ${shown}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`,
    );
  }
  return value as BenchReport;
}
