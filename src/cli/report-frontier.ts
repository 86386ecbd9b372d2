/**
 * `pocketrec report --frontier`: next-item accuracy against the bytes a shopper downloads
 * (the whole package on disk: manifest, weights, item ids), one family per way of building
 * a small model, the Pareto front marked, and for each download budget the best model
 * against the best plain dense SASRec that fits it: the comparison a shop decides by.
 */
import type { Metrics } from '../eval/evaluate.ts';
import type { MetricName } from '../model/metrics.ts';
import { markdownTable } from './markdown-table.ts';
import { metricLabel } from './report-encoder-cut.ts';
import {
  compactBytes,
  PLOT_PALETTE,
  type PlotMarker,
  type PlotSeries,
  plotSvg,
} from './report-plot.ts';

/** What the frontier needs of a report row. */
export interface FrontierRow {
  model: string;
  kind: string;
  /** Every file of the package on disk, manifest included; null for a baseline. */
  packageBytes: number | null;
  metrics: Metrics;
  teacher: string | null;
  /** The dtype `pocketrec quantize` stored it in; null when never quantised. */
  quantized: string | null;
  /** Whether `pocketrec umec` narrowed its encoder. */
  cut: boolean;
  command: string;
}

export const FRONTIER_DEFAULTS = {
  /** The download budgets of the budget table, in bytes: 32 KiB to 1 MiB. */
  budgets: [32, 64, 128, 256, 512, 1024].map((k) => k * 1024),
  /** The family every compressed model is held against. */
  baseline: 'dense SASRec',
};

const TABLE_NAMES: Record<string, string> = {
  'sequential-dense': 'dense SASRec',
  'sequential-tt': 'tensor-train SASRec',
  'sequential-jpq': 'RecJPQ SASRec',
  'sequential-qr': 'quotient-remainder SASRec',
  'sequential-pruned': 'pruned SASRec',
  'sequential-markov': 'first-order Markov',
  'sequential-popularity': 'popularity',
};

/**
 * The family a model belongs to: its item table, then how it was made smaller. A dense
 * model is a baseline whatever its dtype; a distilled one is not (the distillation is a
 * method of its own).
 */
export function familyOf(row: FrontierRow): string {
  const parts = [TABLE_NAMES[row.kind] ?? row.kind];
  if (row.teacher !== null) parts.push('distilled');
  if (row.cut) parts.push('UMEC encoder');
  return parts.join(', ');
}

/** The baseline family, and any of its quantised copies. */
export function isBaselineFamily(row: FrontierRow): boolean {
  return familyOf(row) === FRONTIER_DEFAULTS.baseline;
}

/** The family with its storage, the line it is drawn on: "dense SASRec, int8". */
export function lineOf(row: FrontierRow): string {
  return row.quantized ? `${familyOf(row)}, ${row.quantized}` : familyOf(row);
}

/**
 * The models no other beats at their size: none smaller or as small is as accurate. Ties in
 * size go to the more accurate; a model as accurate as a smaller one is not on the front.
 */
export function paretoFront<T extends { bytes: number; value: number }>(points: readonly T[]): T[] {
  const sorted = [...points].sort((a, b) => a.bytes - b.bytes || b.value - a.value);
  const front: T[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const p of sorted) {
    if (p.value > best) {
      front.push(p);
      best = p.value;
    }
  }
  return front;
}

/** The most accurate of `rows` within `budget` bytes, or null when none fits. */
function bestWithin<T extends { bytes: number; value: number }>(
  points: readonly T[],
  budget: number,
): T | null {
  let best: T | null = null;
  for (const p of points) if (p.bytes <= budget && (!best || p.value > best.value)) best = p;
  return best;
}

const FRONT_COLOR = '#000000';
const STORAGE_MARKERS: Record<string, PlotMarker> = {
  float32: 'circle',
  float16: 'square',
  int8: 'diamond',
};

interface Point {
  row: FrontierRow;
  bytes: number;
  value: number;
}

const kib = (b: number) => `${(b / 1024).toFixed(1)}`;
const f4 = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));

/** For each budget, the best model that fits against the best baseline model that fits. */
function budgetTable(points: readonly Point[], label: string): string[] {
  const baseline = points.filter((p) => isBaselineFamily(p.row));
  return markdownTable(
    ['budget', 'best model', label, `best ${FRONTIER_DEFAULTS.baseline}`, label, 'ratio'],
    FRONTIER_DEFAULTS.budgets.map((budget) => {
      const best = bestWithin(points, budget);
      const plain = bestWithin(baseline, budget);
      const ratio =
        best && plain && plain.value > 0 ? `${(best.value / plain.value).toFixed(3)}x` : '-';
      const named = (p: Point | null) =>
        p ? `${p.row.model} (${lineOf(p.row)}, ${kib(p.bytes)} KiB)` : 'none fits';
      return [
        compactBytes(budget),
        named(best),
        f4(best?.value),
        named(plain),
        f4(plain?.value),
        ratio,
      ];
    }),
  );
}

/**
 * The model every package is measured against besides the dense line: the largest plain
 * dense SASRec in float32 on the page (the teacher the others are compressed from, when it
 * is listed). Null when there is none.
 */
export function teacherOf<T extends { row: FrontierRow; bytes: number }>(
  points: readonly T[],
): T | null {
  let teacher: T | null = null;
  for (const p of points) {
    if (!isBaselineFamily(p.row) || p.row.quantized !== null) continue;
    if (!teacher || p.bytes > teacher.bytes) teacher = p;
  }
  return teacher;
}

