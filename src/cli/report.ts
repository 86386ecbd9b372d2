/**
 * `pocketrec report`: evaluates the baselines and a list of model packages on one data set
 * with `pocketrec eval`'s code and writes docs/results/<dataset>.md: one row per model with
 * its size, compression, accuracy, long-tail accuracy and training time, and the command
 * that made each model, so that every number in the file can be re-run.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.ts';
import { evaluate, type Metrics } from '../eval/evaluate.ts';
import { hotItems } from '../eval/hot-items.ts';
import type { MetricName } from '../model/metrics.ts';
import { MANIFEST_FILE, parseManifest } from '../package/manifest.ts';
import { directorySource } from '../package/node-fs.ts';
import { notesRecord } from '../package/notes.ts';
import { readModelPackage } from '../package/reader.ts';
import { type EvalCliOptions, evalData, modelScorer } from './eval.ts';
import type { EventLogCliOptions } from './options.ts';
import { commandLine, type Output, printJson } from './output.ts';
import { progressBar } from './progress.ts';
import {
  type EncoderCut,
  encoderCutOf,
  encoderCutSection,
  headlineMetrics,
  metricLabel,
} from './report-encoder-cut.ts';
import { frontierPage } from './report-frontier.ts';

export interface ReportCliOptions extends EventLogCliOptions {
  dataset: string;
  models?: string;
  out?: string;
  users?: string;
  /** Write the accuracy-against-bytes page (report-frontier.ts) instead of the results table. */
  frontier?: boolean;
  dataDir?: string;
  json?: boolean;
}

export interface ReportRow {
  model: string;
  kind: string;
  params: number | null;
  bytes: number | null;
  embeddingCompression: number | null;
  modelCompression: number | null;
  metrics: Metrics;
  tail: Metrics | null;
  trainSeconds: number | null;
  /** Epochs trained, and the one whose weights the package holds (best validation). */
  epochs: { trained: number; best: number } | null;
  /** The package's repeat bonus (0: none; null: a baseline). */
  repeatBonus: number | null;
  /** The name the model was trained under: a tuned copy's source package's name. */
  trainedAs: string | null;
  /** A distilled student's teacher, by the name it was trained under (as its notes say). */
  teacher: string | null;
  /**
   * Whether the teacher shaped it: a loss term or a start taken from it. A student trained
   * by `distill` with every term off and a random start names a teacher but learnt nothing
   * from it (the no-distillation ablations).
   */
  distilled: boolean;
  /** How `pocketrec umec` cut its encoder; null for a model never cut. */
  cut: EncoderCut | null;
  /** Every file of the package on disk, manifest included: what a shopper downloads. */
  packageBytes: number | null;
  /** The dtype `pocketrec quantize` stored it in; null when never quantised. */
  quantized: string | null;
  command: string;
}

