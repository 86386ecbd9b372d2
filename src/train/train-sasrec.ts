/**
 * Trains the dense SASRec teacher on user sequences (leave-one-out: the last item is the
 * test target, the second-last the validation target, the rest is training data).
 * Every hyper-parameter is in one config object with the defaults used for ML-1M.
 */
import * as tf from '@tensorflow/tfjs';
import {
  DENSE_TABLE,
  denseItemTable,
  type ItemTable,
  JPQ_CODEBOOKS,
  JPQ_CODES,
  type JpqParts,
  jpqItemTable,
  mapTableWeights,
  QR_QUOTIENT,
  QR_REMAINDER,
  qrItemTable,
  ttCoreName,
  ttItemTable,
} from '../model/item-table.ts';
import { assignJpqCodes, type JpqCodes, type JpqShape } from '../model/jpq-codes.ts';
import { fakeQuantWeight, gridRows, type QatDtype } from '../model/ops/fake-quant.ts';
import { gatherRows } from '../model/ops/gather-rows.ts';
import { type QrShape, qrFactorStd, qrQuotientRows } from '../model/qr-partition.ts';
import { encode, initEncoderWeights, type SasrecConfig, variantOf } from '../model/sasrec.ts';
import type { SequentialModel } from '../model/sequential.ts';
import { jpqCodesSpec } from '../model/sequential-package.ts';
import { JPQ_CODES_DTYPE } from '../model/sequential-structure.ts';
import { initTtCores, type TtShape } from '../model/tt-matrix.ts';
import { INT_LEVELS } from '../package/dtypes.ts';
import type { TensorSpec } from '../package/writer.ts';
import { seededRandom } from '../random.ts';
import {
  type SequenceBatch,
  sequenceBatches,
  trainingWindows,
  type WindowPolicy,
} from './batches.ts';
import { loadFixedTensor } from './checkpoint.ts';
import { type GradientTask, type TrainingTask, withSequenceWorkers } from './data-parallel.ts';
import { itemCrossEntropy, sampledItemCrossEntropy } from './item-softmax.ts';
import { type LoopOptions, type LoopResult, runTrainingLoop, type TrainingHooks } from './loop.ts';

// In defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_JPQ, DEFAULT_QR, DEFAULT_TRAIN } from './defaults.ts';

/**
 * What a compression method adds to sequence training (UMEC on the encoder's blocks): given
 * the model's variables, its per-step update, its own checkpointed state, and which epoch to
 * keep; the sequence counterpart of train-ctr.ts CtrTrainingMethod.
 */
export type SequenceTrainingMethod = (
  variables: Record<string, tf.Variable>,
) => Pick<LoopOptions<SequenceBatch>, 'afterStep' | 'stateVariables' | 'keep'>;

export interface TrainConfig extends Omit<SasrecConfig, 'numItems'> {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** 'full': softmax over every item; 'sampled': against `negatives` shared uniform draws. */
  loss: 'full' | 'sampled';
  negatives: number;
  patience: number;
  /** Learning-rate factor after each epoch without a better validation score (1: constant). */
  lrDecay: number;
  /** 'latest': each user's latest maxLen + 1 items per epoch; 'all': every window of them. */
  windows: WindowPolicy;
  /**
   * A RecJPQ item table of this shape instead of a dense one: its codes drawn from the
   * training sequences before the first epoch (jpq-codes.ts), its codebooks trained with the
   * encoder. Absent: dense.
   */
  jpq?: JpqShape;
  /**
   * A quotient-remainder item table of this shape instead of a dense one (qr-partition.ts):
   * both factors trained with the encoder. Absent: dense.
   */
  qr?: QrShape;
  /**
   * Quantisation-aware training: the loss sees every weight matrix on the integer grid
   * `pocketrec quantize --dtype <qat>` stores it on (model/ops/fake-quant.ts). Absent: float32.
   */
  qat?: QatDtype;
}

export interface Variables {
  encoder: Record<string, tf.Variable>;
  items: Record<string, tf.Variable>;
}

export function asVariables(weights: Record<string, tf.Tensor>): Record<string, tf.Variable> {
  return Object.fromEntries(
    Object.entries(weights).map(([name, t]) => [
      name,
      tf.variable(t, true, `${name}#${Math.random()}`),
    ]),
  );
}

