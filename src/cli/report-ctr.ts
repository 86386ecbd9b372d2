/**
 * `pocketrec report --dataset <ctr data set>`: the CTR counterpart of report.ts. Every
 * package in --models is read, verified and evaluated on the test split with `pocketrec
 * eval`'s code; a pruned package is set against the dense package it was pruned from, a
 * progressive one is also evaluated at a few of its prefixes, and the Shapley estimates the
 * pruned packages were ranked by are listed. It writes the markdown page and, next to it,
 * the plot of AUC against bytes on disk, and says which command made every row.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readShapleyEstimate } from '../compression/shaver/estimate-store.ts';
import type { ShapleyEstimate } from '../compression/shaver/values.ts';
import { type CtrFieldData, loadCtrFields } from '../data/ctr/index.ts';
import { getDataset } from '../data/datasets.ts';
import { UsageError } from '../errors.ts';
import {
  CTR_PRUNED_KIND,
  checkCtrPrunedStructure,
  chunkValuesName,
  ctrFromPrunedPrefix,
  PRUNED_TENSORS,
  type PrunedChunk,
  type RangeSource,
} from '../model/ctr/pruned-package.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import { MANIFEST_FILE, type Manifest } from '../package/manifest.ts';
import { directorySource } from '../package/node-fs.ts';
import type { ModelPackage } from '../package/reader.ts';
import { ctrModelOn, readCtrPackage } from './ctr-package-data.ts';
import { type CtrMetrics, ctrMetrics } from './eval-ctr.ts';
import { commandLine, type Output, printJson } from './output.ts';
import { progressBar } from './progress.ts';
import type { ReportCliOptions } from './report.ts';
import { ctrReportPage, ctrReportPlot } from './report-ctr-page.ts';
import {
  requestMedianMs,
  type StructuredRow,
  structuredRow,
  type UmecNotes,
  umecNotesOf,
} from './report-umec.ts';

export const CTR_REPORT_DEFAULTS = {
  /** The sparsities whose nearest prefix of a progressive package is evaluated. */
  prefixSparsities: [0.5, 0.8, 0.95, 0.99],
  /** Rows are ordered by model, then method, in these orders (baselines before Shaver). */
  modelOrder: ['fm', 'deepfm', 'dcnv2', 'dlrm'],
  methodOrder: ['random', 'magnitude', 'shaver-zero', 'shaver'],
  /** The plot's file: the page's name with this in place of `.md`. */
  plotSuffix: '-auc-bytes.svg',
};

const CTR_KINDS = ['ctr-dense', CTR_PRUNED_KIND];

export interface CtrDenseRow {
  package: string;
  name: string;
  /** fm, deepfm, dcnv2 or dlrm. */
  model: string;
  dim: number | null;
  params: number;
  /** manifest.json and every file it lists: what a client downloads for the package. */
  bytes: number;
  metrics: CtrMetrics;
  epochs: { trained: number; best: number } | null;
  trainSeconds: number | null;
  /** The manifest's digest, which a pruned package's notes name as `prunedFrom.version`. */
  version: string;
  /** False for a source of a pruned package that was not among --models. */
  listed: boolean;
  /** Median ms of one request of 100 test rows, timed in this run (report-umec.ts). */
  requestP50: number;
  command: string;
}

export interface CtrPrunedRow {
  package: string;
  name: string;
  model: string;
  method: string;
  finetune: { epochs: number; lr: number | null; seconds: number | null } | null;
  sparsity: number;
  kept: number;
  /** Elements of the dense table. */
  elements: number;
  layout: string;
  fill: string;
  dtype: string;
  bytes: number;
  metrics: CtrMetrics;
  /** The package it was pruned from, when that could be evaluated. */
  dense: { package: string; name: string; AUC: number; bytes: number } | null;
  /** dense AUC - this AUC. */
  drop: number | null;
  /** The Shapley estimate it was ranked by (Shaver only). */
  shapley: string | null;
  command: string;
}

export interface CtrPrefixRow {
  package: string;
  name: string;
  method: string;
  finetuned: boolean;
  chunks: number;
  totalChunks: number;
  kept: number;
  sparsity: number;
  /** manifest.json plus the byte ranges readPrunedPrefix read: what a client fetches. */
  bytes: number;
  metrics: CtrMetrics;
  drop: number | null;
  command: string;
}

