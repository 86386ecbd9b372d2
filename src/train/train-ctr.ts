/**
 * Trains a CTR model (FM, DeepFM, DCNv2, DLRM) on encoded field rows: binary cross-entropy on
 * shuffled mini-batches with Adam, validation AUC after every epoch, early stopping and a
 * checkpoint per epoch through the shared training loop (loop.ts), so an interrupted run
 * resumes where it stopped.
 */
import * as tf from '@tensorflow/tfjs';
import { auc } from '../eval/ctr-metrics.ts';
import { DEFAULT_DCNV2 } from '../model/ctr/dcnv2.ts';
import { DEFAULT_DLRM, type DlrmInteraction } from '../model/ctr/dlrm.ts';
import { type CtrBatch, ctrBatch } from '../model/ctr/field-embedding.ts';
import { DEFAULT_FM } from '../model/ctr/fm.ts';
import {
  isMovingStatistic,
  movingStatisticsUpdater,
  type Norm,
  type Weights,
} from '../model/ctr/layers.ts';
import { binaryCrossEntropy } from '../model/ctr/loss.ts';
import {
  type CtrModel,
  type CtrModelKind,
  ctrForward,
  initCtrModel,
  withEmbedding,
} from '../model/ctr/model.ts';
import { tensorsOf, type WeightValues } from '../model/ctr/model-data.ts';
import type { CtrRows, CtrSchema } from '../model/ctr/schema.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { shuffledRange } from '../random.ts';
import type { LoopState } from './checkpoint.ts';
import { type DataParallel, GradientWorkers, type TrainingTask } from './data-parallel.ts';
import { DEFAULT_CTR_TRAIN } from './defaults.ts';
import { type LoopOptions, type LoopResult, runTrainingLoop, type TrainingHooks } from './loop.ts';

// In defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_CTR_TRAIN, defaultMlpOf } from './defaults.ts';

export interface CtrTrainConfig {
  model: CtrModelKind;
  /** Embedding width of every field. */
  dim: number;
  /** Hidden widths of the MLP tower (DeepFM, DCNv2; DLRM's top MLP). */
  mlp: number[];
  norm: Norm;
  dropout: number;
  /** DCNv2's cross layers. */
  crossLayers: number;
  /** DLRM's interaction op. */
  interaction: DlrmInteraction;
  /**
   * λ of an L2 penalty λ/2 · ||E||² on the whole embedding table, added to every batch's
   * loss: FuxiCTR's embedding_regularizer, which the BARS recipes tune (0.05 on frappe).
   */
  embeddingL2: number;
  lr: number;
  batchSize: number;
  epochs: number;
  patience: number;
  lrDecay: number;
  seed: number;
}

export interface CtrSplits {
  schema: CtrSchema;
  train: CtrRows;
  validation: CtrRows;
}

/** The model's architecture config from the training config (the model kind picks its part). */
export function modelOf(config: CtrTrainConfig, schema: CtrSchema): CtrModel {
  const { dim, mlp, norm, dropout, crossLayers, interaction, seed } = config;
  switch (config.model) {
    case 'fm':
      return initCtrModel({ kind: 'fm', config: { ...DEFAULT_FM, dim } }, schema, seed);
    case 'deepfm':
      return initCtrModel({ kind: 'deepfm', config: { dim, mlp, norm, dropout } }, schema, seed);
    case 'dcnv2':
      return initCtrModel(
        { kind: 'dcnv2', config: { ...DEFAULT_DCNV2, dim, mlp, norm, dropout, crossLayers } },
        schema,
        seed,
      );
    case 'dlrm':
      return initCtrModel(
        { kind: 'dlrm', config: { ...DEFAULT_DLRM, dim, mlp, norm, dropout, interaction } },
        schema,
        seed,
      );
  }
}

/** The settings of a run that do not shape the model. */
export type CtrRunSettings = Pick<
  CtrTrainConfig,
  'embeddingL2' | 'lr' | 'batchSize' | 'epochs' | 'patience' | 'lrDecay' | 'seed'
>;