/** Uniform item draws without replacement from 1..numItems, for the sampled loss. */
export function drawNegatives(numItems: number, count: number, random: () => number): Int32Array {
  const n = Math.min(count, numItems);
  const chosen = new Set<number>();
  while (chosen.size < n) chosen.add(1 + Math.floor(random() * numItems));
  return Int32Array.from(chosen);
}

/**
 * What the next-item losses of one batch start from, for any sequential model: the batch
 * encoded, the hidden states at the positions that have a next item, the item table and
 * those next items.
 */
export interface NextItemRows {
  ids: tf.Tensor2D;
  positions: tf.Tensor1D;
  /** [positions, dim]. */
  rows: tf.Tensor2D;
  table: tf.Tensor2D;
  targets: tf.Tensor1D;
}

export function nextItemRows(
  model: SequentialModel,
  batch: SequenceBatch,
  seed: number,
): NextItemRows {
  const ids = tf.tensor2d(batch.ids, [batch.size, batch.length], 'int32');
  const positions = tf.tensor1d(batch.positions, 'int32');
  const table = model.items.materialise();
  const hidden = encode(model.config, model.encoder, ids, gatherRows(table, ids) as tf.Tensor3D, {
    training: true,
    seed,
  });
  const rows = gatherRows(
    hidden.reshape([batch.size * batch.length, model.config.dim]) as tf.Tensor2D,
    positions,
  ) as tf.Tensor2D;
  return { ids, positions, rows, table, targets: tf.tensor1d(batch.targets, 'int32') };
}

/** The next-item loss of one batch for any sequential model: its full or sampled softmax. */
export function nextItemLoss(
  model: SequentialModel,
  batch: SequenceBatch,
  options: { loss: 'full' | 'sampled'; negatives: number; seed: number },
): tf.Scalar {
  const { rows, table, targets } = nextItemRows(model, batch, options.seed);
  if (options.loss === 'full') return itemCrossEntropy(rows, table, targets);
  const negatives = drawNegatives(
    model.config.numItems,
    options.negatives,
    seededRandom(options.seed),
  );
  return sampledItemCrossEntropy(rows, table, batch.targets, negatives);
}

/** A sequential model's training task, and the model as its loss sees it (forward). */
export type SasrecTask = TrainingTask<SequenceBatch> & {
  model: SequentialModel;
  /** `model`, or its fake-quantised view under quantisation-aware training; call inside the tape. */
  forward: () => SequentialModel;
};

export interface SasrecTaskArgs {
  modelConfig: SasrecConfig;
  loss: 'full' | 'sampled';
  negatives: number;
  seed: number;
  /**
   * A tensor-train item table of this shape instead of a dense one (fine-tuning a
   * tensor-train student, e.g. after UMEC narrowed its encoder); absent: dense.
   */
  tt?: TtShape;
  /**
   * A RecJPQ item table over these codes instead of a dense one. The codes travel with the
   * arguments, so every data-parallel worker gathers the rows the main thread does.
   */
  jpq?: JpqCodes;
  /**
   * A quotient-remainder item table of this shape instead of a dense one; its partition is
   * arithmetic on the id, so the shape is all a worker needs to build the same table.
   */
  qr?: QrShape;
  /** TrainConfig.qat. */
  qat?: QatDtype;
}

/**
 * The teacher's variables and batch loss. Training builds it here, and so does every
 * data-parallel worker (data-parallel.ts), whose variables take the main thread's weights
 * before each step, so their start is irrelevant.
 */
export function sasrecTask(args: SasrecTaskArgs, start?: SequentialModel): SasrecTask {
  const { modelConfig, seed } = args;
  const encoder = asVariables(start ? start.encoder : initEncoderWeights(modelConfig, seed));
  const model: SequentialModel = {
    config: modelConfig,
    encoder,
    items: trainedItemTable(args, start),
  };
  const qat = args.qat;
  const forward = () => (qat ? fakeQuantizedModel(model, qat) : model);
  return {
    model,
    forward,
    variables: { ...encoder, ...(model.items.weights as Record<string, tf.Variable>) },
    loss: (batch, step) =>
      nextItemLoss(forward(), batch, {
        loss: args.loss,
        negatives: args.negatives,
        seed: seed * 7919 + step,
      }),
  };
}