export async function reportCommand(options: ReportCliOptions, output: Output): Promise<void> {
  const models = (options.models ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const evalOptions: EvalCliOptions = {
    dataset: options.dataset,
    protocol: 'full',
    split: 'test',
    users: options.users,
    dataDir: options.dataDir,
    minItemCount: options.minItemCount,
    events: options.events,
    skipBadLines: options.skipBadLines,
  };
  const data = await evalData(evalOptions);
  const hot = hotItems(data.fitted, data.numItems);
  const rows: ReportRow[] = [];
  // The frontier compares packages by their bytes; the baselines have none.
  const baselines = options.frontier ? [] : ['mostpop', 'markov'];
  for (const model of [...baselines, ...models]) {
    const { scorer, name } = await modelScorer(model, data);
    const bar = progressBar(name, { enabled: !options.json, unit: 'cases' });
    const result = await evaluate(scorer, data.cases, {
      protocol: 'full',
      maskHistory: data.kind === 'sequential',
      hotItems: hot,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.stop();
    const evalCommand = commandLine('eval', [model], {
      dataset: options.dataset,
      users: options.users,
    });
    if (model === 'mostpop' || model === 'markov') {
      rows.push({
        model: name,
        kind: 'baseline',
        params: null,
        bytes: null,
        embeddingCompression: null,
        modelCompression: null,
        metrics: result.metrics,
        tail: result.tail?.metrics ?? null,
        trainSeconds: null,
        epochs: null,
        repeatBonus: null,
        trainedAs: null,
        teacher: null,
        distilled: false,
        cut: null,
        packageBytes: null,
        quantized: null,
        command: evalCommand,
      });
      continue;
    }
    const { manifest } = await readModelPackage(directorySource(model));
    const origin = await provenance(manifest.name, manifest.training.notes);
    rows.push({
      model: manifest.name,
      kind: manifest.kind,
      params: manifest.size.params,
      bytes: manifest.size.bytes,
      embeddingCompression: manifest.size.embeddingCompression,
      modelCompression: manifest.size.modelCompression,
      metrics: result.metrics,
      tail: result.tail?.metrics ?? null,
      trainSeconds: manifest.training.metrics.trainSeconds ?? null,
      epochs: epochsOf(manifest.training.metrics),
      repeatBonus: Number(manifest.architecture.repeatBonus ?? 0),
      trainedAs: origin.trainedAs,
      teacher: origin.teacher,
      distilled: origin.teacher !== null && learntFromTeacher(manifest.training.notes),
      cut: await encoderCutOf(manifest),
      packageBytes:
        (await stat(join(model, MANIFEST_FILE))).size +
        manifest.files.reduce((n, f) => n + f.bytes, 0),
      quantized: quantizedDtype(manifest.training.notes),
      command: `${origin.commands.join('; ')}; ${evalCommand}`,
    });
  }
  const reportCommandLine = commandLine('report', [], options, ['json', 'dataDir']);
  const plotFile = options.out ? `${basename(options.out, '.md')}.svg` : 'frontier.svg';
  const frontier = options.frontier
    ? frontierPage(
        rows.map((r) => ({ ...r, teacher: r.distilled ? r.teacher : null, cut: r.cut !== null })),
        {
          dataset: options.dataset,
          session: data.kind === 'session',
          command: reportCommandLine,
          plotFile,
          cases: data.cases.inputs.length,
          machine: machineName(),
        },
      )
    : null;
  const markdown =
    frontier?.markdown ??
    renderMarkdown(options.dataset, rows, data.kind, reportCommandLine, data.cases.inputs.length);
  if (options.out) {
    await mkdir(dirname(options.out), { recursive: true });
    await writeFile(options.out, markdown);
    if (frontier) await writeFile(join(dirname(options.out), plotFile), frontier.svg);
  }
  if (options.json)
    printJson(output, { dataset: options.dataset, command: reportCommandLine, rows });
  else output.out(options.out ? `wrote ${options.out}` : markdown);
}

const machineName = () => `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`;

/**
 * Whether a package's own training took anything from its teacher, by its notes' config: a
 * distillation term (KL, InfoNCE, the views' prediction, the logits of `train --teacher`) or
 * a start from the teacher's encoder or table. A cut or quantised copy is judged by the
 * notes it carries (its config is its source's).
 */
export function learntFromTeacher(notesText: string | undefined): boolean {
  try {
    const notes = JSON.parse(notesText ?? '{}') as {
      distilledByLogits?: unknown;
      config?: Record<string, unknown>;
    };
    if (notes.distilledByLogits) return true;
    const c = notes.config ?? {};
    const positive = (key: string) => typeof c[key] === 'number' && (c[key] as number) > 0;
    return (
      positive('alpha') ||
      positive('beta') ||
      positive('gamma') ||
      c.initEncoder === 'teacher' ||
      c.initCores === 'teacher-fit' ||
      // Notes of a distilled student that predate the config's start fields.
      (c.initEncoder === undefined && c.alpha === undefined)
    );
  } catch {
    return true;
  }
}

/** The dtype `pocketrec quantize` wrote a package in, from its notes; null if never quantised. */
function quantizedDtype(notesText: string | undefined): string | null {
  const { quantize } = notesRecord(notesText) as { quantize?: { dtype?: unknown } | null };
  return typeof quantize?.dtype === 'string' ? quantize.dtype : null;
}

function epochsOf(metrics: Record<string, number>): ReportRow['epochs'] {
  const { epochs, bestEpoch } = metrics;
  return epochs === undefined || bestEpoch === undefined
    ? null
    : { trained: epochs, best: bestEpoch };
}

const f4 = (v: number | undefined | null) => (v === undefined || v === null ? '-' : v.toFixed(4));
const int = (v: number | null) => (v === null ? '-' : v.toLocaleString('en-US'));
const ratio = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)}x`);

const tuned = (r: ReportRow) => (r.repeatBonus ?? 0) > 0;

/**
 * Each compressed model's headline metrics as a share of the dense teacher's, the figures
 * the method's claims are about: its own teacher (or, when its notes name none listed,
 * the first dense model) scored the same way (with a repeat bonus or without), so that
 * the bonus's own gain is not counted as the student's.
 */
export function againstTeacher(rows: readonly ReportRow[], session: boolean): string[] {
  const teacherOf = (student: ReportRow) => {
    const teachers = rows.filter(
      (r) => r.kind === 'sequential-dense' && tuned(r) === tuned(student),
    );
    return teachers.find((r) => r.trainedAs === student.teacher) ?? teachers[0];
  };
  const students = rows.filter((r) => r.kind === 'sequential-tt' && teacherOf(r));
  if (students.length === 0) return [];
  const metrics = headlineMetrics(session);
  const tailMetric: MetricName = session ? 'HR@20' : 'HR@10';
  const share = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(3)}`;
  const label = (m: MetricName) => metricLabel(m, session);
  return [
    '## Against the teacher',
    '',
    `| model | teacher | embedding compression | ${metrics.map((m) => `${label(m)} / teacher`).join(' | ')} | tail ${label(tailMetric)} / teacher |`,
    `|---|---|---|${metrics.map(() => '---').join('|')}|---|`,
    ...students.map((r) => {
      const teacher = teacherOf(r) as ReportRow;
      return `| ${r.model} | ${teacher.model} | ${ratio(r.embeddingCompression)} | ${metrics
        .map((m) => share(r.metrics[m], teacher.metrics[m]))
        .join(' | ')} | ${share(r.tail?.[tailMetric], teacher.tail?.[tailMetric])} |`;
    }),
    '',
  ];
}