export interface CtrEstimateRow {
  dir: string;
  fill: string | null;
  split: string | null;
  elements: number | null;
  samples: number | null;
  passes: number | null;
  seconds: number | null;
  converged: boolean | null;
  usedBy: string[];
  /** Why the estimate could not be read, if it could not. */
  problem: string | null;
  command: string;
}

export interface CtrReport {
  dataset: string;
  command: string;
  /** Load average over 1, 5 and 15 minutes as the report started. */
  load: number[];
  data: { description: string; notes: string[]; testRows: number; testPositives: number };
  dense: CtrDenseRow[];
  pruned: CtrPrunedRow[];
  prefixes: CtrPrefixRow[];
  estimates: CtrEstimateRow[];
  /** Models cut down to a FLOPs budget (pocketrec umec), with their sources' request time. */
  structured: StructuredRow[];
  /** The plot's path, when --out was given. */
  plot: string | null;
}

interface Context {
  dataset: string;
  data: CtrFieldData;
  progress: { done: number; total: number; bar: ReturnType<typeof progressBar> };
}

export async function reportCtrCommand(options: ReportCliOptions, output: Output): Promise<void> {
  if (options.users !== undefined) {
    throw new UsageError('--users is for next-item data sets, not CTR ones');
  }
  const models = (options.models ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (models.length === 0) {
    throw new UsageError(`--models must name at least one CTR package of ${options.dataset}`);
  }
  const load = loadavg();
  const data = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  const bar = progressBar('report', { enabled: !options.json, unit: 'models' });
  const ctx: Context = { dataset: options.dataset, data, progress: { done: 0, total: 0, bar } };
  const report = await gather(models, ctx, options, load).finally(bar.stop);
  await writeOutputs(report, options, output);
}

async function gather(
  models: readonly string[],
  ctx: Context,
  options: ReportCliOptions,
  load: number[],
): Promise<CtrReport> {
  ctx.progress.total = models.length;
  const evaluated = [];
  for (const dir of models) evaluated.push(await evaluatePackage(dir, ctx));
  const structuredEvals = evaluated.filter((e) => e.notes.umec !== null);
  const dense = evaluated
    .filter((e) => e.pkg.manifest.kind === 'ctr-dense' && e.notes.umec === null)
    .map((e) => denseRow(e));
  const prunedEvals = evaluated.filter((e) => e.pkg.manifest.kind === CTR_PRUNED_KIND);
  await addSources(dense, [...prunedEvals, ...structuredEvals], ctx);
  const pruned = sortPruned(
    prunedEvals.map((e) => prunedRow(e, dense)),
    dense,
  );
  const prefixes = [];
  for (const e of prunedEvals) prefixes.push(...(await prefixRows(e, pruned, ctx)));
  const positives = ctx.data.test.labels.reduce((n, label) => n + label, 0);
  return {
    dataset: ctx.dataset,
    command: commandLine('report', [], options, ['json', 'dataDir']),
    load,
    data: {
      description: getDataset(ctx.dataset).description,
      notes: [...(ctx.data.notes ?? [])],
      testRows: ctx.data.test.numRows,
      testPositives: positives,
    },
    dense: sortDense(dense),
    pruned,
    prefixes,
    estimates: await estimateRows(pruned, dense, ctx.dataset),
    structured: structuredEvals.flatMap((e) =>
      e.notes.umec
        ? [
            structuredRow(
              {
                dir: e.dir,
                manifest: e.pkg.manifest,
                umec: e.notes.umec,
                metrics: e.metrics,
                bytes: e.bytes,
                requestP50: e.requestP50,
                command: `${recorded(e.notes.command)}; ${evalCommand(e.dir, e.pkg.manifest.training.dataset)}`,
              },
              sourceOf(e, dense),
            ),
          ]
        : [],
    ),
    plot: options.out ? plotPath(options.out) : null,
  };
}

async function writeOutputs(
  report: CtrReport,
  options: ReportCliOptions,
  output: Output,
): Promise<void> {
  const markdown = ctrReportPage(report);
  if (options.out) {
    await mkdir(dirname(options.out), { recursive: true });
    await writeFile(options.out, markdown);
    if (report.plot) await writeFile(report.plot, ctrReportPlot(report));
  }
  if (options.json) printJson(output, report);
  else output.out(options.out ? `wrote ${options.out} and ${report.plot}` : markdown);
}

export function plotPath(out: string): string {
  return out.replace(/\.md$/, CTR_REPORT_DEFAULTS.plotSuffix);
}

interface Evaluated {
  dir: string;
  pkg: ModelPackage;
  metrics: CtrMetrics;
  bytes: number;
  notes: Notes;
  /** Median ms of scoring REQUEST_ROWS test rows, timed in this run. */
  requestP50: number;
}

/** Read, verified (as `pocketrec verify`), and scored on the test split as `pocketrec eval`. */
async function evaluatePackage(dir: string, ctx: Context): Promise<Evaluated> {
  const pkg = await readCtrPackage(dir, ctx.dataset, CTR_KINDS);
  await verifyModelStructure(pkg);
  const { ctr, data } = await ctrModelOn(dir, pkg, ctx.data);
  try {
    const metrics = await ctrMetrics(ctr, data.test);
    const requestP50 = await requestMedianMs(ctr, data.test);
    const bytes = await bytesOnDisk(dir, pkg.manifest);
    const p = ctx.progress;
    p.bar.update(++p.done, Math.max(p.total, p.done), { label: pkg.manifest.name });
    return { dir, pkg, metrics, bytes, notes: notesOf(pkg.manifest.training.notes), requestP50 };
  } finally {
    tf.dispose(Object.values(ctr.weights));
  }
}

async function bytesOnDisk(dir: string, manifest: Manifest): Promise<number> {
  const { size } = await stat(join(dir, MANIFEST_FILE));
  return size + manifest.files.reduce((sum, f) => sum + f.bytes, 0);
}

/** What prune and train record in a package's notes, each field checked: notes are any text. */
interface Notes {
  command: string | null;
  prunedFrom: { package: string | null; version: string | null } | null;
  shapley: string | null;
  finetune: { epochs: number; lr: number | null } | null;
  umec: UmecNotes | null;
}

function notesOf(text: string | undefined): Notes {
  let raw: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text ?? '{}');
    if (parsed && typeof parsed === 'object') raw = parsed;
  } catch {
    // Notes that are not JSON record nothing this report reads.
  }
  const field = (v: unknown, key: string): unknown =>
    v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const from = raw.prunedFrom;
  const epochs = num(field(raw.finetune, 'epochs'));
  // A package written again (e.g. with its vocabulary attached) records that step too.
  const command = str(raw.command);
  const again = str(raw.vocabularyAttached);
  return {
    command: command && again ? `${command}; ${again}` : command,
    prunedFrom: from
      ? { package: str(field(from, 'package')), version: str(field(from, 'version')) }
      : null,
    shapley: str(field(raw.shapley, 'dir')),
    finetune: epochs === null ? null : { epochs, lr: num(field(raw.finetune, 'lr')) },
    umec: umecNotesOf(raw.umec),
  };
}

