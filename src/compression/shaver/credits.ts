/**
 * One step of Shaver's estimator (estimator.ts has the whole method): what each of some
 * samples credits to the embedding elements it looks up. Per sample, its m x d looked-up
 * elements are removed one at a time in a random order (absent elements read their slot's
 * fill value), and each loss increase is credited to the removed element.
 *
 * Speed: all the m*d + 1 evaluations of a step's samples go through the model as one forward
 * pass of sum(m*d + 1) rows; `forward: 'per-removal'` runs one pass per removal position
 * instead (the public code's loop), kept so `npm run bench:shapley` can compare the two.
 * Worker threads (parallel.ts) run this same function on their share of a step.
 */
import * as tf from '@tensorflow/tfjs';
import { ctrBatch, fieldLayout } from '../../model/ctr/field-embedding.ts';
import { weight } from '../../model/ctr/layers.ts';
import { binaryCrossEntropyPerRow } from '../../model/ctr/loss.ts';
import { type CtrModel, ctrForward } from '../../model/ctr/model.ts';
import type { CtrRows } from '../../model/ctr/schema.ts';
import { seededRandom } from '../../random.ts';
import type { FillMode } from './values.ts';

export type ForwardMode = 'batched' | 'per-removal';

/** How a step's losses are computed (the parts of ShapleyConfig that concern one step). */
export interface StepConfig {
  fill: FillMode;
  forward: ForwardMode;
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

/**
 * What some samples credit: for each sample in turn, each of its players' element and loss
 * change, in its removal order. Plain arrays, so a worker thread can send them back.
 */
export interface Credits {
  /** Samples credited. */
  samples: number;
  elements: Int32Array;
  deltas: Float64Array;
}

/**
 * The credits of the samples `indices` (row indices of the estimation rows); sample i's
 * removal order is drawn from `seeds[i]` alone, so however a step's samples are shared out
 * among threads, each gets the same permutation.
 */
export async function sampleCredits(
  inputs: ShapleyInputs,
  config: StepConfig,
  indices: ArrayLike<number>,
  seeds: ArrayLike<number>,
): Promise<Credits> {
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
      seededRandom(seeds[i] as number),
    ),
  );
  const built = evaluations(ctx, plans, step.slotRows);
  const loss =
    config.forward === 'batched'
      ? await losses(ctx, step, built.embedded, built.sampleOf)
      : await perRemovalLosses(ctx, step, plans, built);
  const total = plans.reduce((n, p) => n + p.elements.length, 0);
  const credits = {
    samples: indices.length,
    elements: new Int32Array(total),
    deltas: new Float64Array(total),
  };
  let at = 0;
  plans.forEach((plan, i) => {
    const first = built.firstRow[i] as number;
    plan.elements.forEach((g, t) => {
      credits.elements[at] = g;
      credits.deltas[at++] = (loss[first + t + 1] as number) - (loss[first + t] as number);
    });
  });
  return credits;
}

/** The context is rebuilt only when the inputs or the fill change (the table is copied). */
const contexts = new WeakMap<ShapleyInputs, Map<FillMode, Context>>();

export function contextOf(inputs: ShapleyInputs, fill: FillMode): Context {
  const byFill = contexts.get(inputs) ?? new Map<FillMode, Context>();
  contexts.set(inputs, byFill);
  const ctx = byFill.get(fill) ?? context(inputs, fill);
  byFill.set(fill, ctx);
  return ctx;
}
