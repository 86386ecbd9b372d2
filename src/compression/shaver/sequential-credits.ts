/**
 * One step of Shaver's estimator (estimator.ts has the method) on a sequence model: what each
 * of some samples credits to the elements (row, k) of a frozen SASRec's dense item table
 * `items.table` [numItems + 1, dim] (row 0 pads).
 *
 * A sample is a case (shapley.ts picks them: each user's last training step by default): the
 * latest maxLen items of a history (the window the encoder sees) and the next item. Its loss is that item's full-softmax cross-entropy as training's
 * full loss defines it (every item a candidate, padding row 0 not), the package's repeat bonus
 * added to the window's items as its scores have it. An absent element reads its fill value
 * (the codebook vector of codebook.ts itemCodebook, or 0) wherever its row is read.
 *
 * The sample's players are the elements of the rows it reads directly: its window's items
 * (the table feeds the encoder) and its target (the table is the output layer too, weights
 * tied). A player's row is replaced everywhere the sample reads it: at each window position
 * holding the item, in the target's logit and in the row's own term of the softmax's
 * denominator.
 *
 * Approximation: every other row enters the loss too, through the softmax's denominator, but
 * is held present, not made a player. Otherwise every sample would have all (numItems + 1) x
 * dim elements as players and as many forward passes; an element read only through the
 * denominator moves one logit of thousands. So an element's value counts the samples that
 * read its row directly, not what it does to the others' normalisation.
 *
 * Speed: a sample of R rows has R·dim + 1 evaluations (its removals telescope), and every
 * evaluation of a step goes through the encoder in batched forward passes of at most
 * `evaluationsPerPass(...)` windows; the denominators come from one product per pass with the
 * full table, the players' columns masked out and their current values appended.
 */
import * as tf from '@tensorflow/tfjs';
import type { EvalCases } from '../../eval/splits.ts';
import { DENSE_TABLE } from '../../model/item-table.ts';
import { encode } from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import { shuffledRange } from '../../random.ts';
import type { Credits, StepConfig } from './credits.ts';
import type { FillMode } from './values.ts';

/** What is fixed for one estimation: the model, its samples and the codebook. */
export interface SequentialShapleyInputs {
  /** A frozen model with a dense item table. */
  model: SequentialModel;
  /** The estimation samples: a history and the item after it. */
  cases: EvalCases;
  /** [dim]: the table's codebook vector (codebook.ts itemCodebook). */
  codebook: Float32Array;
}

/** A logit that takes no part in a log-sum-exp (exp underflows to 0 for any real logit). */
const EXCLUDED = -1e30;

/**
 * Cells (windows x positions x max(positions, dim)) of one forward pass: its largest
 * activations, the first block's attention scores, stay near 2^21 floats (8 MB) a head.
 */
const CELLS_PER_PASS = 1 << 21;

/** How many evaluations one forward pass takes for windows of `length` at width `dim`. */
export function evaluationsPerPass(length: number, dim: number): number {
  return Math.max(1, Math.floor(CELLS_PER_PASS / (length * Math.max(length, dim))));
}

interface Context {
  model: SequentialModel;
  cases: EvalCases;
  dim: number;
  numRows: number;
  table: Float32Array;
  /** [dim, numRows]: the table transposed once, for the logits' plain product. */
  tableT: tf.Tensor2D;
  /** [dim]: what an absent element reads. */
  fill: Float32Array;
}

function context(inputs: SequentialShapleyInputs, fill: FillMode): Context {
  const { model } = inputs;
  if (model.items.kind !== 'dense') {
    throw new Error(
      `Shapley values of a sequence model's table need a dense table, not ${model.items.kind}`,
    );
  }
  const tableTensor = model.items.weights[DENSE_TABLE] as tf.Tensor2D;
  const [numRows, dim] = tableTensor.shape;
  if (inputs.codebook.length !== dim) {
    throw new Error(`the codebook needs ${dim} values, got ${inputs.codebook.length}`);
  }
  return {
    model,
    cases: inputs.cases,
    dim,
    numRows,
    table: tableTensor.dataSync<'float32'>(),
    tableT: tableTensor.transpose(),
    fill: fill === 'codebook' ? inputs.codebook : new Float32Array(dim),
  };
}

