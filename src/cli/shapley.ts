/**
 * `pocketrec shapley <ctr package> --dataset <ctr data set> --out <dir>`: Shaver's Shapley
 * value of every element of the package's embedding table (src/compression/shaver/), stored
 * in <dir> for pruning to any budget. The running sums are saved in <dir> as it goes, so the
 * same command run again continues where it stopped (or, once finished, only reports).
 */

import * as tf from '@tensorflow/tfjs';
import { codebookFromRows } from '../compression/shaver/codebook.ts';
import {
  readShapleyProgress,
  writeShapleyEstimate,
  writeShapleyProgress,
} from '../compression/shaver/estimate-store.ts';
import {
  DEFAULT_SHAPLEY,
  estimateShapley,
  type ForwardMode,
  type ShapleyConfig,
  type ShapleyInputs,
  type ShapleyProgress,
  type ShapleyResult,
  type ShapleySums,
} from '../compression/shaver/estimator.ts';
import type { FillMode } from '../compression/shaver/values.ts';
import { UsageError } from '../errors.ts';
import { weight } from '../model/ctr/layers.ts';
import type { CtrRows } from '../model/ctr/schema.ts';
import { weightsSha256 } from '../package/digest.ts';
import { ctrPackageWithData } from './ctr-package-data.ts';
import { numberOption } from './options.ts';
import { commandLine, type Output, printJson, table } from './output.ts';
import { progressBar } from './progress.ts';

export const SHAPLEY_SPLITS = ['train', 'validation', 'train+validation'] as const;
export type ShapleySplit = (typeof SHAPLEY_SPLITS)[number];

/** The command's own defaults, beside the estimator's (shown by --help). */
export const SHAPLEY_CLI_DEFAULTS = {
  ...DEFAULT_SHAPLEY,
  split: 'train' as ShapleySplit,
  /** Seconds between saves of the running sums (and always at the end). */
  checkpointSeconds: 10,
};

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
  dataDir?: string;
  json?: boolean;
}

function choice<T extends string>(value: string, name: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

export function shapleyConfigFrom(options: ShapleyCliOptions): ShapleyConfig {
  const d = SHAPLEY_CLI_DEFAULTS;
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

export async function shapleyCommand(
  model: string,
  options: ShapleyCliOptions,
  output: Output,
): Promise<void> {
  const config = shapleyConfigFrom(options);
  const split = choice(options.split ?? SHAPLEY_CLI_DEFAULTS.split, 'split', SHAPLEY_SPLITS);
  const checkpointSeconds = numberOption(
    options.checkpointSeconds,
    'checkpoint-seconds',
    SHAPLEY_CLI_DEFAULTS.checkpointSeconds,
    { min: 0 },
  );
  const { inputs, run, weights } = await loadInputs(model, options, split, config);
  const saved = await readShapleyProgress(options.out);
  if (saved) checkSameRun(options.out, saved.run, run);
  const result = await runEstimation(
    inputs,
    config,
    { out: options.out, run, checkpointSeconds, json: options.json === true },
    saved?.sums,
  );
  tf.dispose(Object.values(inputs.model.weights));
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

/** The model, the estimation rows and the codebook, and what identifies this estimation. */
async function loadInputs(
  model: string,
  options: ShapleyCliOptions,
  split: ShapleySplit,
  config: ShapleyConfig,
) {
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
  const run = {
    packageSha256: manifest.manifestSha256,
    dataset: options.dataset,
    split,
    fill: config.fill,
    seed: config.seed,
    rows: rows.numRows,
    elements: embedding.size,
  };
  return {
    inputs: { model: ctr, rows, codebook } satisfies ShapleyInputs,
    run,
    weights: await weightsSha256(manifest),
  };
}

async function runEstimation(
  inputs: ShapleyInputs,
  config: ShapleyConfig,
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
    return await estimateShapley(inputs, config, { ...(resume ? { resume } : {}), onStep });
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
