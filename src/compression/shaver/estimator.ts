/**
 * Shaver's Shapley-value estimator (Tran et al., WWW 2025, Algorithm 1): the players are
 * single elements (row, dimension) of a CTR model's embedding table, and the value of a
 * coalition is minus the expected BCE of the frozen model when every element outside it is
 * replaced by its field's codebook value (or 0).
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
 * Speed: all the m*d + 1 evaluations of a step's samples go through the model as one forward
 * pass of sum(m*d + 1) rows; `forward: 'per-removal'` runs one pass per removal position
 * instead (the public code's loop), kept so `npm run bench:shapley` can compare the two.
 */
import * as tf from '@tensorflow/tfjs';
import { ctrBatch, fieldLayout } from '../../model/ctr/field-embedding.ts';
import { weight } from '../../model/ctr/layers.ts';
import { binaryCrossEntropyPerRow } from '../../model/ctr/loss.ts';
import { type CtrModel, ctrForward } from '../../model/ctr/model.ts';
import type { CtrRows } from '../../model/ctr/schema.ts';
import { seededRandom } from '../../random.ts';
import type { FillMode, ShapleyEstimate } from './values.ts';

export type ForwardMode = 'batched' | 'per-removal';

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
}

/** The public code's rule (1% of the range after one full pass); 64 rows per step. */
export const DEFAULT_SHAPLEY: ShapleyConfig = {
  samplesPerStep: 64,
  maxPasses: 10,
  maxSamples: Number.POSITIVE_INFINITY,
  seed: 2020,
  fill: 'codebook',
  tolerance: 0.01,
  minPasses: 1,
  forward: 'batched',
};

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

/** What is fixed for one estimation: the model, its rows, the table and the fill values. */
export interface ShapleyInputs {
  model: CtrModel;
  /** The estimation rows (the training split by default). */
  rows: CtrRows;
  /** [numFields * dim]: each field's codebook vector (codebook.ts). */
  codebook: Float32Array;
}

interface Context {
  model: CtrModel;
  rows: CtrRows;
  dim: number;
  numSlots: number;
  table: Float32Array;
  /** [numSlots * dim]: what an absent element of each slot reads. */
  slotFill: Float32Array;
}

function context(inputs: ShapleyInputs, fill: FillMode): Context {
  const { model } = inputs;
  const table = weight(model.weights, 'embedding') as tf.Tensor2D;
  const dim = table.shape[1];
  const layout = fieldLayout(model.schema);
  if (inputs.codebook.length !== layout.numFields * dim) {
    throw new Error(`the codebook needs ${layout.numFields} x ${dim} values`);
  }
  const slotFill = new Float32Array(layout.numSlots * dim);
  if (fill === 'codebook') {
    layout.slotOffsets.forEach((first, f) => {
      const end = layout.slotOffsets[f + 1] ?? layout.numSlots;
      const vector = inputs.codebook.subarray(f * dim, (f + 1) * dim);
      for (let s = first; s < end; s++) slotFill.set(vector, s * dim);
    });
  }
  return {
    model,
    rows: inputs.rows,
    dim,
    numSlots: layout.numSlots,
    table: table.dataSync<'float32'>(),
    slotFill,
  };
}

/** One sample's removal order: the element and the slot-buffer positions of each step. */
interface SamplePlan {
  elements: Int32Array;
  /** Step t fills positions[starts[t]] .. positions[starts[t + 1] - 1] (slot * dim + k). */
  starts: Int32Array;
  positions: Int32Array;
}

/** A sample's players (its looked-up rows' elements) in a random removal order. */
function planSample(
  slotRows: Int32Array,
  shares: Float32Array,
  dim: number,
  random: () => number,
): SamplePlan {
  const slotsOfRow = new Map<number, number[]>();
  shares.forEach((share, s) => {
    if (share === 0) return;
    const row = slotRows[s] as number;
    const slots = slotsOfRow.get(row);
    if (slots) slots.push(s);
    else slotsOfRow.set(row, [s]);
  });
  const players = [...slotsOfRow.entries()].flatMap(([row, slots]) =>
    Array.from({ length: dim }, (_, k) => ({ element: row * dim + k, slots, k })),
  );
  for (let i = players.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [players[i], players[j]] = [
      players[j] as (typeof players)[0],
      players[i] as (typeof players)[0],
    ];
  }
  const starts = new Int32Array(players.length + 1);
  const positions: number[] = [];
  players.forEach((p, t) => {
    for (const s of p.slots) positions.push(s * dim + p.k);
    starts[t + 1] = positions.length;
  });
  return {
    elements: Int32Array.from(players, (p) => p.element),
    starts,
    positions: Int32Array.from(positions),
  };
}