/** One sample: the rows it reads, where, and its removal order. */
interface SamplePlan {
  /** The player rows: the window's distinct items in order of first appearance, then the target if new. */
  rows: Int32Array;
  /** The window, oldest first: each position's index into `rows`. */
  positions: Int32Array;
  /** The target's index into `rows`. */
  target: number;
  /** Whether each row is in the window (and so gets the repeat bonus). */
  inWindow: Uint8Array;
  /** Removal order: player p removes element p % dim of rows[floor(p / dim)]. */
  order: Int32Array;
}

function planSample(
  history: Int32Array,
  target: number,
  maxLen: number,
  dim: number,
  seed: number,
): SamplePlan {
  const window = history.subarray(Math.max(0, history.length - maxLen));
  if (window.length === 0) throw new Error('a Shapley sample needs at least one input item');
  const index = new Map<number, number>();
  const positions = Int32Array.from(window, (item) => {
    const known = index.get(item);
    if (known !== undefined) return known;
    index.set(item, index.size);
    return index.size - 1;
  });
  const windowRows = index.size;
  if (!index.has(target)) index.set(target, index.size);
  const rows = Int32Array.from(index.keys());
  const inWindow = Uint8Array.from(rows, (_, j) => (j < windowRows ? 1 : 0));
  return {
    rows,
    positions,
    target: index.get(target) as number,
    inWindow,
    order: shuffledRange(rows.length * dim, seed),
  };
}

/** The step's shapes: the longest window and the most player rows of its samples. */
interface StepShape {
  length: number;
  maxRows: number;
}

/**
 * Additive masks [samples, numRows] of the full table's logits: padding row 0 and each
 * sample's own player rows left out (their current values are appended instead).
 */
function denominatorMasks(plans: readonly SamplePlan[], numRows: number): Float32Array {
  const masks = new Float32Array(plans.length * numRows);
  plans.forEach((plan, i) => {
    masks[i * numRows] = EXCLUDED;
    for (const row of plan.rows) masks[i * numRows + row] = EXCLUDED;
  });
  return masks;
}

/** The inputs of one batched forward pass, filled evaluation by evaluation. */
class PassBuffers {
  readonly ids: Int32Array;
  readonly itemRows: Float32Array;
  readonly players: Float32Array;
  readonly playerBias: Float32Array;
  readonly targets: Int32Array;
  readonly samples: Int32Array;
  count = 0;

  constructor(
    readonly capacity: number,
    readonly shape: StepShape,
    readonly dim: number,
  ) {
    this.ids = new Int32Array(capacity * shape.length);
    this.itemRows = new Float32Array(capacity * shape.length * dim);
    this.players = new Float32Array(capacity * shape.maxRows * dim);
    this.playerBias = new Float32Array(capacity * shape.maxRows);
    this.targets = new Int32Array(capacity);
    this.samples = new Int32Array(capacity);
  }

  /** Adds sample i's evaluation with its player rows' current values `current` [rows, dim]. */
  add(i: number, plan: SamplePlan, current: Float32Array, bonus: number): void {
    const { length, maxRows } = this.shape;
    const d = this.dim;
    const c = this.count++;
    const pad = length - plan.positions.length;
    for (let p = 0; p < plan.positions.length; p++) {
      const j = plan.positions[p] as number;
      this.ids[c * length + pad + p] = plan.rows[j] as number;
      this.itemRows.set(current.subarray(j * d, (j + 1) * d), (c * length + pad + p) * d);
    }
    this.players.set(current, c * maxRows * d);
    for (let j = 0; j < maxRows; j++) {
      this.playerBias[c * maxRows + j] =
        j >= plan.rows.length ? EXCLUDED : plan.inWindow[j] ? bonus : 0;
    }
    this.targets[c] = plan.target;
    this.samples[c] = i;
  }

  clear(): void {
    this.ids.fill(0);
    this.itemRows.fill(0);
    this.players.fill(0);
    this.count = 0;
  }
}

/**
 * The full table's logits [n, numRows] with each evaluation's sample mask added. A pass holds
 * runs of one sample's evaluations, so each run gets its mask row by broadcasting: gathering
 * a mask row per evaluation would copy numRows floats for each, on WASM the dearest op of the pass.
 */