function renderMarkdown(
  dataset: string,
  rows: readonly ReportRow[],
  kind: 'sequential' | 'session',
  command: string,
  cases: number,
): string {
  const session = kind === 'session';
  const header = session
    ? '| model | kind | params | bytes | embedding compression | model compression | repeat bonus | P@20 | MRR@20 | HR@10 | NDCG@10 | tail P@20 | tail MRR@20 | train time | best epoch |'
    : '| model | kind | params | bytes | embedding compression | model compression | HR@10 | NDCG@10 | MRR@10 | tail HR@10 | tail NDCG@10 | train time | best epoch |';
  const line = (r: ReportRow) => {
    const size = [
      r.model,
      r.kind,
      int(r.params),
      int(r.bytes),
      ratio(r.embeddingCompression),
      ratio(r.modelCompression),
      ...(session ? [r.repeatBonus === null ? '-' : String(r.repeatBonus)] : []),
    ];
    const time = r.trainSeconds === null ? '-' : `${(r.trainSeconds / 60).toFixed(1)} min`;
    const epochs = r.epochs === null ? '-' : `${r.epochs.best} of ${r.epochs.trained}`;
    const m = r.metrics;
    const accuracy = session
      ? [
          f4(m['HR@20']),
          f4(m['MRR@20']),
          f4(m['HR@10']),
          f4(m['NDCG@10']),
          f4(r.tail?.['HR@20']),
          f4(r.tail?.['MRR@20']),
        ]
      : [
          f4(m['HR@10']),
          f4(m['NDCG@10']),
          f4(m['MRR@10']),
          f4(r.tail?.['HR@10']),
          f4(r.tail?.['NDCG@10']),
        ];
    return `| ${[...size, ...accuracy, time, epochs].join(' | ')} |`;
  };
  const protocol = session
    ? 'the given test prefixes, every item ranked, history not masked (P@20 = HR@20)'
    : "leave-one-out (last item), every item ranked, the user's history masked";
  return [
    `# Results: ${dataset}`,
    '',
    `Produced by \`${command}\` on ${machineName()} (tfjs WASM backend in Node).`,
    `Protocol: ${protocol}; ${cases.toLocaleString('en-US')} test cases. The tail is the targets outside the 20% most frequent training items.`,
    "Train time is the model's own training in wall-clock time (a student's excludes its teacher's); models trained side by side share the cores and take longer. The best epoch is the one whose weights the package holds (best validation NDCG@10), of the epochs trained.",
    '',
    header,
    `|${header
      .split('|')
      .slice(1, -1)
      .map(() => '---')
      .join('|')}|`,
    ...rows.map(line),
    '',
    ...againstTeacher(rows, session),
    ...encoderCutSection(rows, session),
    '## Commands',
    '',
    ...rows.map((r) => `- **${r.model}**: \`${r.command}\``),
    '',
  ].join('\n');
}

