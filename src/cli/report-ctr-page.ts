/**
 * The page and the plot of `pocketrec report` on a CTR data set (report-ctr.ts gathers the
 * rows): markdown tables in the house style of docs/results/, and AUC against bytes on disk
 * as an SVG, one line per pruning method.
 */
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { markdownTable, tableCell } from './markdown-table.ts';
import type {
  CtrDenseRow,
  CtrEstimateRow,
  CtrPrefixRow,
  CtrPrunedRow,
  CtrReport,
} from './report-ctr.ts';
import {
  compactBytes,
  PLOT_MARKERS,
  PLOT_PALETTE,
  type PlotSeries,
  plotSvg,
} from './report-plot.ts';
import type { StructuredRow } from './report-umec.ts';

/** How methods are named on the page and in the plot's legend. */
export const METHOD_LABELS: Record<string, string> = {
  random: 'random',
  magnitude: 'magnitude',
  'shaver-zero': 'Shaver (zero fill)',
  shaver: 'Shaver (codebook fill)',
};

const methodLabel = (method: string) => METHOD_LABELS[method] ?? method;
const tuned = (finetuned: boolean) => (finetuned ? ' + fine-tune' : '');

const f4 = (v: number | null) => (v === null ? '-' : v.toFixed(4));
const signed = (v: number | null) => (v === null ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(4)}`);
const int = (v: number | null) => (v === null ? '-' : v.toLocaleString('en-US'));
const percent = (v: number) => `${(v * 100).toFixed(v >= 0.99 && v < 1 ? 2 : 1)}%`;
const seconds = (s: number | null) =>
  s === null ? '-' : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
const code = (text: string) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

export function ctrReportPage(report: CtrReport): string {
  return [
    ...header(report),
    ...denseSection(report.dense),
    ...prunedSection(report.pruned),
    ...prefixSection(report.prefixes),
    ...structuredSection(report.structured),
    ...estimateSection(report.estimates),
    ...commandsSection(report),
  ].join('\n');
}

function header(report: CtrReport): string[] {
  const { data } = report;
  const cpu = cpus();
  const load = report.load.map((l) => l.toFixed(2)).join(', ');
  const share = data.testPositives / data.testRows;
  return [
    `# Results: ${report.dataset}`,
    '',
    `Produced by ${code(report.command)} on ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'} (load average ${load} over 1, 5, 15 min as it started; tfjs WASM backend in Node).`,
    `Data: ${data.description}${data.notes.length ? `; ${data.notes.join('; ')}` : ''}.`,
    `Every figure is on the test split: ${int(data.testRows)} rows, ${percent(share)} clicks. AUC is exact with ties counted half (sklearn's \`roc_auc_score\`), LogLoss clips probabilities to [1e-7, 1 - 1e-7] as FuxiCTR / BARS do: \`pocketrec eval\`'s code.`,
    '**Bytes on disk** are those of `manifest.json` and every file it lists (weights, vocabulary): what a client downloads for the whole package. The **AUC drop** is the AUC of the dense package a model was pruned from minus its own.',
    '',
    ...(report.plot
      ? [`![Test AUC against bytes on disk, one line per method](${basename(report.plot)})`, '']
      : []),
  ];
}

const UMEC_LABELS: Record<string, string> = {
  umec: 'UMEC',
  magnitude: 'magnitude (group norm)',
  'group-lasso': 'Group Lasso',
};