/**
 * For each budget, the best model that fits (by the page's metric) as a fraction of the
 * teacher on both metrics: what the session targets ask (0.97x on P@20 and MRR@20 within
 * 256 KiB).
 */
function teacherTable(
  points: readonly Point[],
  metric: MetricName,
  second: MetricName,
  session: boolean,
): string[] {
  const teacher = teacherOf(points);
  if (!teacher) return [];
  const ratio = (p: Point, m: MetricName) => {
    const of = teacher.row.metrics[m];
    const value = p.row.metrics[m];
    return of && value !== undefined ? `${(value / of).toFixed(3)}x` : '-';
  };
  const label = metricLabel(metric, session);
  const secondLabel = metricLabel(second, session);
  return [
    `## Best within each budget, against the teacher`,
    '',
    `The teacher: ${teacher.row.model} (${kib(teacher.bytes)} KiB), ${label} ${f4(teacher.value)}, ${secondLabel} ${f4(teacher.row.metrics[second])}.`,
    '',
    ...markdownTable(
      [
        'budget',
        'best model',
        label,
        `${label} / teacher`,
        secondLabel,
        `${secondLabel} / teacher`,
      ],
      FRONTIER_DEFAULTS.budgets.map((budget) => {
        const best = bestWithin(points, budget);
        if (!best) return [compactBytes(budget), 'none fits', '-', '-', '-', '-'];
        return [
          compactBytes(budget),
          `${best.row.model} (${lineOf(best.row)}, ${kib(best.bytes)} KiB)`,
          f4(best.value),
          ratio(best, metric),
          f4(best.row.metrics[second]),
          ratio(best, second),
        ];
      }),
    ),
  ];
}

/**
 * Colour by family, marker by storage; the models of a family are different shapes, so they
 * are markers, not a line, and only the front is drawn as one.
 */
function frontierSvg(
  points: readonly Point[],
  front: ReadonlySet<Point>,
  label: string,
  dataset: string,
): string {
  const families = [...new Set(points.map((p) => familyOf(p.row)))];
  const familyColors = PLOT_PALETTE.filter((c) => c !== FRONT_COLOR);
  const lines = [...new Set(points.map((p) => lineOf(p.row)))];
  const series: PlotSeries[] = lines.map((name) => {
    const members = points.filter((p) => lineOf(p.row) === name);
    const first = (members[0] as Point).row;
    return {
      name,
      kind: 'points',
      color: familyColors[families.indexOf(familyOf(first)) % familyColors.length] as string,
      marker: STORAGE_MARKERS[first.quantized ?? 'float32'] ?? 'triangle',
      points: members.map((p) => ({
        x: p.bytes,
        y: p.value,
        label: `${p.row.model}: ${kib(p.bytes)} KiB, ${f4(p.value)}`,
      })),
    };
  });
  series.push({
    name: 'Pareto front',
    kind: 'line',
    color: FRONT_COLOR,
    dashed: true,
    points: [...front].map((p) => ({ x: p.bytes, y: p.value, label: p.row.model })),
  });
  return plotSvg({
    title: `${dataset}: ${label} against whole-package bytes`,
    xLabel: 'package bytes (log scale)',
    yLabel: `test ${label}`,
    xLogBase: 2,
    formatX: compactBytes,
    series,
  });
}

export function frontierPage(
  rows: readonly FrontierRow[],
  options: {
    dataset: string;
    session: boolean;
    command: string;
    plotFile: string;
    cases: number;
    machine: string;
  },
): { markdown: string; svg: string } {
  const metric: MetricName = options.session ? 'HR@20' : 'NDCG@10';
  const second: MetricName = options.session ? 'MRR@20' : 'HR@10';
  const label = metricLabel(metric, options.session);
  const points: Point[] = rows
    .filter((r) => r.packageBytes !== null)
    .map((row) => ({ row, bytes: row.packageBytes as number, value: row.metrics[metric] ?? 0 }))
    .sort((a, b) => a.bytes - b.bytes);
  const front = new Set(paretoFront(points));

  const all = markdownTable(
    [
      'model',
      'family',
      'storage',
      'package KiB',
      label,
      metricLabel(second, options.session),
      'on the front',
    ],
    points.map((p) => [
      p.row.model,
      familyOf(p.row),
      p.row.quantized ?? 'float32',
      kib(p.bytes),
      f4(p.value),
      f4(p.row.metrics[second]),
      front.has(p) ? 'yes' : '',
    ]),
  );
  const budgets = budgetTable(points, label);
  const againstTeacher = teacherTable(points, metric, second, options.session);
  const svg = frontierSvg(points, front, label, options.dataset);

  const markdown = [
    `# ${options.dataset}: accuracy per downloaded byte`,
    '',
    `Produced by \`${options.command}\` on ${options.machine} (tfjs WASM backend in Node).`,
    `Test ${label} (${options.cases.toLocaleString('en-US')} cases, \`pocketrec eval\`'s protocol) against the bytes of the whole package on disk: manifest, weights and item ids, what a shopper downloads once. A model is on the Pareto front when no model of at most its size is as accurate.`,
    '',
    `![${label} against package bytes](${options.plotFile})`,
    '',
    `## Best within each budget, against the best ${FRONTIER_DEFAULTS.baseline} (any width, float32 or quantised)`,
    '',
    ...budgets,
    ...againstTeacher,
    '## Every model, smallest first',
    '',
    ...all,
    '## Commands',
    '',
    ...points.map((p) => `- **${p.row.model}**: \`${p.row.command}\``),
    '',
  ].join('\n');
  return { markdown, svg };
}