export function checkReportOptions(options: ReportCliOptions): void {
  if (options.out !== undefined && !options.out.endsWith('.md')) {
    throw new UsageError(`--out must name a .md file, got ${options.out}`);
  }
}

/**
 * How a package came to be, from its notes: the commands that trained it, oldest first (a
 * fine-tuned package, `--init-from`, a tuned one, `tune-repeats`, a quantised one, `quantize`,
 * or one cut by `umec` names the package it started from, whose own commands come before its
 * own); the name it was trained under and, for a student, its teacher's (a tuned or quantised
 * copy takes both from the package it came from, a cut one its teacher).
 */
async function provenance(
  name: string,
  notesText: string | undefined,
  depth = 0,
): Promise<{ commands: string[]; trainedAs: string; teacher: string | null }> {
  // Notes that are empty or prose (a repacked package without notes) name no commands.
  const notes = notesRecord(notesText) as {
    command?: string;
    teacher?: string;
    initFrom?: { package?: string };
    tunedFrom?: { package?: string };
    quantizedFrom?: { package?: string };
    prunedFrom?: { package?: string };
  };
  const own = {
    commands: [notes.command ?? '(command not recorded)'],
    trainedAs: name,
    teacher: notes.teacher ?? null,
  };
  // A tuned or quantised copy is the same trained model: it keeps its source's name.
  const copiedFrom = notes.tunedFrom ?? notes.quantizedFrom;
  const start = notes.initFrom?.package ?? copiedFrom?.package ?? notes.prunedFrom?.package;
  if (start === undefined || depth >= 8) return own;
  try {
    // Only its notes are wanted: the manifest, not the weights.
    const manifest = await parseManifest(await readFile(join(start, MANIFEST_FILE)));
    const before = await provenance(manifest.name, manifest.training.notes, depth + 1);
    const commands = [...before.commands, ...own.commands];
    if (copiedFrom) return { ...before, commands };
    if (notes.prunedFrom) return { ...own, teacher: before.teacher, commands };
    return { ...own, commands };
  } catch {
    // The start is gone: the package's own name is the best there is.
    return {
      ...own,
      commands: [`(started from ${start}, which cannot be read now)`, ...own.commands],
    };
  }
}
