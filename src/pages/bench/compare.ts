/**
 * One comparison of several reports (one per browser, or per machine): a line per model
 * variant, backend and report, the same variant and backend of every report next to each
 * other. The page draws it as an HTML table, `npm run bench:browsers` prints it as
 * Markdown; both from the columns defined here.
 */
import { BENCH_BACKENDS, type BenchBackend, VARIANTS, type Variant } from './params.ts';
import type { BenchReport, BenchRow } from './report.ts';

export interface ComparisonLine {
  report: BenchReport;
  row: BenchRow;
}

export const VARIANT_LABELS: Record<Variant, string> = {
  tt: 'TT student, pocketrec',
  teacher: 'dense, pocketrec',
  baseline: 'dense, tfjs layers model.predict',
};

/** Every row of every report, ordered by variant, then backend, then report. */
export function comparisonLines(reports: readonly BenchReport[]): ComparisonLine[] {
  const lines: ComparisonLine[] = [];
  for (const variant of VARIANTS) {
    for (const backend of BENCH_BACKENDS) {
      for (const report of reports) {
        for (const row of report.rows) {
          if (row.variant === variant && row.backend === backend) lines.push({ report, row });
        }
      }
    }
  }
  return lines;
}

/** The rows of each variant/backend pair, in report order (null where a report lacks it). */
export function pairedRows(
  reports: readonly BenchReport[],
): { variant: Variant; backend: BenchBackend; rows: (BenchRow | null)[] }[] {
  const pairs: { variant: Variant; backend: BenchBackend; rows: (BenchRow | null)[] }[] = [];
  for (const variant of VARIANTS) {
    for (const backend of BENCH_BACKENDS) {
      const rows = reports.map(
        (r) => r.rows.find((x) => x.variant === variant && x.backend === backend) ?? null,
      );
      if (rows.some((x) => x !== null)) pairs.push({ variant, backend, rows });
    }
  }
  return pairs;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null) return '-';
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

const formatRatio = (x: number | null | undefined) => (x == null ? '-' : `${x.toFixed(1)}x`);

function ranOn({ report, row }: ComparisonLine): string {
  if (row.status !== 'ok') return `${row.status}: ${row.reason ?? ''}`;
  const ran = row.ran as NonNullable<BenchRow['ran']>;
  const software =
    ran.backend === 'webgpu' && report.environment.webgpu.software
      ? '; software adapter: CPU timings, not GPU'
      : '';
  return ran.detail || software ? `${ran.backend} (${ran.detail ?? ''}${software})` : ran.backend;
}

function checkCell(row: BenchRow): string {
  const c = row.correctness;
  if (!c) return '-';
  if (c.isReference) return 'reference';
  return c.passed ? 'pass' : `MISMATCH (${c.mismatches.length}/${c.histories})`;
}

export interface Column {
  header: string;
  cell(line: ComparisonLine): string;
  /** Right-aligned (figures). */
  numeric: boolean;
}

const figure = (header: string, cell: (row: BenchRow) => string): Column => ({
  header,
  cell: ({ row }) => (row.status === 'ok' ? cell(row) : ''),
  numeric: true,
});

export const COLUMNS: readonly Column[] = [
  {
    header: 'model',
    cell: ({ row }) => `${VARIANT_LABELS[row.variant]}${row.model ? ` (${row.model.name})` : ''}`,
    numeric: false,
  },
  { header: 'backend', cell: ({ row }) => row.backend, numeric: false },
  { header: 'browser', cell: ({ report }) => report.label, numeric: false },
  { header: 'ran on', cell: ranOn, numeric: false },
  figure('download ms', (r) => formatMs(r.open?.downloadMs)),
  figure('IndexedDB ms', (r) => formatMs(r.open?.indexeddbMs)),
  figure('init ms', (r) => formatMs(r.open?.initMs)),
  figure('warm-up ms', (r) => formatMs(r.open?.warmupMs)),
  figure('first ms', (r) => formatMs(r.open?.firstRecommendMs)),
  figure('p50 ms', (r) => formatMs(r.warm?.p50Ms)),
  figure('p95 ms', (r) => formatMs(r.warm?.p95Ms)),
  figure('p99 ms', (r) => formatMs(r.warm?.p99Ms)),
  figure('req/s', (r) => (r.warm ? r.warm.throughputPerS.toFixed(0) : '-')),
  figure('append+rec p50 ms', (r) => formatMs(r.incremental?.p50Ms)),
  figure('vs baseline', (r) => formatRatio(r.ratioToBaseline.warmP50)),
  figure('vs baseline, append', (r) => formatRatio(r.ratioToBaseline.incrementalP50)),
  figure('tensors leaked', (r) => String(r.memory?.tensorsLeaked ?? '-')),
  figure('page JS heap MB', (r) =>
    r.memory?.jsHeapBytes == null ? '-' : (r.memory.jsHeapBytes / 1e6).toFixed(1),
  ),
  { header: 'check', cell: ({ row }) => checkCell(row), numeric: false },
];

/** The comparison as a Markdown table (what the runner prints and docs/benchmarks.md shows). */
export function markdownTable(reports: readonly BenchReport[]): string {
  const lines = comparisonLines(reports);
  const cellText = (s: string) => s.replaceAll('|', '\\|');
  const out = [
    `| ${COLUMNS.map((c) => c.header).join(' | ')} |`,
    `|${COLUMNS.map((c) => (c.numeric ? '---:' : '---')).join('|')}|`,
  ];
  for (const line of lines)
    out.push(`| ${COLUMNS.map((c) => cellText(c.cell(line))).join(' | ')} |`);
  return out.join('\n');
}

/** Each report's headline: the layers baseline's p50 over pocketrec's, per backend. */
export function headlines(reports: readonly BenchReport[]): string[] {
  const out: string[] = [];
  for (const report of reports) {
    for (const row of report.rows) {
      if (row.variant === 'baseline' || row.ratioToBaseline.warmP50 == null) continue;
      const baseline = report.rows.find(
        (b) => b.variant === 'baseline' && b.backend === row.backend,
      );
      out.push(
        `${report.label}, ${row.backend}: ${VARIANT_LABELS[row.variant]} p50 ${formatMs(row.warm?.p50Ms)} ms vs the layers baseline's ${formatMs(baseline?.warm?.p50Ms)} ms: ${formatRatio(row.ratioToBaseline.warmP50)} (track one event + recommend: ${formatRatio(row.ratioToBaseline.incrementalP50)})`,
      );
    }
  }
  return out;
}