function evalCommand(dir: string, dataset: string): string {
  return commandLine('eval', [dir], { dataset });
}

const recorded = (command: string | null) => command ?? '(command not recorded)';

function denseRow(e: Evaluated, listed = true): CtrDenseRow {
  const { manifest } = e.pkg;
  const { epochs, bestEpoch, trainSeconds } = manifest.training.metrics;
  const dim = manifest.architecture.dim;
  return {
    package: e.dir,
    name: manifest.name,
    model: String(manifest.architecture.model),
    dim: typeof dim === 'number' ? dim : null,
    params: manifest.size.params,
    bytes: e.bytes,
    metrics: e.metrics,
    epochs:
      epochs === undefined || bestEpoch === undefined ? null : { trained: epochs, best: bestEpoch },
    trainSeconds: trainSeconds ?? null,
    version: manifest.manifestSha256,
    listed,
    requestP50: e.requestP50,
    command: `${recorded(e.notes.command)}; ${evalCommand(e.dir, manifest.training.dataset)}`,
  };
}

/**
 * The dense package of each pruned one, matched by its digest (`prunedFrom.version`) or, for
 * notes without one, its path; one not among --models is read from where the notes say and
 * evaluated too, if its digest still matches.
 */
async function addSources(
  dense: CtrDenseRow[],
  pruned: readonly Evaluated[],
  ctx: Context,
): Promise<void> {
  for (const p of pruned) {
    const from = p.notes.prunedFrom;
    if (!from?.package || !from.version || sourceOf(p, dense)) continue;
    ctx.progress.total++;
    const source = await evaluatePackage(from.package, ctx).catch(() => null);
    if (source?.pkg.manifest.manifestSha256 === from.version) dense.push(denseRow(source, false));
  }
}