/**
 * The slot vectors of every evaluation of every sample, [rows, numSlots, dim] flat: sample
 * i's evaluation t has its first t planned elements filled. Also each evaluation's batch
 * row, so the caller can tile the batch's ids, shares and labels alike.
 */
function evaluations(
  ctx: Context,
  plans: SamplePlan[],
  slotRows: Int32Array,
): { embedded: Float32Array; sampleOf: Int32Array; firstRow: Int32Array } {
  const width = ctx.numSlots * ctx.dim;
  const firstRow = new Int32Array(plans.length + 1);
  plans.forEach((p, i) => {
    firstRow[i + 1] = (firstRow[i] as number) + p.elements.length + 1;
  });
  const total = firstRow[plans.length] as number;
  const embedded = new Float32Array(total * width);
  const sampleOf = new Int32Array(total);
  plans.forEach((plan, i) => {
    let at = (firstRow[i] as number) * width;
    for (let s = 0; s < ctx.numSlots; s++) {
      const row = slotRows[i * ctx.numSlots + s] as number;
      embedded.set(ctx.table.subarray(row * ctx.dim, (row + 1) * ctx.dim), at + s * ctx.dim);
    }
    sampleOf.fill(i, firstRow[i] as number, firstRow[i + 1] as number);
    for (let t = 0; t < plan.elements.length; t++) {
      embedded.copyWithin(at + width, at, at + width);
      at += width;
      for (let j = plan.starts[t] as number; j < (plan.starts[t + 1] as number); j++) {
        const q = plan.positions[j] as number;
        embedded[at + q] = ctx.slotFill[q] as number;
      }
    }
  });
  return { embedded, sampleOf, firstRow };
}

/** The per-row BCE of some evaluations, in one forward pass of the frozen model. */
async function losses(
  ctx: Context,
  step: { slotRows: Int32Array; shares: Float32Array; labels: Float32Array },
  embedded: Float32Array,
  sampleOf: ArrayLike<number>,
): Promise<Float32Array> {
  const n = sampleOf.length;
  const S = ctx.numSlots;
  const rows = new Int32Array(n * S);
  const shares = new Float32Array(n * S);
  const labels = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const i = sampleOf[r] as number;
    rows.set(step.slotRows.subarray(i * S, (i + 1) * S), r * S);
    shares.set(step.shares.subarray(i * S, (i + 1) * S), r * S);
    labels[r] = step.labels[i] as number;
  }
  const batch = {
    rows: tf.tensor2d(rows, [n, S], 'int32'),
    poolWeights: tf.tensor2d(shares, [n, S], 'float32'),
    labels: tf.tensor1d(labels, 'float32'),
  };
  const slots = tf.tensor3d(embedded, [n, S, ctx.dim], 'float32');
  const loss = tf.tidy(() =>
    binaryCrossEntropyPerRow(
      ctrForward(ctx.model, batch, { training: false, embedded: slots }),
      batch.labels,
    ),
  );
  try {
    return (await loss.data()) as Float32Array;
  } finally {
    tf.dispose([loss, slots, batch.rows, batch.poolWeights, batch.labels]);
  }
}

/**
 * The same losses one removal position at a time: a forward pass over the samples that
 * still have an element left to remove. The slow path, kept for the benchmark.
 */
async function perRemovalLosses(
  ctx: Context,
  step: { slotRows: Int32Array; shares: Float32Array; labels: Float32Array },
  plans: SamplePlan[],
  built: { embedded: Float32Array; firstRow: Int32Array },
): Promise<Float32Array> {
  const width = ctx.numSlots * ctx.dim;
  const out = new Float32Array(built.embedded.length / width);
  const longest = Math.max(...plans.map((p) => p.elements.length));
  for (let t = 0; t <= longest; t++) {
    const samples = plans.flatMap((p, i) => (p.elements.length >= t ? [i] : []));
    const embedded = new Float32Array(samples.length * width);
    samples.forEach((i, j) => {
      const at = ((built.firstRow[i] as number) + t) * width;
      embedded.set(built.embedded.subarray(at, at + width), j * width);
    });
    const result = await losses(ctx, step, embedded, samples);
    samples.forEach((i, j) => {
      out[(built.firstRow[i] as number) + t] = result[j] as number;
    });
  }
  return out;
}