/** The model with each of its weights, of the encoder and of the table, passed through `map`. */
function mapModelWeights(
  model: SequentialModel,
  map: (weight: tf.Tensor) => tf.Tensor,
): SequentialModel {
  return {
    ...model,
    encoder: Object.fromEntries(Object.entries(model.encoder).map(([name, w]) => [name, map(w)])),
    items: mapTableWeights(model.items, map),
  };
}

/**
 * The model the loss sees under quantisation-aware training: every weight matrix, of the
 * encoder and of the table, on the `dtype` grid, its gradient passed straight through.
 */
export function fakeQuantizedModel(model: SequentialModel, dtype: QatDtype): SequentialModel {
  return mapModelWeights(model, (w) => fakeQuantWeight(w, dtype));
}

/**
 * The model quantisation-aware training validates and writes: every weight matrix on the
 * `dtype` grid as plain values, what the loss saw. Validating the float weights instead
 * selected epochs by a model no package computes, and `pocketrec quantize` then measured its
 * schemes against those float outputs and could prefer a grid training never saw (a d = 48
 * ML-1M student trained for int4 rows was stored by columns, test NDCG@10 0.1427 → 0.1350).
 * `dispose` frees the new matrices only; the vectors are the model's own.
 */
export function onQatGrid(
  model: SequentialModel,
  dtype: QatDtype,
): { model: SequentialModel; dispose: () => void } {
  const created: tf.Tensor[] = [];
  const grid = (w: tf.Tensor) => {
    if (w.rank < 2) return w;
    const onGrid = gridRows(w, INT_LEVELS[dtype]);
    created.push(onGrid);
    return onGrid;
  };
  return { model: mapModelWeights(model, grid), dispose: () => tf.dispose(created) };
}

/**
 * The task's item table, its weights variables holding the start's or a fresh draw. A
 * worker's start is irrelevant (it takes the main thread's weights before each step).
 */
function trainedItemTable(args: SasrecTaskArgs, start?: SequentialModel): ItemTable {
  const { modelConfig, seed } = args;
  const numRows = modelConfig.numItems + 1;
  const variable = (t: tf.Tensor, name: string) => tf.variable(t, true, `${name}#${Math.random()}`);
  // The dense table's draw: rows of norm about 1.
  const std = 1 / Math.sqrt(modelConfig.dim);
  if (args.tt) {
    const shape = args.tt;
    const cores = (
      start?.items.tt ? start.items.tt.cores : initTtCores(shape, { seed: seed + 1000, std: 0.1 })
    ).map((c, k) => variable(c, ttCoreName(k)));
    return ttItemTable(cores, shape, numRows);
  }
  if (args.jpq) {
    const { splits, centroids, codes } = args.jpq;
    // Each row concatenates one codebook row per split, so codebooks drawn like the dense
    // table give rows of the dense table's norm.
    const codebooks = variable(
      start?.items.jpq
        ? start.items.jpq.codebooks
        : tf.randomNormal(
            [splits, centroids, modelConfig.dim / splits],
            0,
            std,
            'float32',
            seed + 1000,
          ),
      JPQ_CODEBOOKS,
    ) as tf.Tensor as tf.Tensor3D;
    const rows = tf.tensor2d(Int32Array.from(codes), [numRows, splits], 'int32');
    return jpqItemTable(codebooks, rows, numRows);
  }
  if (args.qr) {
    const { buckets, operation } = args.qr;
    const factorStd = qrFactorStd(modelConfig.dim, operation);
    const draw = (rows: number, offset: number) =>
      tf.randomNormal([rows, modelConfig.dim], 0, factorStd, 'float32', seed + offset);
    const quotient = variable(
      start?.items.qr ? start.items.qr.quotient : draw(qrQuotientRows(numRows, buckets), 1000),
      QR_QUOTIENT,
    );
    const remainder = variable(
      start?.items.qr ? start.items.qr.remainder : draw(buckets, 1001),
      QR_REMAINDER,
    );
    return qrItemTable(
      quotient as tf.Tensor as tf.Tensor2D,
      remainder as tf.Tensor as tf.Tensor2D,
      numRows,
      operation,
    );
  }
  const table = variable(
    start
      ? start.items.materialise()
      : tf.randomNormal([numRows, modelConfig.dim], 0, std, 'float32', seed + 1000),
    DENSE_TABLE,
  );
  return denseItemTable(table as tf.Tensor as tf.Tensor2D);
}