function sourceOf(p: Evaluated, dense: readonly CtrDenseRow[]): CtrDenseRow | undefined {
  const from = p.notes.prunedFrom;
  if (!from) return undefined;
  if (from.version) return dense.find((d) => d.version === from.version);
  return from.package
    ? dense.find((d) => resolve(d.package) === resolve(from.package ?? ''))
    : undefined;
}

function prunedRow(e: Evaluated, dense: readonly CtrDenseRow[]): CtrPrunedRow {
  const { manifest } = e.pkg;
  const arch = manifest.architecture;
  const source = sourceOf(e, dense);
  const values = manifest.tensors.find(
    (t) => t.name === PRUNED_TENSORS.values || t.name === chunkValuesName(0),
  );
  const { finetune } = e.notes;
  return {
    package: e.dir,
    name: manifest.name,
    model: String(arch.model),
    method: String(arch.pruneMethod ?? 'unknown'),
    finetune: finetune && { ...finetune, seconds: manifest.training.metrics.trainSeconds ?? null },
    sparsity: Number(arch.sparsity),
    kept: Number(arch.keptElements),
    elements: manifest.size.denseEmbeddingBytes / 4,
    layout: String(arch.layout),
    fill: String(arch.fill),
    dtype: values?.dtype ?? '-',
    bytes: e.bytes,
    metrics: e.metrics,
    dense: source
      ? { package: source.package, name: source.name, AUC: source.metrics.AUC, bytes: source.bytes }
      : null,
    drop: source ? source.metrics.AUC - e.metrics.AUC : null,
    shapley: e.notes.shapley,
    command: `${recorded(e.notes.command)}; ${evalCommand(e.dir, manifest.training.dataset)}`,
  };
}

function orderOf(list: readonly string[], value: string): number {
  const i = list.indexOf(value);
  return i < 0 ? list.length : i;
}

function sortDense(rows: CtrDenseRow[]): CtrDenseRow[] {
  const { modelOrder } = CTR_REPORT_DEFAULTS;
  return [...rows].sort(
    (a, b) =>
      Number(b.listed) - Number(a.listed) ||
      orderOf(modelOrder, a.model) - orderOf(modelOrder, b.model),
  );
}

/** Source model, method, without fine-tuning before with, then sparsity. */
function sortPruned(rows: CtrPrunedRow[], dense: readonly CtrDenseRow[]): CtrPrunedRow[] {
  const sources = sortDense([...dense]).map((d) => d.package);
  const { methodOrder } = CTR_REPORT_DEFAULTS;
  const key = (r: CtrPrunedRow) => [
    orderOf(sources, r.dense?.package ?? ''),
    orderOf(methodOrder, r.method),
    r.finetune ? 1 : 0,
    r.sparsity,
  ];
  return [...rows].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    const differs = ka.findIndex((v, i) => v !== kb[i]);
    return differs < 0
      ? a.layout.localeCompare(b.layout)
      : (ka[differs] as number) - (kb[differs] as number);
  });
}

/**
 * The chunk counts to evaluate a progressive package at: for each target sparsity, the
 * count whose kept elements come nearest to it, and every chunk (the whole package).
 */
export function prefixChunkCounts(
  chunks: readonly PrunedChunk[],
  elements: number,
  targets: readonly number[] = CTR_REPORT_DEFAULTS.prefixSparsities,
): number[] {
  const keptAt = [0];
  for (const chunk of chunks) keptAt.push((keptAt.at(-1) as number) + chunk.elements);
  const nearest = (sparsity: number) => {
    const want = (1 - sparsity) * elements;
    let best = 0;
    keptAt.forEach((kept, c) => {
      if (Math.abs(kept - want) < Math.abs((keptAt[best] as number) - want)) best = c;
    });
    return best;
  };
  const counts = new Set([...targets.map(nearest), chunks.length]);
  return [...counts].sort((a, b) => a - b);
}