/** Credits one step's samples (row indices of the estimation rows) to `sums`. */
export async function creditSamples(
  inputs: ShapleyInputs,
  config: Pick<ShapleyConfig, 'fill' | 'forward'>,
  indices: ArrayLike<number>,
  random: () => number,
  sums: ShapleySums,
): Promise<void> {
  const ctx = contextOf(inputs, config.fill);
  const batch = ctrBatch(ctx.model.schema, ctx.rows, indices);
  const step = {
    slotRows: batch.rows.dataSync<'int32'>() as Int32Array,
    shares: batch.poolWeights.dataSync<'float32'>() as Float32Array,
    labels: batch.labels.dataSync<'float32'>() as Float32Array,
  };
  tf.dispose([batch.rows, batch.poolWeights, batch.labels]);
  const S = ctx.numSlots;
  const plans = Array.from({ length: indices.length }, (_, i) =>
    planSample(
      step.slotRows.subarray(i * S, (i + 1) * S),
      step.shares.subarray(i * S, (i + 1) * S),
      ctx.dim,
      random,
    ),
  );
  const built = evaluations(ctx, plans, step.slotRows);
  const loss =
    config.forward === 'batched'
      ? await losses(ctx, step, built.embedded, built.sampleOf)
      : await perRemovalLosses(ctx, step, plans, built);
  plans.forEach((plan, i) => {
    const first = built.firstRow[i] as number;
    plan.elements.forEach((g, t) => {
      const delta = (loss[first + t + 1] as number) - (loss[first + t] as number);
      sums.sum[g] = (sums.sum[g] as number) + delta;
      sums.sumSquares[g] = (sums.sumSquares[g] as number) + delta * delta;
      sums.counts[g] = (sums.counts[g] as number) + 1;
    });
  });
  sums.samples += indices.length;
}

/** The context is rebuilt only when the inputs or the fill change (the table is copied). */
const contexts = new WeakMap<ShapleyInputs, Map<FillMode, Context>>();

function contextOf(inputs: ShapleyInputs, fill: FillMode): Context {
  const byFill = contexts.get(inputs) ?? new Map<FillMode, Context>();
  contexts.set(inputs, byFill);
  const ctx = byFill.get(fill) ?? context(inputs, fill);
  byFill.set(fill, ctx);
  return ctx;
}

/** The estimation rows in pass `pass`'s order: a seeded shuffle of its own per pass. */
export function passOrder(numRows: number, seed: number, pass: number): Int32Array {
  const order = Int32Array.from({ length: numRows }, (_, i) => i);
  const random = seededRandom(mix(seed, pass, -1));
  for (let i = numRows - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/**
 * A step's permutations come from (seed, pass, offset) alone (offset -1 seeds the pass's
 * row order), so a resumed run draws what an uninterrupted one would have: the running sums
 * and the position are the whole state.
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

/**
 * Runs steps until the stopping rule or a limit, from `resume` when given (it is updated in
 * place), calling `onStep` after every step (awaited: a checkpoint is written there).
 */
export async function estimateShapley(
  inputs: ShapleyInputs,
  config: ShapleyConfig,
  options: {
    resume?: ShapleySums;
    onStep?: (progress: ShapleyProgress) => void | Promise<void>;
  } = {},
): Promise<ShapleyResult> {
  checkConfig(config, inputs.rows.numRows);
  const { dim } = contextOf(inputs, config.fill);
  const elements = fieldLayout(inputs.model.schema).totalRows * dim;
  const sums = options.resume ?? emptySums(elements);
  if (sums.sum.length !== elements || sums.nextOffset >= inputs.rows.numRows) {
    throw new Error('the running sums to resume are not of this table and these rows');
  }
  const N = inputs.rows.numRows;
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
    const random = seededRandom(mix(config.seed, sums.passes, sums.nextOffset));
    await creditSamples(inputs, config, indices, random, sums);
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
    await options.onStep?.(progressOf(sums, ratio, N, run, stop));
  }
  return {
    ...progressOf(sums, ratio, N, run, stop),
    stop,
    estimate: toEstimate(inputs, config, sums, stop),
  };
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
  inputs: ShapleyInputs,
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
    codebook: inputs.codebook,
    seconds: sums.seconds,
    dim: contextOf(inputs, config.fill).dim,
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
