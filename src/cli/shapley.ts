/**
 * `pocketrec shapley <ctr package> --dataset <ctr data set> --out <dir>`: Shaver's Shapley
 * value of every element of the package's embedding table (src/compression/shaver/), stored
 * in <dir> for pruning to any budget. The running sums are saved in <dir> as it goes, so the
 * same command run again continues where it stopped (or, once finished, only reports).
 * A sequential-dense package on its user or session data set gets the same for its item
 * table, on each user's last training step (or the validation cases), sequential-credits.ts.
 */

import * as tf from '@tensorflow/tfjs';
import { codebookFromRows, itemCodebook, itemFrequencies } from '../compression/shaver/codebook.ts';
import {
  readShapleyProgress,
  writeShapleyEstimate,
  writeShapleyProgress,
} from '../compression/shaver/estimate-store.ts';
import {
  type EstimateOptions,
  estimateSequentialShapley,
  estimateShapley,
  type ForwardMode,
  type ShapleyConfig,
  type ShapleyInputs,
  type ShapleyProgress,
  type ShapleyResult,
  type ShapleySums,
} from '../compression/shaver/estimator.ts';
import type { FillMode } from '../compression/shaver/values.ts';
import { getDataset } from '../data/datasets.ts';
import { UsageError } from '../errors.ts';
import { lastStepCases } from '../eval/splits.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { weight } from '../model/ctr/layers.ts';
import type { CtrRows } from '../model/ctr/schema.ts';
import { DENSE_TABLE } from '../model/item-table.ts';
import { sequentialFromPackage } from '../model/sequential-package.ts';
import { weightsSha256 } from '../package/digest.ts';
import type { Manifest } from '../package/manifest.ts';
import { directorySource } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { ctrPackageWithData } from './ctr-package-data.ts';
import { SEQUENTIAL_SHAPLEY_DEFAULTS, SHAPLEY_CLI_DEFAULTS } from './defaults.ts';
import { checkPackageFitsData, numberOption } from './options.ts';
import { commandLine, type Output, printJson, table } from './output.ts';
import { progressBar } from './progress.ts';
import { trainingData } from './training-data.ts';

export const SHAPLEY_SPLITS = ['train', 'validation', 'train+validation'] as const;
export type ShapleySplit = (typeof SHAPLEY_SPLITS)[number];

/** The estimation rows a sequence model's estimate may use (defaults.ts says why 'train'). */
export const SEQUENTIAL_SHAPLEY_SPLITS = ['train', 'validation'] as const;

export interface ShapleyCliOptions {
  dataset: string;
  out: string;
  split?: string;
  fill?: string;
  samplesPerStep?: string;
  maxPasses?: string;
  maxSamples?: string;
  seed?: string;
  tolerance?: string;
  forward?: string;
  checkpointSeconds?: string;
  threads?: string;
  /** Sequence models: estimate on the first n users' cases (quick runs). */
  users?: string;
  dataDir?: string;
  json?: boolean;
}