/** A training config that rebuilds `model`'s architecture (to fine-tune it) with `run`'s settings. */
export function configOfModel(model: CtrModel, run: CtrRunSettings): CtrTrainConfig {
  const base = { ...DEFAULT_CTR_TRAIN, ...run, model: model.kind, dim: model.config.dim };
  switch (model.kind) {
    case 'fm':
      return base;
    case 'deepfm': {
      const { mlp, norm, dropout } = model.config;
      return { ...base, mlp, norm, dropout };
    }
    case 'dcnv2': {
      const { mlp, norm, dropout, crossLayers } = model.config;
      return { ...base, mlp, norm, dropout, crossLayers };
    }
    case 'dlrm': {
      const { mlp, norm, dropout, interaction } = model.config;
      return { ...base, mlp, norm, dropout, interaction };
    }
  }
}

/**
 * The settings a checkpoint records and a resumed run must match: all of them, less DLRM's
 * interaction for other kinds, which read none (checkpoints made before DLRM lack it).
 */
function checkpointConfig(config: CtrTrainConfig): Record<string, unknown> {
  const { interaction, ...rest } = config;
  return config.model === 'dlrm' ? { ...rest, interaction } : rest;
}

/** The batches of an epoch: row indices, shuffled by a seed of the epoch's own. */
function epochBatches(numRows: number, batchSize: number, seed: number): Int32Array[] {
  const order = shuffledRange(numRows, seed);
  const batches: Int32Array[] = [];
  for (let start = 0; start < numRows; start += batchSize) {
    batches.push(order.subarray(start, Math.min(numRows, start + batchSize)));
  }
  return batches;
}

function disposeBatch(batch: CtrBatch): void {
  tf.dispose([batch.rows, batch.poolWeights, batch.labels]);
}

export interface CtrTrainResult extends LoopResult {
  model: CtrModel;
  state: LoopState;
}

/**
 * Where a fine-tuning run starts: a trained model's weights, and optionally a pruning it
 * keeps. With `frozen`, the table is read as E·mask + fill (fill 0 where kept), so pruned
 * elements stay at their fill value and get no gradient, and the penalty sees only E·mask.
 */
export interface CtrStart {
  weights: WeightValues;
  frozen?: { mask: Uint8Array; fill: Float32Array };
}

/** What a data-parallel worker needs to rebuild the task: all of it structured-cloneable. */
export interface CtrTaskArgs {
  schema: CtrSchema;
  train: CtrRows;
  config: CtrTrainConfig;
  start?: CtrStart;
}

/** Fresh weights of the config's model, or `start`'s, which must have the same names and shapes. */
function startingModel(config: CtrTrainConfig, schema: CtrSchema, start?: CtrStart): CtrModel {
  const fresh = modelOf(config, schema);
  if (!start) return fresh;
  for (const [name, tensor] of Object.entries(fresh.weights)) {
    const given = start.weights[name];
    if (!given || given.shape.join(',') !== tensor.shape.join(',')) {
      throw new Error(`the starting weights have no "${name}" of shape [${tensor.shape}]`);
    }
  }
  tf.dispose(Object.values(fresh.weights));
  return { ...fresh, weights: tensorsOf(start.weights) };
}

/**
 * The model's variables and batch loss (a batch is row indices into `train`). Training
 * builds it here and so does every data-parallel worker, whose variables take the main
 * thread's weights before each step. Batch norm's moving statistics are variables too (not
 * trainable), so they are checkpointed and shipped to workers; each thread updates its own
 * copy from its part of the batch, and the main thread's are the ones kept.
 */
