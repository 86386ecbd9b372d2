/**
 * Trains a CTR model (FM, DeepFM, DCNv2) on encoded field rows: binary cross-entropy on
 * shuffled mini-batches with Adam, validation AUC after every epoch, early stopping and a
 * checkpoint per epoch through the shared training loop (loop.ts), so an interrupted run
 * resumes where it stopped.
 */
import * as tf from '@tensorflow/tfjs';
import { auc } from '../eval/ctr-metrics.ts';
import { DEFAULT_DCNV2 } from '../model/ctr/dcnv2.ts';
import { DEFAULT_DEEPFM } from '../model/ctr/deepfm.ts';
import { type CtrBatch, ctrBatch } from '../model/ctr/field-embedding.ts';
import { DEFAULT_FM } from '../model/ctr/fm.ts';
import {
  isMovingStatistic,
  movingStatisticsUpdater,
  type Norm,
  type Weights,
} from '../model/ctr/layers.ts';
import { binaryCrossEntropy } from '../model/ctr/loss.ts';
import { type CtrModel, type CtrModelKind, ctrForward, initCtrModel } from '../model/ctr/model.ts';
import type { CtrRows, CtrSchema } from '../model/ctr/schema.ts';
import { seededRandom } from '../random.ts';
import type { LoopState } from './checkpoint.ts';
import { type LoopResult, runTrainingLoop, type TrainingHooks } from './loop.ts';

export interface CtrTrainConfig {
  model: CtrModelKind;
  /** Embedding width of every field. */
  dim: number;
  /** Hidden widths of the MLP tower (DeepFM, DCNv2). */
  mlp: number[];
  norm: Norm;
  dropout: number;
  /** DCNv2's cross layers. */
  crossLayers: number;
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

/**
 * Defaults: the BARS Frappe_x1 DeepFM recipe where it applies (Adam at 1e-3, batch 4096,
 * MLP 400-400-400), the embedding width 16, and DeepFM's own dropout and norm.
 */
export const DEFAULT_CTR_TRAIN: CtrTrainConfig = {
  model: 'deepfm',
  dim: DEFAULT_DEEPFM.dim,
  mlp: DEFAULT_DEEPFM.mlp,
  norm: DEFAULT_DEEPFM.norm,
  dropout: DEFAULT_DEEPFM.dropout,
  crossLayers: DEFAULT_DCNV2.crossLayers,
  embeddingL2: 0,
  lr: 1e-3,
  batchSize: 4096,
  epochs: 30,
  patience: 2,
  lrDecay: 1,
  seed: 2020,
};

/** Rows scored at once when validating: bounded memory whatever the split's size. */
const SCORE_CHUNK = 8192;

export interface CtrSplits {
  schema: CtrSchema;
  train: CtrRows;
  validation: CtrRows;
}

/** The model's architecture config from the training config (the model kind picks its part). */
export function modelOf(config: CtrTrainConfig, schema: CtrSchema): CtrModel {
  const { dim, mlp, norm, dropout, crossLayers, seed } = config;
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
  }
}

/** Probabilities of every row, in chunks, in eval mode (no dropout, moving statistics). */
export async function scoreRows(model: CtrModel, rows: CtrRows): Promise<Float32Array> {
  const out = new Float32Array(rows.numRows);
  for (let start = 0; start < rows.numRows; start += SCORE_CHUNK) {
    const end = Math.min(rows.numRows, start + SCORE_CHUNK);
    const batch = ctrBatch(model.schema, rows, { start, end });
    const probabilities = tf.tidy(() => tf.sigmoid(ctrForward(model, batch, { training: false })));
    out.set(await probabilities.data(), start);
    tf.dispose([probabilities, batch.rows, batch.poolWeights, batch.labels]);
  }
  return out;
}

/** The batches of an epoch: row indices, shuffled by a seed of the epoch's own. */
function epochBatches(numRows: number, batchSize: number, seed: number): Int32Array[] {
  const order = Int32Array.from({ length: numRows }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = numRows - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
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
 * Trains from fresh weights. `hooks.validate` is not used: validation is the AUC of the
 * validation split, which this function computes itself (higher is better).
 */
export async function trainCtr(
  data: CtrSplits,
  config: CtrTrainConfig,
  hooks: Omit<TrainingHooks<CtrModel>, 'validate' | 'workers'>,
): Promise<CtrTrainResult> {
  const initial = modelOf(config, data.schema);
  const variables: Record<string, tf.Variable> = {};
  for (const [name, tensor] of Object.entries(initial.weights)) {
    variables[name] = tf.variable(tensor, !isMovingStatistic(name), `ctr/${name}`);
    tensor.dispose();
  }
  const weights: Weights = variables;
  const model: CtrModel = { ...initial, weights };
  const updateStatistics = movingStatisticsUpdater(weights);
  const embedding = variables.embedding;
  if (!embedding) throw new Error('a CTR model without an embedding table');
  const labels = data.validation.labels;

  const result = await runTrainingLoop<Int32Array>({
    variables,
    optimizer: tf.train.adam(config.lr),
    epochs: config.epochs,
    patience: config.patience,
    lrDecay: config.lrDecay,
    batches: (epoch) => epochBatches(data.train.numRows, config.batchSize, config.seed + epoch),
    loss: (indices, step) => {
      const batch = ctrBatch(data.schema, data.train, indices);
      try {
        return tf.tidy(() => {
          const logits = ctrForward(model, batch, {
            training: true,
            seed: config.seed * 100_003 + step,
            onBatchStatistics: updateStatistics,
          });
          const loss = binaryCrossEntropy(logits, batch.labels);
          if (config.embeddingL2 === 0) return loss;
          return loss.add(
            embedding
              .square()
              .sum()
              .mul(config.embeddingL2 / 2),
          );
        });
      } finally {
        disposeBatch(batch);
      }
    },
    validate: async () => auc(await scoreRows(model, data.validation), labels),
    ...(hooks.checkpointDir ? { checkpointDir: hooks.checkpointDir } : {}),
    config: { ...config },
    ...(hooks.onBatch ? { onBatch: hooks.onBatch } : {}),
    ...(hooks.onEpoch ? { onEpoch: hooks.onEpoch } : {}),
  });
  return { ...result, model };
}