function structuredSection(rows: readonly StructuredRow[]): string[] {
  if (rows.length === 0) return [];
  const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)} ms`);
  return [
    '## Fields and units pruned to a FLOPs budget',
    '',
    "`pocketrec umec`: whole fields and hidden units removed to a budget of multiply-adds per row, the smaller model fine-tuned and exported without the removed parts. **FLOPs** is counted from the package's own architecture (`pocketrec info`'s `flopsRatio`) against the model it was cut from. **Request p50** is the median time of scoring 100 test rows with `pocketrec eval`'s code (tfjs WASM in Node, one thread), timed in this run beside the source's.",
    '',
    ...markdownTable(
      [
        'package',
        'method',
        'budget',
        'FLOPs',
        'kept',
        'fields removed',
        'bytes on disk',
        'AUC',
        'LogLoss',
        'AUC drop',
        'request p50',
        'source p50',
      ],
      rows.map((r) => [
        r.name,
        UMEC_LABELS[r.method] ?? r.method,
        String(r.budget),
        r.flopsRatio === null ? '-' : r.flopsRatio.toFixed(3),
        r.kept,
        r.removedFields.length ? r.removedFields.join(', ') : '-',
        int(r.bytes),
        f4(r.metrics.AUC),
        f4(r.metrics.LogLoss),
        signed(r.drop),
        ms(r.requestP50),
        ms(r.dense?.requestP50 ?? null),
      ]),
    ),
  ];
}

function denseSection(rows: readonly CtrDenseRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    '## Dense models',
    '',
    ...markdownTable(
      [
        'package',
        'model',
        'dim',
        'params',
        'bytes on disk',
        'AUC',
        'LogLoss',
        'best epoch',
        'train time',
      ],
      rows.map((r) => [
        r.listed ? r.name : `${r.name} (source of pruned packages, not in --models)`,
        r.model,
        r.dim === null ? '-' : String(r.dim),
        int(r.params),
        int(r.bytes),
        f4(r.metrics.AUC),
        f4(r.metrics.LogLoss),
        r.epochs ? `${r.epochs.best} of ${r.epochs.trained}` : '-',
        seconds(r.trainSeconds),
      ]),
    ),
  ];
}

function prunedSection(rows: readonly CtrPrunedRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    '## Pruned embedding tables',
    '',
    'Single-shot pruning of the embedding table (`pocketrec prune`), every other weight kept; "+ fine-tune" trains the pruned model further with its mask frozen (`--finetune`). Sparsity is the share of the table\'s elements dropped; a dropped element reads its field\'s codebook vector (codebook fill) or zero.',
    '',
    ...markdownTable(
      [
        'package',
        'pruned from',
        'method',
        'fine-tuned',
        'sparsity',
        'kept',
        'layout, fill, values',
        'bytes on disk',
        'smaller',
        'AUC',
        'LogLoss',
        'AUC drop',
      ],
      rows.map((r) => [
        r.name,
        r.dense?.name ?? 'dense not in report',
        methodLabel(r.method),
        r.finetune
          ? `${r.finetune.epochs} epoch${r.finetune.epochs === 1 ? '' : 's'}, ${seconds(r.finetune.seconds)}`
          : 'no',
        percent(r.sparsity),
        int(r.kept),
        `${r.layout}, ${r.fill}, ${r.dtype}`,
        int(r.bytes),
        r.dense ? `${(r.dense.bytes / r.bytes).toFixed(2)}x` : '-',
        f4(r.metrics.AUC),
        f4(r.metrics.LogLoss),
        signed(r.drop),
      ]),
    ),
  ];
}

function prefixSection(rows: readonly CtrPrefixRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    '## Progressive prefixes',
    '',
    "A progressive package's first c chunks are the model pruned to the top elements those chunks hold (chunks end at every `--chunk-elements` and at each `--prefix-sparsity` budget), so a client can stop downloading at any chunk. Each is evaluated at the chunk counts nearest to 50, 80, 95 and 99% sparsity and whole. **Prefix bytes** are what a client fetches for it: `manifest.json` plus the byte ranges `readPrunedPrefix` reads (every tensor but the chunks, chunks 0..c-1, the vocabulary whole); the runtime's download budget counts the same bytes less `manifest.json`.",
    '',
    ...markdownTable(
      [
        'package',
        'method',
        'chunks',
        'kept',
        'sparsity',
        'prefix bytes',
        'AUC',
        'LogLoss',
        'AUC drop',
      ],
      rows.map((r) => [
        r.name,
        `${methodLabel(r.method)}${tuned(r.finetuned)}`,
        `${r.chunks} of ${r.totalChunks}`,
        int(r.kept),
        percent(r.sparsity),
        int(r.bytes),
        f4(r.metrics.AUC),
        f4(r.metrics.LogLoss),
        signed(r.drop),
      ]),
    ),
  ];
}

function estimateSection(rows: readonly CtrEstimateRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    '## Shapley estimates',
    '',
    "The estimates (`pocketrec shapley`) Shaver's packages were ranked by. Time is the estimation's own, over resumed runs too.",
    '',
    ...markdownTable(
      ['estimate', 'fill', 'rows', 'elements', 'samples', 'passes', 'time', 'converged', 'used by'],
      rows.map((r) =>
        r.problem
          ? [
              r.dir,
              `cannot be read: ${r.problem}`,
              '-',
              '-',
              '-',
              '-',
              '-',
              '-',
              r.usedBy.join(', '),
            ]
          : [
              r.dir,
              r.fill ?? '-',
              r.split ?? '-',
              int(r.elements),
              int(r.samples),
              int(r.passes),
              seconds(r.seconds),
              r.converged ? 'yes' : 'no',
              r.usedBy.join(', '),
            ],
      ),
    ),
  ];
}

function commandsSection(report: CtrReport): string[] {
  const line = (what: string, command: string) => `- **${tableCell(what)}**: ${code(command)}`;
  const prefixes = report.prefixes.filter(
    (r, i, all) => all.findIndex((o) => o.package === r.package) === i,
  );
  return [
    '## Commands',
    '',
    ...report.dense.map((r) => line(r.name, r.command)),
    ...report.pruned.map((r) => line(r.name, r.command)),
    ...report.structured.map((r) => line(r.name, r.command)),
    ...prefixes.map((r) => line(`${r.name}, prefixes`, r.command)),
    ...report.estimates.map((r) => line(r.dir, r.command)),
    ...(report.estimates.length
      ? [
          '',
          "Each estimate's command is the one its `shapley.json` records; an estimate written before commands were kept gets one rebuilt from its package, split, fill and seed (any other option left out).",
        ]
      : []),
    '',
  ];
}

/** AUC against bytes on disk: a line per method (dashed: fine-tuned), a marker per dense model. */
export function ctrReportPlot(report: CtrReport): string {
  return plotSvg({
    title: `${report.dataset}: test AUC against bytes on disk`,
    xLabel: 'bytes on disk (log scale; prefixes: bytes fetched)',
    yLabel: 'test AUC',
    xLogBase: 2,
    formatX: compactBytes,
    yBounds: [0, 1],
    series: ctrPlotSeries(report),
  });
}

export function ctrPlotSeries(report: CtrReport): PlotSeries[] {
  const point = (name: string, bytes: number, AUC: number) => ({
    x: bytes,
    y: AUC,
    label: `${name}: ${bytes.toLocaleString('en-US')} bytes, AUC ${AUC.toFixed(4)}`,
  });
  const dense: PlotSeries[] = report.dense.map((r, i) => ({
    name: `${r.name} (dense ${r.model})`,
    kind: 'points',
    color: '#000000',
    marker: PLOT_MARKERS[(i + 1) % PLOT_MARKERS.length],
    points: [point(r.name, r.bytes, r.metrics.AUC)],
  }));
  return [...dense, ...methodSeries(report.pruned, point), ...prefixSeries(report, point)];
}

type PointOf = (name: string, bytes: number, AUC: number) => PlotSeries['points'][number];

function methodSeries(rows: readonly CtrPrunedRow[], point: PointOf): PlotSeries[] {
  const sources = new Set(rows.map((r) => r.dense?.name ?? '?'));
  const groups = new Map<string, CtrPrunedRow[]>();
  for (const r of rows) {
    const from = sources.size > 1 ? `${r.dense?.name ?? '?'}: ` : '';
    const name = `${from}${methodLabel(r.method)}${tuned(r.finetune !== null)}`;
    groups.set(name, [...(groups.get(name) ?? []), r]);
  }
  const methods = Object.keys(METHOD_LABELS);
  return [...groups].map(([name, group]) => {
    const first = group[0] as CtrPrunedRow;
    const index = methods.indexOf(first.method);
    return {
      name,
      kind: 'line',
      color: PLOT_PALETTE[(index < 0 ? methods.length : index) % PLOT_PALETTE.length] as string,
      dashed: first.finetune !== null,
      marker: 'circle',
      points: group.map((r) => point(r.name, r.bytes, r.metrics.AUC)),
    };
  });
}

function prefixSeries(report: CtrReport, point: PointOf): PlotSeries[] {
  const packages = [...new Set(report.prefixes.map((r) => r.package))];
  const first = Object.keys(METHOD_LABELS).length;
  return packages.map((dir, i) => {
    const rows = report.prefixes.filter((r) => r.package === dir);
    return {
      name: `prefixes of ${rows[0]?.name}`,
      kind: 'line',
      color: PLOT_PALETTE[(first + i) % PLOT_PALETTE.length] as string,
      marker: 'triangle',
      points: rows.map((r) => point(`${r.name}, ${r.chunks} chunks`, r.bytes, r.metrics.AUC)),
    };
  });
}
