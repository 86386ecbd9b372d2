/**
 * Shaver's Shapley-value estimator (Tran et al., WWW 2025, Algorithm 1): the players are
 * single elements (row, dimension) of a CTR model's embedding table, and the value of a
 * coalition is minus the expected BCE of the frozen model when every element outside it is
 * replaced by its field's codebook value (or 0). The same estimator runs on a sequence
 * model's item table (sequential-credits.ts: the loss is the next item's cross-entropy);
 * what differs between the two is a ShapleyGame, the loop below is shared.
 *
 * Only the m x d elements a sample looks up can change its loss, so per sample only they
 * are players: one random permutation of them is drawn, they are removed one at a time from
 * the full set, and each loss increase is credited to the removed element's global index
 * (row * dim + k). The m*d + 1 losses of a sample telescope, so a sample's credits sum to
 * loss(all absent) - loss(full) exactly (efficiency). Averaging over all samples seen, with
 * 0 for a sample that does not look an element up, makes the value an expectation over the
 * data, as the paper's is: an element of a rare feature gets a small value.
 *
 * Multi-valued fields (ML-1M genres): each looked-up row is a player set of its own, d
 * elements per present id, removed in the row's slot before pooling, which is what pruning
 * that element of the table does; padding slots weigh 0 and are not players. An id listed
 * twice in one row is one row, so its elements are removed from every slot holding it.
 *
 * Speed: each step's evaluations go through the model as one batched forward pass
 * (credits.ts), and with `threads` > 1 the step's samples are shared out among worker threads
 * (parallel.ts). Each sample's removal order is drawn from (seed, pass, position) alone, so
 * an estimate is the same whatever the threads, and a resumed run draws what an
 * uninterrupted one would have.
 */
import { fieldLayout } from '../../model/ctr/field-embedding.ts';
import { ctrModelData } from '../../model/ctr/model-data.ts';
import { shuffledRange } from '../../random.ts';
import {
  type Credits,
  contextOf,
  type ForwardMode,
  type ShapleyInputs,
  sampleCredits,
} from './credits.ts';
import { ShapleyWorkers, type StepPart, sequentialModelData, splitStep } from './parallel.ts';
import {
  releaseSequentialContexts,
  type SequentialShapleyInputs,
  sequentialContextOf,
  sequentialSampleCredits,
} from './sequential-credits.ts';
import type { FillMode, ShapleyEstimate } from './values.ts';

// In defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_SHAPLEY } from './defaults.ts';

export type { ForwardMode, SequentialShapleyInputs, ShapleyInputs };

/**
 * What the estimator needs of a model and its data: how many players and samples there are,
 * and what some samples credit. A CTR model (credits.ts) and a sequence model
 * (sequential-credits.ts) are two games; the estimation loop does not ask which.
 */
export interface ShapleyGame {
  /** Players: the table's elements, row * dim + k. */
  elements: number;
  dim: number;
  /** Estimation samples in one pass. */
  samples: number;
  /** The fill values an absent element reads, as the estimate stores them. */
  codebook: Float32Array;
  /** What the samples `indices` credit, sample i's removal order drawn from seeds[i] alone. */
  credits(indices: Int32Array, seeds: Uint32Array): Promise<Credits>;
  /** `count` worker threads that credit their parts of a step as `credits` does. */
  startWorkers(count: number): Promise<ShapleyWorkers>;
  /** Frees what crediting kept on the backend between steps, once the estimate is done. */
  release?(): void;
}

/** A CTR model's game: every element of its field embedding table. */
export function ctrShapleyGame(inputs: ShapleyInputs, config: ShapleyConfig): ShapleyGame {
  const { dim } = contextOf(inputs, config.fill);
  return {
    elements: fieldLayout(inputs.model.schema).totalRows * dim,
    dim,
    samples: inputs.rows.numRows,
    codebook: inputs.codebook,
    credits: (indices, seeds) => sampleCredits(inputs, config, indices, seeds),
    startWorkers: (count) =>
      ShapleyWorkers.start(count, {
        game: 'ctr',
        model: ctrModelData(inputs.model),
        rows: inputs.rows,
        codebook: inputs.codebook,
        step: config,
      }),
  };
}

/** A sequence model's game: every element of its dense item table, row 0 (padding) included. */
export function sequentialShapleyGame(
  inputs: SequentialShapleyInputs,
  config: ShapleyConfig,
): ShapleyGame {
  const { dim, numRows } = sequentialContextOf(inputs, config.fill);
  return {
    elements: numRows * dim,
    dim,
    samples: inputs.cases.inputs.length,
    codebook: inputs.codebook,
    credits: (indices, seeds) => sequentialSampleCredits(inputs, config, indices, seeds),
    release: () => releaseSequentialContexts(inputs),
    startWorkers: (count) =>
      ShapleyWorkers.start(count, {
        game: 'sequential',
        model: sequentialModelData(inputs.model),
        cases: inputs.cases,
        codebook: inputs.codebook,
        step: config,
      }),
  };
}