async function prefixRows(
  e: Evaluated,
  pruned: readonly CtrPrunedRow[],
  ctx: Context,
): Promise<CtrPrefixRow[]> {
  const { storage } = checkCtrPrunedStructure(e.pkg.manifest);
  if (storage.layout !== 'progressive') return [];
  const row = pruned.find((r) => r.package === e.dir) as CtrPrunedRow;
  const manifestBytes = (await stat(join(e.dir, MANIFEST_FILE))).size;
  const command = `${recorded(e.notes.command)}; ${commandLine('report', [], { dataset: ctx.dataset, models: e.dir })}`;
  const rows: CtrPrefixRow[] = [];
  for (const chunks of prefixChunkCounts(storage.chunks, row.elements)) {
    const { metrics, fetched } = await evaluatePrefix(e, chunks, ctx);
    const kept = storage.chunks.slice(0, chunks).reduce((n, c) => n + c.elements, 0);
    rows.push({
      package: e.dir,
      name: e.pkg.manifest.name,
      method: row.method,
      finetuned: row.finetune !== null,
      chunks,
      totalChunks: storage.chunks.length,
      kept,
      sparsity: 1 - kept / row.elements,
      bytes: manifestBytes + fetched,
      metrics,
      drop: row.dense ? row.dense.AUC - metrics.AUC : null,
      command,
    });
  }
  return rows;
}

/** The model of the package's first `chunks` chunks, read as a client reads it: by ranges. */
async function evaluatePrefix(
  e: Evaluated,
  chunks: number,
  ctx: Context,
): Promise<{ metrics: CtrMetrics; fetched: number }> {
  const { source, fetched } = countingRangeSource(e.dir);
  const ctr = await ctrFromPrunedPrefix(e.pkg.manifest, source, chunks);
  try {
    return { metrics: await ctrMetrics(ctr, ctx.data.test), fetched: fetched() };
  } finally {
    tf.dispose(Object.values(ctr.weights));
  }
}

/**
 * Ranges of a package directory's files, counting the bytes handed out: what a client that
 * asked for the same ranges (HTTP Range requests) would download.
 */
function countingRangeSource(dir: string): { source: RangeSource; fetched: () => number } {
  const files = directorySource(dir);
  let fetched = 0;
  const source: RangeSource = {
    locate: files.locate,
    async readRange(path, start, end) {
      // Prefix reads start at 0; reading from the file's start keeps directorySource's
      // refusal of links and special files.
      const bytes = (await files.read(path, end)).subarray(start, end);
      fetched += bytes.byteLength;
      return bytes;
    },
  };
  return { source, fetched: () => fetched };
}

/** One row per Shapley estimate the pruned packages name, read with the estimate store. */
async function estimateRows(
  pruned: readonly CtrPrunedRow[],
  dense: readonly CtrDenseRow[],
  dataset: string,
): Promise<CtrEstimateRow[]> {
  const dirs = [...new Set(pruned.map((r) => r.shapley).filter((d) => d !== null))];
  const rows: CtrEstimateRow[] = [];
  for (const dir of dirs) {
    const usedBy = pruned.filter((r) => r.shapley === dir).map((r) => r.name);
    rows.push(await estimateRow(dir, usedBy, dense, dataset));
  }
  return rows;
}

async function estimateRow(
  dir: string,
  usedBy: string[],
  dense: readonly CtrDenseRow[],
  dataset: string,
): Promise<CtrEstimateRow> {
  const unread = { dir, usedBy, fill: null, split: null, elements: null, samples: null };
  let e: ShapleyEstimate;
  try {
    e = await readShapleyEstimate(dir);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    return {
      ...unread,
      ...{ passes: null, seconds: null, converged: null, problem },
      command: '(the estimate cannot be read, so neither can its command)',
    };
  }
  // Estimates written before shapley.json kept its command: rebuilt from what they record.
  const of = dense.find((d) => d.version === e.source?.packageSha256);
  const recordedRun = e.source ? { split: e.source.split, seed: e.source.seed } : {};
  return {
    ...unread,
    fill: e.fill,
    split: e.source?.split ?? null,
    elements: e.values.length,
    samples: e.samples,
    passes: e.passes,
    seconds: e.seconds,
    converged: e.converged,
    problem: null,
    command:
      e.source?.command ??
      commandLine('shapley', [of?.package ?? '<dense package>'], {
        dataset,
        out: dir,
        fill: e.fill,
        ...recordedRun,
      }),
  };
}