function maskedLogits(
  logits: tf.Tensor2D,
  masks: tf.Tensor2D,
  samples: Int32Array,
  n: number,
): tf.Tensor2D {
  const runs: { sample: number; size: number }[] = [];
  for (let c = 0; c < n; c++) {
    const last = runs[runs.length - 1];
    if (last && last.sample === samples[c]) last.size++;
    else runs.push({ sample: samples[c] as number, size: 1 });
  }
  const numRows = logits.shape[1];
  const parts = tf.split(
    logits,
    runs.map((r) => r.size),
    0,
  );
  const masked = runs.map((run, r) =>
    (parts[r] as tf.Tensor).add(masks.slice([run.sample, 0], [1, numRows])),
  );
  return (masked.length === 1 ? masked[0] : tf.concat(masked, 0)) as tf.Tensor2D;
}

/**
 * Below this a target probability has lost precision to float32's subnormals, and its loss
 * is taken by the log-sum-exp instead (about a loss of 69, far above any trained model's).
 */
const MIN_SOFTMAX_PROBABILITY = 1e-30;

/**
 * The losses of the evaluations in `buffers`, in one forward pass of the frozen model: -log of
 * each target's probability by the backend's fused softmax (on WASM a third of the time of
 * logSumExp's exponentials), taken in float64 so that the differences credited keep their
 * digits; a pass where some probability underflows is run again through logSumExp.
 */
async function passLosses(
  ctx: Context,
  buffers: PassBuffers,
  masks: tf.Tensor2D,
): Promise<Float64Array> {
  const probabilities = await passOutputs(ctx, buffers, masks, 'probability');
  if (probabilities.every((p) => p >= MIN_SOFTMAX_PROBABILITY)) {
    return Float64Array.from(probabilities, (p) => -Math.log(p));
  }
  return Float64Array.from(await passOutputs(ctx, buffers, masks, 'loss'));
}

/** Each evaluation's target probability, or its loss by logSumExp. */
async function passOutputs(
  ctx: Context,
  buffers: PassBuffers,
  masks: tf.Tensor2D,
  output: 'probability' | 'loss',
): Promise<Float32Array> {
  const n = buffers.count;
  const { length, maxRows } = buffers.shape;
  const d = ctx.dim;
  const result = tf.tidy(() => {
    const ids = tf.tensor2d(buffers.ids.subarray(0, n * length), [n, length], 'int32');
    const rows = tf.tensor3d(buffers.itemRows.subarray(0, n * length * d), [n, length, d]);
    const hidden = encode(ctx.model.config, ctx.model.encoder, ids, rows, {
      training: false,
      lastOnly: true,
      positionsByProduct: true,
    }).reshape([n, d]) as tf.Tensor2D;
    const others = maskedLogits(tf.matMul(hidden, ctx.tableT), masks, buffers.samples, n);
    const players = tf.tensor3d(buffers.players.subarray(0, n * maxRows * d), [n, maxRows, d]);
    const own = tf
      .matMul(players, hidden.reshape([n, d, 1]))
      .reshape([n, maxRows])
      .add(tf.tensor2d(buffers.playerBias.subarray(0, n * maxRows), [n, maxRows]));
    const logits = tf.concat([others, own], 1);
    // The target's column: its player row, after the table's numRows columns.
    const columns = ctx.numRows + maxRows;
    const flat = tf
      .range(0, n, 1, 'int32')
      .mul(tf.scalar(columns, 'int32'))
      .add(
        tf.tensor1d(buffers.targets.subarray(0, n), 'int32').add(tf.scalar(ctx.numRows, 'int32')),
      );
    if (output === 'probability') return tf.gather(tf.softmax(logits).reshape([-1]), flat);
    return tf.logSumExp(logits, 1).sub(tf.gather(logits.reshape([-1]), flat));
  });
  try {
    return (await result.data()) as Float32Array;
  } finally {
    result.dispose();
  }
}

/**
 * The losses of every evaluation of `plans`, sample after sample and in removal order:
 * sample i's evaluation t has the first t players of its order absent.
 */