export function ctrTask(args: CtrTaskArgs): TrainingTask<Int32Array> & {
  model: CtrModel;
  /** The model as it scores: with a frozen pruning, reading the masked and filled table. */
  scoringModel: () => { model: CtrModel; dispose: () => void };
} {
  const { schema, train, config } = args;
  const initial = startingModel(config, schema, args.start);
  const variables: Record<string, tf.Variable> = {};
  for (const [name, tensor] of Object.entries(initial.weights)) {
    variables[name] = tf.variable(tensor, !isMovingStatistic(name));
    tensor.dispose();
  }
  const weights: Weights = variables;
  const model: CtrModel = { ...initial, weights };
  const updateStatistics = movingStatisticsUpdater(weights);
  const embedding = variables.embedding;
  if (!embedding) throw new Error('a CTR model without an embedding table');
  const frozen = args.start?.frozen;
  const mask = frozen && tf.tensor(frozen.mask, embedding.shape, 'float32');
  const fill = frozen && tf.tensor(frozen.fill, embedding.shape, 'float32');
  // Called inside a tidy: the masked table is a temporary of the step that reads it.
  const kept = (): tf.Tensor => (mask ? embedding.mul(mask) : embedding);
  const modelOfStep = (): CtrModel =>
    fill ? withEmbedding(model, kept().add<tf.Tensor2D>(fill)) : model;
  const loss = (indices: Int32Array, step: number): tf.Scalar => {
    const batch = ctrBatch(schema, train, indices);
    try {
      return tf.tidy(() => {
        const logits = ctrForward(modelOfStep(), batch, {
          training: true,
          seed: config.seed * 100_003 + step,
          onBatchStatistics: updateStatistics,
        });
        const bce = binaryCrossEntropy(logits, batch.labels);
        if (config.embeddingL2 === 0) return bce;
        // A whole-table term: every part of a split batch adds it, and the parts' weights sum to 1.
        return bce.add(
          kept()
            .square()
            .sum()
            .mul(config.embeddingL2 / 2),
        );
      });
    } finally {
      disposeBatch(batch);
    }
  };
  const scoringModel = () => {
    if (!fill) return { model, dispose: () => {} };
    const table = tf.tidy(() => kept().add<tf.Tensor2D>(fill));
    return { model: withEmbedding(model, table), dispose: () => table.dispose() };
  };
  return { model, variables, loss, scoringModel };
}

/** Index batches spread over `workers`: split by rows, each part weighted by its rows. */
function rowParallel(workers: GradientWorkers): DataParallel<Int32Array> {
  return {
    workers,
    split: (batch, count) => {
      const size = Math.ceil(batch.length / count);
      const parts: Int32Array[] = [];
      for (let start = 0; start < batch.length; start += size) {
        parts.push(batch.subarray(start, Math.min(batch.length, start + size)));
      }
      return parts;
    },
    weight: (batch) => batch.length,
  };
}

/**
 * What a compression method adds to training (UMEC, Group Lasso): given the model's
 * variables, its per-step update, its own checkpointed state, and which epoch to keep.
 */
export type CtrTrainingMethod = (
  variables: Record<string, tf.Variable>,
) => Pick<LoopOptions<Int32Array>, 'afterStep' | 'stateVariables' | 'keep'>;

/**
 * Trains from fresh weights, or from `start`'s, on `hooks.workers` worker threads besides
 * the main one, with a compression `method`'s steps where given. Validation is the AUC of
 * the validation split (higher is better).
 */
export async function trainCtr(
  data: CtrSplits,
  config: CtrTrainConfig,
  hooks: Omit<TrainingHooks<CtrModel>, 'validate'>,
  start?: CtrStart,
  method?: CtrTrainingMethod,
): Promise<CtrTrainResult> {
  const args: CtrTaskArgs = {
    schema: data.schema,
    train: data.train,
    config,
    ...(start ? { start } : {}),
  };
  const task = ctrTask(args);
  const extension = method?.(task.variables) ?? {};
  const labels = data.validation.labels;
  const train = (parallel?: DataParallel<Int32Array>) =>
    runTrainingLoop<Int32Array>({
      variables: task.variables,
      optimizer: tf.train.adam(config.lr),
      epochs: config.epochs,
      patience: config.patience,
      lrDecay: config.lrDecay,
      batches: (epoch) => epochBatches(data.train.numRows, config.batchSize, config.seed + epoch),
      loss: task.loss,
      validate: async () => {
        const scoring = task.scoringModel();
        try {
          return auc(await ctrProbabilities(scoring.model, data.validation), labels);
        } finally {
          scoring.dispose();
        }
      },
      ...(hooks.checkpointDir ? { checkpointDir: hooks.checkpointDir } : {}),
      config: checkpointConfig(config),
      ...(hooks.onBatch ? { onBatch: hooks.onBatch } : {}),
      ...(hooks.onEpoch ? { onEpoch: hooks.onEpoch } : {}),
      ...(parallel ? { parallel } : {}),
      ...extension,
    });
  if (!hooks.workers) return { ...(await train()), model: task.model };
  const pool = await GradientWorkers.start(hooks.workers, {
    module: import.meta.url,
    builder: 'ctrTask',
    args,
  });
  try {
    return { ...(await train(rowParallel(pool))), model: task.model };
  } finally {
    await pool.close();
  }
}