export interface ShapleyConfig {
  /** Estimation rows per step; each adds (its players + 1) rows to the step's forward pass. */
  samplesPerStep: number;
  /** Passes over the estimation rows at most, converged or not. */
  maxPasses: number;
  /** Samples at most over every resumed run (a bounded run, e.g. to measure speed). */
  maxSamples: number;
  seed: number;
  fill: FillMode;
  /** Stop once the largest standard error is below this share of the values' range... */
  tolerance: number;
  /** ...and at least this many full passes are done (the public code's min_epochs). */
  minPasses: number;
  forward: ForwardMode;
  /** Threads that share each step, the main one included. */
  threads: number;
}

/** Running sums of the credits: all a resumed estimation needs to continue. */
export interface ShapleySums {
  /** Σ and Σ² of each element's credits, and how many samples credited it. */
  sum: Float64Array;
  sumSquares: Float64Array;
  counts: Int32Array;
  samples: number;
  /** Full passes done, and where the current pass goes on in its shuffled row order. */
  passes: number;
  nextOffset: number;
  seconds: number;
}

export function emptySums(elements: number): ShapleySums {
  return {
    sum: new Float64Array(elements),
    sumSquares: new Float64Array(elements),
    counts: new Int32Array(elements),
    samples: 0,
    passes: 0,
    nextOffset: 0,
    seconds: 0,
  };
}

/** The means and their standard errors, and the stopping statistic max SE / range. */
export function summarise(sums: ShapleySums): {
  values: Float32Array;
  standardErrors: Float32Array;
  ratio: number;
} {
  const n = sums.samples;
  const values = new Float32Array(sums.sum.length);
  const standardErrors = new Float32Array(sums.sum.length);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let maxSe = 0;
  for (let g = 0; g < values.length; g++) {
    const mean = n > 0 ? (sums.sum[g] as number) / n : 0;
    const se =
      n > 1
        ? Math.sqrt(Math.max(0, (sums.sumSquares[g] as number) - n * mean * mean) / (n - 1) / n)
        : 0;
    values[g] = mean;
    standardErrors[g] = se;
    if (mean < lo) lo = mean;
    if (mean > hi) hi = mean;
    if (se > maxSe) maxSe = se;
  }
  const ratio = n < 2 ? Number.POSITIVE_INFINITY : maxSe / Math.max(hi - lo, 1e-12);
  return { values, standardErrors, ratio };
}

/** The estimation rows in pass `pass`'s order: a seeded shuffle of its own per pass. */
export function passOrder(numRows: number, seed: number, pass: number): Int32Array {
  return shuffledRange(numRows, mix(seed, pass, -1));
}

/**
 * A sample's permutation comes from (seed, pass, its position in the pass) alone (position
 * -1 seeds the pass's row order), so a resumed run draws what an uninterrupted one would
 * have, on any number of threads: the running sums and the position are the whole state.
 */