async function stepLosses(ctx: Context, plans: readonly SamplePlan[]): Promise<Float64Array> {
  const d = ctx.dim;
  const shape: StepShape = {
    length: Math.max(...plans.map((p) => p.positions.length)),
    maxRows: Math.max(...plans.map((p) => p.rows.length)),
  };
  const total = plans.reduce((n, p) => n + p.order.length + 1, 0);
  const out = new Float64Array(total);
  const buffers = new PassBuffers(Math.min(total, evaluationsPerPass(shape.length, d)), shape, d);
  const masks = tf.tensor2d(denominatorMasks(plans, ctx.numRows), [plans.length, ctx.numRows]);
  const bonus = ctx.model.repeatBonus ?? 0;
  let written = 0;
  const flush = async () => {
    out.set(await passLosses(ctx, buffers, masks), written);
    written += buffers.count;
    buffers.clear();
  };
  try {
    for (const [i, plan] of plans.entries()) {
      const current = new Float32Array(plan.rows.length * d);
      plan.rows.forEach((row, j) => {
        current.set(ctx.table.subarray(row * d, (row + 1) * d), j * d);
      });
      for (let t = 0; t <= plan.order.length; t++) {
        if (t > 0) {
          const p = plan.order[t - 1] as number;
          current[p] = ctx.fill[p % d] as number;
        }
        buffers.add(i, plan, current, bonus);
        if (buffers.count === buffers.capacity) await flush();
      }
    }
    if (buffers.count > 0) await flush();
  } finally {
    masks.dispose();
  }
  return out;
}

/**
 * The credits of the samples `indices` (indices of the estimation cases); sample i's removal
 * order is drawn from `seeds[i]` alone, so however a step is shared out among threads, each
 * sample gets the same permutation.
 */
export async function sequentialSampleCredits(
  inputs: SequentialShapleyInputs,
  config: StepConfig,
  indices: ArrayLike<number>,
  seeds: ArrayLike<number>,
): Promise<Credits> {
  if (config.forward !== 'batched') {
    throw new Error('the sequence estimator batches every removal: forward "batched" only');
  }
  const ctx = sequentialContextOf(inputs, config.fill);
  const { maxLen } = ctx.model.config;
  const plans = Array.from({ length: indices.length }, (_, i) => {
    const c = indices[i] as number;
    const history = ctx.cases.inputs[c];
    if (!history) throw new Error(`no estimation case ${c}`);
    return planSample(history, ctx.cases.targets[c] as number, maxLen, ctx.dim, seeds[i] as number);
  });
  if (plans.length === 0)
    return { samples: 0, elements: new Int32Array(0), deltas: new Float64Array(0) };
  const loss = await stepLosses(ctx, plans);
  const total = plans.reduce((n, p) => n + p.order.length, 0);
  const credits = {
    samples: plans.length,
    elements: new Int32Array(total),
    deltas: new Float64Array(total),
  };
  let at = 0;
  let first = 0;
  for (const plan of plans) {
    plan.order.forEach((p, t) => {
      credits.elements[at] =
        (plan.rows[Math.floor(p / ctx.dim)] as number) * ctx.dim + (p % ctx.dim);
      credits.deltas[at++] = (loss[first + t + 1] as number) - (loss[first + t] as number);
    });
    first += plan.order.length + 1;
  }
  return credits;
}

/** The context is rebuilt only when the inputs or the fill change (the table is copied). */
const contexts = new WeakMap<SequentialShapleyInputs, Map<FillMode, Context>>();

/** Disposes the transposed tables the contexts of `inputs` hold, and forgets them. */
export function releaseSequentialContexts(inputs: SequentialShapleyInputs): void {
  for (const ctx of contexts.get(inputs)?.values() ?? []) ctx.tableT.dispose();
  contexts.delete(inputs);
}

export function sequentialContextOf(inputs: SequentialShapleyInputs, fill: FillMode): Context {
  const byFill = contexts.get(inputs) ?? new Map<FillMode, Context>();
  contexts.set(inputs, byFill);
  const ctx = byFill.get(fill) ?? context(inputs, fill);
  byFill.set(fill, ctx);
  return ctx;
}