/** What the loop over a sequential model's windows reads of a trainer's config. */
interface LoopConfig extends Record<string, unknown> {
  lr: number;
  epochs: number;
  patience: number;
  lrDecay: number;
  batchSize: number;
  seed: number;
}

/**
 * The training loop over a sequential model's windows with Adam, spread over
 * `hooks.workers` worker threads that build `gradientTask` (the same task as `task`).
 * `config` is stored with the checkpoint as it is.
 */
export function trainSequenceTask(
  task: TrainingTask<SequenceBatch>,
  gradientTask: GradientTask,
  windows: { windows: Int32Array[]; maxLen: number },
  config: LoopConfig,
  validate: () => Promise<number>,
  hooks: TrainingHooks<SequentialModel>,
  /** A compression method's per-step update and state (absent: plain training). */
  method?: SequenceTrainingMethod,
  /** Tensors the model reads but does not train, saved with each checkpoint (LoopOptions.fixed). */
  fixed?: readonly TensorSpec[],
): Promise<LoopResult> {
  const extension = method?.(task.variables) ?? {};
  return withSequenceWorkers(hooks.workers, gradientTask, (parallel) =>
    runTrainingLoop<SequenceBatch>({
      variables: task.variables,
      optimizer: tf.train.adam(config.lr, 0.9, 0.98),
      epochs: config.epochs,
      patience: config.patience,
      lrDecay: config.lrDecay,
      config,
      checkpointDir: hooks.checkpointDir,
      batches: (epoch) =>
        sequenceBatches(windows.windows, {
          maxLen: windows.maxLen,
          batchSize: config.batchSize,
          random: seededRandom(config.seed * 1009 + epoch),
        }),
      loss: task.loss,
      validate,
      onBatch: hooks.onBatch,
      onEpoch: hooks.onEpoch,
      ...(parallel ? { parallel } : {}),
      ...(fixed ? { fixed } : {}),
      ...extension,
    }),
  );
}

export interface TrainResult extends LoopResult {
  model: SequentialModel;
}

/**
 * The model config and task arguments of training `config` on `numItems` items from `start`
 * (or a fresh draw): what trainSasrec runs, and what a trainer with its own loss over the
 * same model (UMEC's distilled fine-tuning) builds its task from.
 */
export function sasrecTaskArgs(
  numItems: number,
  config: TrainConfig,
  start?: SequentialModel,
  /** The codes of the RecJPQ table `config.jpq` asks for (runJpqCodes); a start has its own. */
  codes?: JpqCodes,
): SasrecTaskArgs {
  const modelConfig: SasrecConfig = {
    numItems,
    dim: config.dim,
    maxLen: config.maxLen,
    blocks: config.blocks,
    heads: config.heads,
    dropout: config.dropout,
    positions: config.positions,
    readout: config.readout,
    // A start model narrowed inside its blocks (UMEC) is fine-tuned at its own widths.
    ...(start?.config.inner ? { inner: start.config.inner } : {}),
    // An imported teacher (pocketrec import) keeps its own encoder: post-LN, GELU, its ε.
    ...(start ? variantOf(start.config) : {}),
  };
  tf.util.assert(
    config.dim % config.heads === 0,
    () => `--dim ${config.dim} is not divisible by --heads ${config.heads}`,
  );
  if (start) {
    const mismatch = (Object.keys(modelConfig) as (keyof SasrecConfig)[]).filter(
      (k) => start.config[k] !== modelConfig[k],
    );
    tf.util.assert(
      mismatch.length === 0,
      () => `the start model differs from the config in ${mismatch.join(', ')}`,
    );
    tf.util.assert(
      !config.jpq,
      () => 'a RecJPQ table is drawn for a run from scratch; a start model keeps its own table',
    );
    tf.util.assert(
      !config.qr,
      () =>
        'a quotient-remainder table is drawn for a run from scratch; a start model keeps its own table',
    );
  }
  const jpq = start?.items.jpq ? startCodes(start.items.jpq, numItems + 1) : codes;
  if (config.jpq) {
    const want = config.jpq;
    tf.util.assert(
      jpq?.splits === want.splits && jpq.centroids === want.centroids,
      () => `a RecJPQ table of ${want.splits} splits x ${want.centroids} centroids needs its codes`,
    );
  }
  const qr = start?.items.qr
    ? { buckets: start.items.qr.buckets, operation: start.items.qr.operation }
    : config.qr;
  return {
    modelConfig,
    loss: config.loss,
    negatives: config.negatives,
    seed: config.seed,
    ...(start?.items.tt ? { tt: start.items.tt.shape } : {}),
    ...(jpq ? { jpq } : {}),
    ...(qr ? { qr } : {}),
    ...(config.qat ? { qat: config.qat } : {}),
  };
}

