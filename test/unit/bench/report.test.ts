// The bench report's format: the validator that every loaded JSON goes through, and two
// runs side by side (src/pages/bench/report.ts, compare.ts).
import { describe, expect, it } from 'vitest';
import {
  comparisonLines,
  headlines,
  markdownTable,
  pairedRows,
} from '../../../src/pages/bench/compare.ts';
import { notRun } from '../../../src/pages/bench/measurement.ts';
import { DEFAULT_PARAMS } from '../../../src/pages/bench/params.ts';
import {
  type BenchReport,
  type BenchRow,
  parseReport,
  REPORT_FORMAT,
  validateReport,
} from '../../../src/pages/bench/report.ts';
import { summarize } from '../../../src/pages/bench/stats.ts';

function row(variant: BenchRow['variant'], backend: BenchRow['backend'], p50: number): BenchRow {
  const warmMs = [p50, p50, p50 * 2];
  return {
    variant,
    backend,
    status: 'ok',
    reason: null,
    model: {
      name: variant === 'tt' ? 'ml-1m-tt2-r12-fo' : 'ml-1m-teacher-fo',
      url: '/models/x',
      kind: variant === 'baseline' ? 'tf.LayersModel' : 'sequential-dense',
      numItems: 3416,
      bytes: 1000,
      params: 100,
      scoring: 'dense-table',
    },
    ran: { backend, detail: backend === 'wasm' ? 'SIMD, no threads' : null },
    open: { downloadMs: 10, indexeddbMs: 5, initMs: 3, warmupMs: 20, firstRecommendMs: 4 },
    warm: summarize(warmMs),
    incremental: { ...summarize(warmMs), reusedRuns: variant === 'baseline' ? null : 2 },
    memory: {
      jsHeapBytes: null,
      tfBytes: 100,
      tensorsBefore: 7,
      tensorsAfter: 7,
      tensorsLeaked: 0,
    },
    correctness: {
      reference: 'cpu',
      isReference: backend === 'cpu',
      histories: 5,
      passed: true,
      maxScoreDiff: 0,
      mismatches: [],
    },
    ratioToBaseline: { warmP50: variant === 'baseline' ? null : 2, incrementalP50: null },
    samples: { warmMs, incrementalMs: warmMs },
  };
}

function report(label: string, browser: string): BenchReport {
  return {
    format: REPORT_FORMAT,
    createdAt: '2026-11-28T10:00:00.000Z',
    label,
    params: DEFAULT_PARAMS,
    environment: {
      userAgent: 'ua',
      browser: { name: browser, version: '1.0' },
      os: 'Linux x86_64',
      hardwareConcurrency: 2,
      deviceMemoryGb: null,
      crossOriginIsolated: true,
      wasm: { simd: true, threads: true },
      webgpu: { available: false, reason: 'no adapter', adapter: null, software: false },
      jsHeapExposed: false,
      timerResolutionMs: 0.02,
      flags: [],
      tfjs: '4.22.0',
      page: 'http://127.0.0.1/bench.html',
    },
    sessions: { source: 'generated', count: 40, meanLength: 70 },
    notes: ['a note'],
    correctness: { passed: true, checkedRows: 2, mismatchedRows: 0, baselineMatchesDense: true },
    rows: [
      row('tt', 'cpu', 20),
      row('tt', 'wasm', 2),
      notRun('tt', 'webgpu', 'unavailable', 'no adapter'),
      row('baseline', 'cpu', 30),
      row('baseline', 'wasm', 4),
    ],
    durationMs: 1000,
  };
}