function choice<T extends string>(value: string, name: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

export function shapleyConfigFrom(
  options: ShapleyCliOptions,
  d: typeof SHAPLEY_CLI_DEFAULTS = SHAPLEY_CLI_DEFAULTS,
): ShapleyConfig {
  const int = { integer: true, min: 1 };
  return {
    samplesPerStep: numberOption(options.samplesPerStep, 'samples-per-step', d.samplesPerStep, int),
    maxPasses: numberOption(options.maxPasses, 'max-passes', d.maxPasses, int),
    maxSamples: numberOption(options.maxSamples, 'max-samples', d.maxSamples, int),
    seed: numberOption(options.seed, 'seed', d.seed, { integer: true, min: 0 }),
    fill: choice<FillMode>(options.fill ?? d.fill, 'fill', ['codebook', 'zero']),
    tolerance: numberOption(options.tolerance, 'tolerance', d.tolerance, { min: 0 }),
    minPasses: d.minPasses,
    forward: choice<ForwardMode>(options.forward ?? d.forward, 'forward', [
      'batched',
      'per-removal',
    ]),
    threads: numberOption(options.threads, 'threads', d.threads, {
      integer: true,
      min: 1,
      max: 64,
    }),
  };
}

/** Two splits' rows as one (the public code estimates on train and validation together). */
function concatRows(a: CtrRows, b: CtrRows): CtrRows {
  const join = <T extends Int32Array | Float32Array>(x: T, y: T): T => {
    const out = new (x.constructor as { new (n: number): T })(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return {
    numRows: a.numRows + b.numRows,
    ids: a.ids.map((ids, f) => join(ids, b.ids[f] as Int32Array)),
    labels: join(a.labels, b.labels),
  };
}

/** Progress saved by another estimation must not be continued as if it were this one's. */
function checkSameRun(out: string, saved: Record<string, string | number>, run: typeof saved) {
  const differs = Object.keys(run).find((key) => saved[key] !== run[key]);
  if (differs !== undefined) {
    throw new UsageError(
      `${out} holds the progress of another estimation (${differs} ${saved[differs]}, not ` +
        `${run[differs]}): give another --out, or delete ${out}/progress.bin to start over`,
    );
  }
}

/** The command's options checked, with the defaults of the model kind the data set implies. */
function shapleySettings(options: ShapleyCliOptions) {
  const sequential = getDataset(options.dataset).kind !== 'ctr';
  const defaults = sequential ? SEQUENTIAL_SHAPLEY_DEFAULTS : SHAPLEY_CLI_DEFAULTS;
  const config = shapleyConfigFrom(options, defaults);
  const split = choice(
    options.split ?? defaults.split,
    'split',
    sequential ? SEQUENTIAL_SHAPLEY_SPLITS : SHAPLEY_SPLITS,
  );
  if (!sequential && options.users !== undefined) {
    throw new UsageError('--users is for sequence models; a CTR estimate takes --max-samples');
  }
  if (sequential && config.forward !== 'batched') {
    throw new UsageError('a sequence model is estimated with --forward batched only');
  }
  const checkpointSeconds = numberOption(
    options.checkpointSeconds,
    'checkpoint-seconds',
    SHAPLEY_CLI_DEFAULTS.checkpointSeconds,
    { min: 0 },
  );
  return { sequential, config, split, checkpointSeconds };
}

export async function shapleyCommand(
  model: string,
  options: ShapleyCliOptions,
  output: Output,
): Promise<void> {
  const { sequential, config, split, checkpointSeconds } = shapleySettings(options);
  const loaded = sequential
    ? await loadSequentialInputs(model, options, split, config)
    : await loadInputs(model, options, split, config);
  const { run, weights } = loaded;
  const saved = await readShapleyProgress(options.out);
  if (saved) checkSameRun(options.out, saved.run, run);
  const result = await runEstimation(
    loaded.estimate,
    { out: options.out, run, checkpointSeconds, json: options.json === true },
    saved?.sums,
  );
  loaded.dispose();
  await writeShapleyEstimate(options.out, {
    ...result.estimate,
    source: {
      packageSha256: run.packageSha256,
      weightsSha256: weights,
      dataset: run.dataset,
      split,
      seed: run.seed,
      command: commandLine('shapley', [model], options, ['json', 'dataDir', 'checkpointSeconds']),
    },
  });
  report(output, options, {
    ...result,
    resumed: saved !== null,
    split,
    forward: config.forward,
    threads: config.threads,
  });
}

/** An estimation ready to run, what identifies it, and how to free its model. */
interface LoadedEstimation {
  estimate: (options: EstimateOptions) => Promise<ShapleyResult>;
  run: ReturnType<typeof runIdentity>;
  weights: string;
  dispose: () => void;
}

/** What must match for the same command to continue an estimation's saved progress. */
function runIdentity(
  manifest: Manifest,
  options: ShapleyCliOptions,
  config: ShapleyConfig,
  counts: { split: ShapleySplit; rows: number; elements: number },
) {
  return {
    packageSha256: manifest.manifestSha256,
    dataset: options.dataset,
    split: counts.split,
    fill: config.fill,
    seed: config.seed,
    rows: counts.rows,
    elements: counts.elements,
  };
}

/** A CTR model, its estimation rows and its codebook. */
async function loadInputs(
  model: string,
  options: ShapleyCliOptions,
  split: ShapleySplit,
  config: ShapleyConfig,
): Promise<LoadedEstimation> {
  const { pkg, ctr, data } = await ctrPackageWithData(model, options, ['ctr-dense']);
  const { manifest } = pkg;
  const rows =
    split === 'train'
      ? data.train
      : split === 'validation'
        ? data.validation
        : concatRows(data.train, data.validation);
  const embedding = weight(ctr.weights, 'embedding') as tf.Tensor2D;
  // The codebook always comes from the training split, whatever rows are estimated on.
  const table = embedding.dataSync<'float32'>();
  const codebook = codebookFromRows(ctr.schema, table, embedding.shape[1], data.train);
  const inputs: ShapleyInputs = { model: ctr, rows, codebook };
  return {
    estimate: (o) => estimateShapley(inputs, config, o),
    run: runIdentity(manifest, options, config, {
      split,
      rows: rows.numRows,
      elements: embedding.size,
    }),
    weights: await weightsSha256(manifest),
    dispose: () => tf.dispose(Object.values(ctr.weights)),
  };
}

/**
 * A sequence model, its estimation cases (each user's last training step, or the validation
 * cases) and its item table's codebook, weighted by how often the training sequences look
 * each item up.
 */
async function loadSequentialInputs(
  model: string,
  options: ShapleyCliOptions,
  split: ShapleySplit,
  config: ShapleyConfig,
): Promise<LoadedEstimation> {
  const data = await trainingData(options.dataset, options);
  const pkg = await readModelPackage(directorySource(model));
  const { manifest } = pkg;
  if (manifest.kind !== 'sequential-dense') {
    throw new UsageError(
      `${model} is a ${manifest.kind} package; the Shapley values of an item table need sequential-dense`,
    );
  }
  checkPackageFitsData(model, manifest, data.dataset, data.numItems);
  await useWasmBackend();
  const sequence = sequentialFromPackage(pkg);
  const table = sequence.items.weights[DENSE_TABLE] as tf.Tensor2D;
  const [numRows, dim] = table.shape;
  const codebook = itemCodebook(
    table.dataSync<'float32'>(),
    dim,
    itemFrequencies(data.train, numRows),
  );
  const cases = split === 'train' ? lastStepCases(data.train) : data.validation;
  const inputs = { model: sequence, cases, codebook };
  return {
    estimate: (o) => estimateSequentialShapley(inputs, config, o),
    run: runIdentity(manifest, options, config, {
      split,
      rows: cases.inputs.length,
      elements: table.size,
    }),
    weights: await weightsSha256(manifest),
    dispose: () =>
      tf.dispose([...Object.values(sequence.encoder), ...Object.values(sequence.items.weights)]),
  };
}

async function runEstimation(
  estimate: LoadedEstimation['estimate'],
  where: {
    out: string;
    run: Record<string, string | number>;
    checkpointSeconds: number;
    json: boolean;
  },
  resume: ShapleySums | undefined,
): Promise<ShapleyResult> {
  const bar = progressBar('shapley', {
    enabled: !where.json,
    format:
      'shapley [{bar}] pass {pass}: {value}/{total} rows | {samples} samples | ' +
      'max SE/range {ratio} | {rate} samples/s',
  });
  let lastSave = performance.now();
  const onStep = async (p: ShapleyProgress) => {
    bar.update(p.sums.nextOffset, p.rowsPerPass, {
      pass: p.sums.passes + 1,
      samples: p.sums.samples,
      ratio: Number.isFinite(p.ratio) ? p.ratio.toFixed(4) : '-',
      rate: (p.runSamples / Math.max(p.runSeconds, 1e-9)).toFixed(1),
    });
    if (p.stop !== null || performance.now() - lastSave >= where.checkpointSeconds * 1000) {
      await writeShapleyProgress(where.out, where.run, p.sums);
      lastSave = performance.now();
    }
  };
  try {
    return await estimate({ ...(resume ? { resume } : {}), onStep });
  } finally {
    bar.stop();
  }
}

function report(
  output: Output,
  options: ShapleyCliOptions,
  r: ShapleyResult & {
    resumed: boolean;
    split: ShapleySplit;
    forward: ForwardMode;
    threads: number;
  },
): void {
  const { sums, estimate } = r;
  // This run's speed; a run that had nothing left to do reports the stored total's.
  const rate =
    r.runSamples > 0 ? r.runSamples / r.runSeconds : sums.samples / Math.max(sums.seconds, 1e-9);
  const summary = {
    out: options.out,
    dataset: options.dataset,
    split: r.split,
    fill: estimate.fill,
    forward: r.forward,
    threads: r.threads,
    elements: estimate.values.length,
    samples: sums.samples,
    passes: sums.passes,
    converged: estimate.converged,
    stop: r.stop,
    maxStandardErrorOverRange: Number.isFinite(r.ratio) ? r.ratio : null,
    seconds: sums.seconds,
    resumed: r.resumed,
    runSamples: r.runSamples,
    runSeconds: r.runSeconds,
    samplesPerSecond: rate,
  };
  if (options.json) {
    printJson(output, summary);
    return;
  }
  const stopped = {
    converged: 'converged',
    'max-passes': 'stopped at --max-passes',
    'max-samples': 'stopped at --max-samples',
  }[r.stop];
  output.out(
    table([
      [
        'wrote',
        `${options.out} (${summary.elements.toLocaleString('en-US')} elements, fill ${summary.fill})`,
      ],
      ['data', `${options.dataset}, ${r.split} split`],
      ['samples', `${summary.samples.toLocaleString('en-US')} (${summary.passes} full passes)`],
      ['max SE / range', summary.maxStandardErrorOverRange?.toFixed(5) ?? '-'],
      ['status', stopped],
      ['time', `${summary.seconds.toFixed(1)} s in all${r.resumed ? ' (resumed)' : ''}`],
      ['throughput', `${rate.toFixed(1)} samples/s (${r.forward} forward, ${r.threads} threads)`],
    ]),
  );
}