function mix(seed: number, pass: number, offset: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (pass + 0x632be5ab), 0xc2b2ae35);
  h = Math.imul(h ^ (offset + 0x27d4eb2f), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

export type StopReason = 'converged' | 'max-passes' | 'max-samples';

/** What the caller sees after every step (to draw progress and save the running sums). */
export interface ShapleyProgress {
  sums: ShapleySums;
  /** Largest standard error / range of the values (Infinity before two samples). */
  ratio: number;
  /** Rows in one pass. */
  rowsPerPass: number;
  /** Samples and seconds of this run alone (not of resumed earlier runs). */
  runSamples: number;
  runSeconds: number;
  stop: StopReason | null;
}

export interface ShapleyResult extends ShapleyProgress {
  estimate: ShapleyEstimate;
  stop: StopReason;
}

function stopReason(config: ShapleyConfig, sums: ShapleySums, ratio: number): StopReason | null {
  if (sums.passes >= config.minPasses && ratio < config.tolerance) return 'converged';
  if (sums.passes >= config.maxPasses) return 'max-passes';
  if (sums.samples >= config.maxSamples) return 'max-samples';
  return null;
}

export interface EstimateOptions {
  resume?: ShapleySums;
  onStep?: (progress: ShapleyProgress) => void | Promise<void>;
}

/** estimateGame of a CTR model's embedding table. */
export function estimateShapley(
  inputs: ShapleyInputs,
  config: ShapleyConfig,
  options: EstimateOptions = {},
): Promise<ShapleyResult> {
  return estimateGame(ctrShapleyGame(inputs, config), config, options);
}

/** estimateGame of a sequence model's dense item table. */
export function estimateSequentialShapley(
  inputs: SequentialShapleyInputs,
  config: ShapleyConfig,
  options: EstimateOptions = {},
): Promise<ShapleyResult> {
  return estimateGame(sequentialShapleyGame(inputs, config), config, options);
}

/**
 * Runs steps until the stopping rule or a limit, from `resume` when given (it is updated in
 * place), calling `onStep` after every step (awaited: a checkpoint is written there).
 */
export async function estimateGame(
  game: ShapleyGame,
  config: ShapleyConfig,
  options: EstimateOptions = {},
): Promise<ShapleyResult> {
  checkConfig(config, game.samples);
  const sums = options.resume ?? emptySums(game.elements);
  if (sums.sum.length !== game.elements || sums.nextOffset >= game.samples) {
    throw new Error('the running sums to resume are not of this table and these rows');
  }
  const workers = config.threads > 1 ? await game.startWorkers(config.threads - 1) : null;
  try {
    return await runSteps(game, config, sums, workers, options.onStep);
  } finally {
    game.release?.();
    await workers?.close();
  }
}

async function runSteps(
  game: ShapleyGame,
  config: ShapleyConfig,
  sums: ShapleySums,
  workers: ShapleyWorkers | null,
  onStep?: (progress: ShapleyProgress) => void | Promise<void>,
): Promise<ShapleyResult> {
  const N = game.samples;
  const run = { samples: 0, seconds: 0 };
  let order = passOrder(N, config.seed, sums.passes);
  let { ratio } = summarise(sums);
  let stop = stopReason(config, sums, ratio);
  while (stop === null) {
    const started = performance.now();
    const size = Math.min(
      config.samplesPerStep,
      N - sums.nextOffset,
      config.maxSamples - sums.samples,
    );
    const indices = order.subarray(sums.nextOffset, sums.nextOffset + size);
    const seeds = Uint32Array.from({ length: size }, (_, i) =>
      mix(config.seed, sums.passes, sums.nextOffset + i),
    );
    for (const credits of await stepCredits(game, workers, { indices, seeds })) {
      addCredits(sums, credits);
    }
    sums.nextOffset += size;
    if (sums.nextOffset === N) {
      sums.passes++;
      sums.nextOffset = 0;
      order = passOrder(N, config.seed, sums.passes);
    }
    ratio = summarise(sums).ratio;
    stop = stopReason(config, sums, ratio);
    const seconds = (performance.now() - started) / 1000;
    sums.seconds += seconds;
    run.samples += size;
    run.seconds += seconds;
    await onStep?.(progressOf(sums, ratio, N, run, stop));
  }
  return {
    ...progressOf(sums, ratio, N, run, stop),
    stop,
    estimate: toEstimate(game, config, sums, stop),
  };
}

/** A step's credits, part by part: the first part on this thread, the others on workers. */
async function stepCredits(
  game: ShapleyGame,
  workers: ShapleyWorkers | null,
  step: StepPart,
): Promise<Credits[]> {
  const [own, ...others] = splitStep(step, (workers?.size ?? 0) + 1);
  if (!own) return [];
  const remote = workers && others.length > 0 ? workers.credits(others) : Promise.resolve([]);
  // Awaited below; without this, a worker failing during the local part would be unhandled.
  remote.catch(() => {});
  const local = await game.credits(own.indices, own.seeds);
  return [local, ...(await remote)];
}

/** Adds some samples' credits to the running sums. */
export function addCredits(sums: ShapleySums, credits: Credits): void {
  const { elements, deltas } = credits;
  for (let j = 0; j < elements.length; j++) {
    const g = elements[j] as number;
    const delta = deltas[j] as number;
    sums.sum[g] = (sums.sum[g] as number) + delta;
    sums.sumSquares[g] = (sums.sumSquares[g] as number) + delta * delta;
    sums.counts[g] = (sums.counts[g] as number) + 1;
  }
  sums.samples += credits.samples;
}

function progressOf(
  sums: ShapleySums,
  ratio: number,
  rowsPerPass: number,
  run: { samples: number; seconds: number },
  stop: StopReason | null,
): ShapleyProgress {
  return { sums, ratio, rowsPerPass, runSamples: run.samples, runSeconds: run.seconds, stop };
}

function toEstimate(
  game: ShapleyGame,
  config: ShapleyConfig,
  sums: ShapleySums,
  stop: StopReason,
): ShapleyEstimate {
  const { values, standardErrors } = summarise(sums);
  return {
    values,
    standardErrors,
    counts: sums.counts,
    samples: sums.samples,
    passes: sums.passes,
    fill: config.fill,
    codebook: game.codebook,
    seconds: sums.seconds,
    dim: game.dim,
    converged: stop === 'converged',
  };
}

function checkConfig(config: ShapleyConfig, numRows: number): void {
  if (numRows < 1) throw new Error('Shapley estimation needs at least one row');
  if (!(Number.isInteger(config.samplesPerStep) && config.samplesPerStep >= 1)) {
    throw new Error(`samplesPerStep must be a positive integer, not ${config.samplesPerStep}`);
  }
  if (!(config.maxPasses >= 1 && config.maxSamples >= 1 && config.tolerance >= 0)) {
    throw new Error('maxPasses and maxSamples must be at least 1, tolerance at least 0');
  }
}