/** A RecJPQ start model's codes, as the task's arguments carry them. */
function startCodes(parts: JpqParts, numRows: number): JpqCodes {
  const { splits, centroids } = parts;
  return { splits, centroids, numRows, codes: Uint8Array.from(parts.codes.dataSync()) };
}

/**
 * The codes of a RecJPQ run from scratch: the ones its checkpoint saved when it resumes
 * (drawn again, they would be the same only as far as floating point repeats itself across
 * machines and versions), else drawn from the training sequences.
 */
export async function runJpqCodes(
  train: readonly Int32Array[],
  numItems: number,
  shape: JpqShape,
  seed: number,
  checkpointDir?: string,
): Promise<JpqCodes> {
  const numRows = numItems + 1;
  const saved = checkpointDir ? await loadFixedTensor(checkpointDir, JPQ_CODES) : undefined;
  if (
    saved?.dtype === JPQ_CODES_DTYPE &&
    saved.shape.join() === `${numRows},${shape.splits}` &&
    saved.data.every((code) => code < shape.centroids)
  ) {
    return { ...shape, numRows, codes: Uint8Array.from(saved.data) };
  }
  // Codes of another shape are another run's, whose checkpoint the loop refuses.
  return assignJpqCodes(train, numItems, shape, { seed });
}

/**
 * The task arguments of a run: the start's, or a fresh model's, whose RecJPQ codes (if its
 * config asks for a RecJPQ table) are drawn before the first epoch from the training split.
 */
export async function sasrecRunArgs(
  train: readonly Int32Array[],
  numItems: number,
  config: TrainConfig,
  checkpointDir?: string,
  start?: SequentialModel,
): Promise<SasrecTaskArgs> {
  const codes =
    config.jpq && !start
      ? await runJpqCodes(train, numItems, config.jpq, config.seed, checkpointDir)
      : undefined;
  return sasrecTaskArgs(numItems, config, start, codes);
}

export async function trainSasrec(
  train: readonly Int32Array[],
  numItems: number,
  config: TrainConfig,
  hooks: TrainingHooks<SequentialModel>,
  /**
   * Weights to start from (fine-tuning a trained package) instead of a fresh draw; a
   * tensor-train, RecJPQ or quotient-remainder start trains its cores, codebooks or factors
   * in place of a dense table.
   */
  start?: SequentialModel,
  /** A compression method's steps after each optimiser step (UMEC); absent: none. */
  method?: SequenceTrainingMethod,
): Promise<TrainResult> {
  const args = await sasrecRunArgs(train, numItems, config, hooks.checkpointDir, start);
  return trainModelTask(
    sasrecTask(args, start),
    { module: import.meta.url, builder: 'sasrecTask', args },
    train,
    numItems,
    config,
    hooks,
    method,
  );
}

/**
 * Trains a sequential model's `task` (which `gradientTask` builds again in each worker) on
 * `train`'s windows as `config` says, validating the model the task trains.
 */
export async function trainModelTask(
  task: TrainingTask<SequenceBatch> & { model: SequentialModel },
  gradientTask: GradientTask,
  train: readonly Int32Array[],
  numItems: number,
  config: TrainConfig,
  hooks: TrainingHooks<SequentialModel>,
  method?: SequenceTrainingMethod,
): Promise<TrainResult> {
  const { jpq } = task.model.items;
  const result = await trainSequenceTask(
    task,
    gradientTask,
    { windows: trainingWindows(train, config.maxLen, config.windows), maxLen: config.maxLen },
    { ...config, numItems },
    () => hooks.validate(task.model),
    hooks,
    method,
    jpq ? [await jpqCodesSpec(jpq.codes)] : undefined,
  );
  return { ...result, model: task.model };
}
