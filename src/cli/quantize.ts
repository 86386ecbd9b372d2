/**
 * `pocketrec quantize <package> --dtype int8|int4|float16 --out <dir>`: post-training
 * quantisation of a sequential or ctr-dense package. Every weight matrix is stored as int8
 * or int4 (one scale, per row or per output channel, whichever changes the outputs least on
 * validation inputs) or float16; vectors go to float16. The runtime
 * dequantises once at load, so the quantised package runs through the same model code.
 * Validation figures before and after go in the package and on the terminal.
 */
import * as tf from '@tensorflow/tfjs';
import {
  onTrainingGrid,
  type PackageOutputs,
  type QuantizedPackage,
  quantizePackage,
} from '../compression/quantize/quantize-package.ts';
import { QUANTIZE_DTYPES, type QuantizeDtype } from '../compression/quantize/tensor-schemes.ts';
import { loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { evaluate } from '../eval/evaluate.ts';
import { sequentialScorer } from '../eval/sequential-scorer.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { ctrFromPackage } from '../model/ctr/package.ts';
import type { CtrRows, CtrSchema } from '../model/ctr/schema.ts';
import { idsPerRow } from '../model/ctr/schema.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { scoreHistories } from '../model/sequential.ts';
import { sequentialFromPackage } from '../model/sequential-package.ts';
import { isSequentialKind } from '../model/sequential-structure.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { notesRecord } from '../package/notes.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import { repackageSpec } from '../package/repackage.ts';
import { buildModelPackage } from '../package/writer.ts';
import { ctrModelOn } from './ctr-package-data.ts';
import { DEFAULT_QUANTIZE } from './defaults.ts';
import { ctrMetrics } from './eval-ctr.ts';
import { checkOutputFree, checkPackageFitsData, numberOption } from './options.ts';
import { commandLine, kibText, type Output, printJson, table } from './output.ts';
import { progressBar } from './progress.ts';
import { trainingData } from './training-data.ts';

export interface QuantizeCliOptions {
  dataset?: string;
  dtype?: string;
  out: string;
  probe?: string;
  users?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
}

/** Histories scored per forward pass while probing: bounds [batch, items] score blocks. */
const PROBE_BATCH = 128;

/** What quantising needs of a model kind: its outputs on the probe, and its validation figures. */
interface QuantizeTarget {
  outputsOf: PackageOutputs;
  validate: (pkg: ModelPackage) => Promise<Record<string, number>>;
}

/** Runs `fn`, then frees every tensor it made but did not return: each probe builds a model. */
async function scoped<T>(fn: () => Promise<T>): Promise<T> {
  tf.engine().startScope();
  try {
    return await fn();
  } finally {
    tf.engine().endScope();
  }
}

async function sequentialTarget(
  model: string,
  pkg: ModelPackage,
  options: QuantizeCliOptions & { dataset: string },
  probe: number,
): Promise<QuantizeTarget> {
  const data = await trainingData(options.dataset, options);
  checkPackageFitsData(model, pkg.manifest, data.dataset, data.numItems);
  await useWasmBackend();
  const inputs = data.validation.inputs.slice(0, probe);
  return {
    outputsOf: (p) =>
      scoped(async () => {
        const built = sequentialFromPackage(p);
        const rows: Float32Array[] = [];
        for (let start = 0; start < inputs.length; start += PROBE_BATCH) {
          const batch = inputs.slice(start, start + PROBE_BATCH);
          rows.push(...(await scoreHistories(built, batch, { materialise: true })));
        }
        return concat(rows);
      }),
    validate: (p) =>
      scoped(async () => {
        const result = await evaluate(sequentialScorer(sequentialFromPackage(p)), data.validation, {
          protocol: 'full',
          maskHistory: data.maskHistory,
        });
        const m = result.metrics;
        return {
          'validation/NDCG@10': m['NDCG@10'] as number,
          'validation/HR@20': m['HR@20'] as number,
          'validation/MRR@20': m['MRR@20'] as number,
        };
      }),
  };
}

/** The first `n` rows of `rows`. */
function headRows(schema: CtrSchema, rows: CtrRows, n: number): CtrRows {
  const numRows = Math.min(n, rows.numRows);
  return {
    numRows,
    ids: rows.ids.map((ids, f) =>
      ids.subarray(0, numRows * idsPerRow(schema.fields[f] as CtrSchema['fields'][number])),
    ),
    labels: rows.labels.subarray(0, numRows),
  };
}

async function ctrTarget(
  model: string,
  pkg: ModelPackage,
  options: QuantizeCliOptions & { dataset: string },
  probe: number,
): Promise<QuantizeTarget> {
  const loaded = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  const { ctr, data } = await ctrModelOn(model, pkg, loaded);
  const probeRows = headRows(ctr.schema, data.validation, probe);
  return {
    outputsOf: (p) => scoped(() => ctrProbabilities(ctrFromPackage(p), probeRows)),
    validate: (p) =>
      scoped(async () => {
        const m = await ctrMetrics(ctrFromPackage(p), data.validation);
        return { 'validation/AUC': m.AUC, 'validation/LogLoss': m.LogLoss };
      }),
  };
}

function concat(rows: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rows) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/** The grid quantisation-aware training prepared the package for (notes config.qat), if any. */
function trainedGrid(notes: Record<string, unknown>): string | undefined {
  const config = notes.config;
  if (config === null || typeof config !== 'object') return undefined;
  const qat = (config as { qat?: unknown }).qat;
  return typeof qat === 'string' ? qat : undefined;
}

function dtypeOf(value: string | undefined): QuantizeDtype {
  const dtype = value ?? DEFAULT_QUANTIZE.dtype;
  if (!(QUANTIZE_DTYPES as readonly string[]).includes(dtype)) {
    throw new UsageError(`--dtype must be one of ${QUANTIZE_DTYPES.join(', ')}, got "${dtype}"`);
  }
  return dtype as QuantizeDtype;
}

async function readSource(model: string): Promise<ModelPackage> {
  const pkg = await readModelPackage(directorySource(model));
  const { kind } = pkg.manifest;
  if (kind === 'sequential-markov') {
    throw new UsageError(`${model} is a Markov model: it stores transition counts, not weights`);
  }
  if (kind === 'ctr-pruned') {
    throw new UsageError(
      `${model} is a ctr-pruned package: its kept values take their type from prune --dtype`,
    );
  }
  if (!isSequentialKind(kind) && kind !== 'ctr-dense') {
    throw new UsageError(`${model} is a ${kind} package, which quantize does not know`);
  }
  if (![...pkg.tensors.values()].some((t) => t.dtype === 'float32')) {
    throw new UsageError(`${model} holds no float32 weights to quantise`);
  }
  return pkg;
}

export async function quantizeCommand(
  model: string,
  options: QuantizeCliOptions,
  output: Output,
): Promise<void> {
  checkOutputFree(options.out, options.force);
  const dtype = dtypeOf(options.dtype);
  const probe = numberOption(options.probe, 'probe', DEFAULT_QUANTIZE.probe, {
    integer: true,
    min: 1,
  });
  const started = performance.now();
  const read = await readSource(model);
  const source = read.manifest;
  const sourceNotes = notesRecord(source.training.notes);
  const trainedFor = trainedGrid(sourceNotes);
  const pkg = dtype !== 'float16' && trainedFor === dtype ? onTrainingGrid(read, dtype) : read;
  const dataset = options.dataset ?? source.training.dataset;
  const target = isSequentialKind(source.kind)
    ? await sequentialTarget(model, pkg, { ...options, dataset }, probe)
    : await ctrTarget(model, pkg, { ...options, dataset }, probe);

  const bar = progressBar('quantize', { enabled: !options.json, unit: 'tensors' });
  const quantized = await quantizePackage(pkg, dtype, target.outputsOf, (done, total) =>
    bar.update(done, total),
  );
  bar.stop();
  const before = await target.validate(pkg);
  const after = await target.validate(quantized.pkg);
  const built = await buildModelPackage(
    repackageSpec(quantized.pkg, {
      name: options.out.split('/').filter(Boolean).pop() ?? 'quantized',
      metrics: { ...after, outputError: quantized.error },
      notes: JSON.stringify({
        command: commandLine('quantize', [model], { ...options, dtype, probe }),
        quantizedFrom: { package: model, version: source.manifestSha256 },
        // What a later fine-tuning or cut of this package repeats (umec's trainedLoss).
        ...(sourceNotes.config === undefined ? {} : { config: sourceNotes.config }),
        // And how it was taught, for the report's families (learntFromTeacher).
        ...(sourceNotes.distilledByLogits === undefined
          ? {}
          : { distilledByLogits: sourceNotes.distilledByLogits }),
        quantize: {
          dtype,
          probe,
          ...(trainedFor === dtype ? { fromTrainingGrid: true } : {}),
          outputError: quantized.error,
          sourceValidation: before,
          // Name to scheme only: the notes travel in every download (the errors are in --json).
          schemes: Object.fromEntries(quantized.choices.map((c) => [c.name, c.scheme])),
        },
      }),
    }),
  );
  await writePackageDirectory(options.out, built.files);
  const summary = {
    out: options.out,
    kind: built.manifest.kind,
    dtype,
    bytes: built.manifest.size.bytes,
    sourceBytes: source.size.bytes,
    outputError: quantized.error,
    validation: { source: before, quantized: after },
    tensors: quantized.choices,
    seconds: (performance.now() - started) / 1000,
  };
  if (options.json) {
    printJson(output, summary);
    return;
  }
  printSummary(output, summary, quantized);
}

function printSummary(
  output: Output,
  summary: {
    out: string;
    dtype: string;
    bytes: number;
    sourceBytes: number;
    validation: { source: Record<string, number>; quantized: Record<string, number> };
    seconds: number;
  },
  quantized: QuantizedPackage,
): void {
  output.out(
    `wrote ${summary.out}: ${summary.dtype}, weights ${kibText(summary.bytes)} against ${kibText(summary.sourceBytes)} (${(summary.sourceBytes / summary.bytes).toFixed(2)}x smaller), output error ${quantized.error.toExponential(2)}, ${summary.seconds.toFixed(1)} s`,
  );
  output.out(
    table(
      Object.entries(summary.validation.source).map(([k, v]) => [
        k,
        `${v.toFixed(4)} -> ${(summary.validation.quantized[k] as number).toFixed(4)}`,
      ]),
    ),
  );
  output.out(
    table(
      quantized.choices.map((c) => [
        c.name,
        `${c.scheme}, ${kibText(c.sourceBytes)} -> ${kibText(c.bytes)}${c.tried.length > 0 ? `, error ${c.error.toExponential(2)}` : ''}`,
      ]),
    ),
  );
}