describe('validateReport', () => {
  it('accepts a complete report, with a named or generated catalogue', () => {
    expect(validateReport(report('A', 'Chromium'))).toEqual([]);
    const generated = report('A', 'Chromium');
    generated.params = { ...generated.params, catalogue: 1_000_000 };
    expect(validateReport(generated)).toEqual([]);
  });

  it('names every missing, extra, mistyped or non-finite field', () => {
    const broken = JSON.parse(JSON.stringify(report('A', 'Chromium')));
    delete broken.environment.webgpu.software;
    broken.rows[0].warm.p99Ms = 'slow';
    broken.rows[1].open.downloadMs = null;
    broken.rows[1].surprise = 1;
    broken.params.catalogue = 'ml-10m';
    broken.correctness.passed = 'yes';
    expect(validateReport(broken)).toEqual([
      'report.params.catalogue: expected one of ml-1m',
      'report.environment.webgpu.software: missing',
      'report.correctness.passed: expected a boolean',
      'report.rows[0].warm.p99Ms: expected a finite number',
      'report.rows[1].open.downloadMs: expected a finite number',
      'report.rows[1].surprise: not a field of the format',
    ]);
    const infinite = report('A', 'Chromium');
    (infinite.rows[0] as BenchRow).ratioToBaseline.warmP50 = Number.POSITIVE_INFINITY;
    expect(validateReport(infinite)).toEqual([
      'report.rows[0].ratioToBaseline.warmP50: expected a finite number',
    ]);
  });

  it('wants the figures of a row that ran, and the reason of one that did not', () => {
    const r = report('A', 'Chromium');
    (r.rows[0] as BenchRow).warm = null;
    (r.rows[2] as BenchRow).reason = null;
    expect(validateReport(r)).toEqual([
      'report.rows[0].warm: null in a row that ran',
      'report.rows[2].reason: a row that did not run must say why',
    ]);
    expect(validateReport({ ...report('A', 'x'), format: 'other/1' })).toEqual([
      `report.format: expected one of ${REPORT_FORMAT}`,
    ]);
    expect(validateReport([])).toEqual(['report: expected an object']);
  });
});

describe('parseReport', () => {
  it('reads a report back as it was written', () => {
    const r = report('A', 'Chromium');
    expect(parseReport(JSON.stringify(r))).toEqual(r);
  });

  it('refuses what is not JSON or not a report, naming the file and the problem', () => {
    expect(() => parseReport('{', 'x.json')).toThrow(/^x\.json is not JSON/);
    expect(() => parseReport('{"format":"pocketrec-bench/1"}', 'y.json')).toThrow(
      /^y\.json is not a bench report \(pocketrec-bench\/1\): report\.createdAt: missing; .*; and \d+ more$/,
    );
  });
});

describe('two reports side by side', () => {
  const chromium = report('Chromium 156 (Linux)', 'Chromium');
  const firefox = report('Firefox 153 (Linux)', 'Firefox');
  firefox.rows = firefox.rows.filter((r) => r.backend !== 'webgpu');

  it('puts the same variant and backend of each report next to each other', () => {
    const lines = comparisonLines([chromium, firefox]).map(
      (l) => `${l.row.variant}/${l.row.backend}/${l.report.environment.browser.name}`,
    );
    expect(lines).toEqual([
      'tt/webgpu/Chromium',
      'tt/wasm/Chromium',
      'tt/wasm/Firefox',
      'tt/cpu/Chromium',
      'tt/cpu/Firefox',
      'baseline/wasm/Chromium',
      'baseline/wasm/Firefox',
      'baseline/cpu/Chromium',
      'baseline/cpu/Firefox',
    ]);
    const pairs = pairedRows([chromium, firefox]);
    expect(pairs.map((p) => `${p.variant}/${p.backend}`)).toEqual([
      'tt/webgpu',
      'tt/wasm',
      'tt/cpu',
      'baseline/wasm',
      'baseline/cpu',
    ]);
    expect(pairs[0]?.rows[1]).toBeNull();
  });

  it('prints one Markdown table, a line per variant, backend and browser', () => {
    const table = markdownTable([chromium, firefox]).split('\n');
    expect(table).toHaveLength(2 + 9);
    expect(table[0]).toMatch(/^\| model \| backend \| browser \| ran on \| download ms \|/);
    expect(table[1]).toMatch(/^\|---\|---\|---\|---\|---:\|/);
    expect(table[2]).toContain('| webgpu | Chromium 156 (Linux) | unavailable: no adapter |');
    expect(table[3]).toBe(
      '| TT student, pocketrec (ml-1m-tt2-r12-fo) | wasm | Chromium 156 (Linux) | wasm (SIMD, no threads) | 10.0 | 5.00 | 3.00 | 20.0 | 4.00 | 2.00 | 3.80 | 3.96 | 375 | 2.00 | 2.0x | - | 0 | - | pass |',
    );
    expect(table[5]).toContain('| cpu | Chromium 156 (Linux) | cpu |');
    expect(table[5]).toMatch(/\| reference \|$/);
  });

  it('states each headline: the baseline p50 over pocketrec p50', () => {
    expect(headlines([chromium])).toEqual([
      "Chromium 156 (Linux), cpu: TT student, pocketrec p50 20.0 ms vs the layers baseline's 30.0 ms: 2.0x (track one event + recommend: -)",
      "Chromium 156 (Linux), wasm: TT student, pocketrec p50 2.00 ms vs the layers baseline's 4.00 ms: 2.0x (track one event + recommend: -)",
    ]);
  });
});
