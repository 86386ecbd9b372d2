/**
 * The results as charts (Chart.js): warm and append latency, the ratio to the baseline,
 * and where the time of an open goes; one bar per report, so a second browser's JSON
 * loaded beside this run's sits next to it.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  type ChartDataset,
  Legend,
  LinearScale,
  LogarithmicScale,
  Title,
  Tooltip,
} from 'chart.js';
import { pairedRows, VARIANT_LABELS } from './compare.ts';
import type { BenchReport, BenchRow } from './report.ts';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LogarithmicScale,
  Legend,
  Title,
  Tooltip,
);

const PALETTE = ['#2f6fed', '#e0803a', '#1f9d61', '#9b59b6', '#c93a3a', '#7f8c8d'];
const PHASES: [string, (r: BenchRow) => number | null | undefined][] = [
  ['download', (r) => r.open?.downloadMs],
  ['IndexedDB', (r) => r.open?.indexeddbMs],
  ['init', (r) => r.open?.initMs],
  ['warm-up', (r) => r.open?.warmupMs],
  ['first request', (r) => r.open?.firstRecommendMs],
];

type BarChart = Chart<'bar', (number | null)[], string>;
const charts = new Map<string, BarChart>();

function draw(
  canvasId: string,
  config: ChartConfiguration<'bar', (number | null)[], string>,
): void {
  charts.get(canvasId)?.destroy();
  const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
  charts.set(canvasId, new Chart(canvas, config));
}

function barOptions(title: string, axis: string, logarithmic: boolean, stacked = false) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false as const,
    plugins: { title: { display: true, text: title }, legend: { position: 'bottom' as const } },
    scales: {
      x: { stacked },
      y: {
        stacked,
        type: logarithmic ? ('logarithmic' as const) : ('linear' as const),
        title: { display: true, text: axis },
      },
    },
  };
}

const okValue = (row: BenchRow | null, pick: (r: BenchRow) => number | null | undefined) =>
  row && row.status === 'ok' ? (pick(row) ?? null) : null;

export function renderCharts(reports: readonly BenchReport[]): void {
  const pairs = pairedRows(reports);
  const labels = pairs.map((p) => `${VARIANT_LABELS[p.variant]} / ${p.backend}`);
  const perReport = (
    pick: (r: BenchRow) => number | null | undefined,
  ): ChartDataset<'bar', (number | null)[]>[] =>
    reports.map((report, i) => ({
      label: report.label,
      data: pairs.map((p) => okValue(p.rows[i] ?? null, pick)),
      backgroundColor: PALETTE[i % PALETTE.length] as string,
    }));

  draw('chart-warm', {
    type: 'bar',
    data: { labels, datasets: perReport((r) => r.warm?.p50Ms) },
    options: barOptions('Warm recommend, p50 (whole window encoded)', 'ms (log scale)', true),
  });
  draw('chart-append', {
    type: 'bar',
    data: { labels, datasets: perReport((r) => r.incremental?.p50Ms) },
    options: barOptions('track one event + recommend, p50', 'ms (log scale)', true),
  });
  const ratioPairs = pairs.filter((p) => p.variant !== 'baseline');
  draw('chart-ratio', {
    type: 'bar',
    data: {
      labels: ratioPairs.map((p) => `${VARIANT_LABELS[p.variant]} / ${p.backend}`),
      datasets: reports.map((report, i) => ({
        label: report.label,
        data: ratioPairs.map((p) => okValue(p.rows[i] ?? null, (r) => r.ratioToBaseline.warmP50)),
        backgroundColor: PALETTE[i % PALETTE.length] as string,
      })),
    },
    options: barOptions('Baseline p50 / pocketrec p50 (times faster)', 'x', false),
  });
  // One stacked bar per report and pair: where the time of opening the model went.
  const openBars = pairs.flatMap((p) =>
    reports.map((report, i) => ({
      label: `${labels[pairs.indexOf(p)]} (${report.label})`,
      row: p.rows[i] ?? null,
    })),
  );
  draw('chart-open', {
    type: 'bar',
    data: {
      labels: openBars.map((b) => b.label),
      datasets: PHASES.map(([phase, pick], i) => ({
        label: phase,
        data: openBars.map((b) => okValue(b.row, pick)),
        backgroundColor: PALETTE[i % PALETTE.length] as string,
      })),
    },
    options: barOptions('Opening the model, by phase', 'ms', false, true),
  });
}
