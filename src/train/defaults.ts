/**
 * The training defaults, kept apart from the training code (which loads tfjs) so that the
 * command line can show them in its help without loading tfjs. train-sasrec.ts and
 * train-ctr.ts re-export theirs.
 */
import type { CtrModelKind } from '../model/ctr/model.ts';
import { DEFAULT_DCNV2, DEFAULT_DEEPFM, DEFAULT_DLRM, DEFAULT_SASREC } from '../model/defaults.ts';
import type { JpqShape } from '../model/jpq-codes.ts';
import type { QrOperation } from '../model/qr-partition.ts';
import type { CtrTrainConfig } from './train-ctr.ts';
import type { TrainConfig } from './train-sasrec.ts';

export const DEFAULT_TRAIN: TrainConfig = {
  ...DEFAULT_SASREC,
  epochs: 200,
  // Small batches: on ML-1M, batch 32 reached validation NDCG@10 0.114 after two epochs
  // where batch 128 reached 0.069 (same lr; the step count, not the data, was short).
  batchSize: 32,
  lr: 1e-3,
  seed: 42,
  loss: 'sampled',
  negatives: 512,
  patience: 5,
  lrDecay: 0.5,
  windows: 'all',
};

/** The RecJPQ table `train --item-table jpq` trains unless told otherwise (TrainConfig.jpq). */
export const DEFAULT_JPQ: JpqShape = { splits: 8, centroids: 256 };

/**
 * The quotient-remainder table `train --item-table qr` trains unless told otherwise
 * (TrainConfig.qr): 'sqrt' is ⌈√(numItems + 1)⌉ remainder rows, the complementary partition
 * of fewest stored rows (qr-partition.ts), and the paper's best operation.
 */
export const DEFAULT_QR: { buckets: 'sqrt'; operation: QrOperation } = {
  buckets: 'sqrt',
  operation: 'mult',
};

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
  interaction: DEFAULT_DLRM.interaction,
  embeddingL2: 0,
  lr: 1e-3,
  batchSize: 4096,
  epochs: 30,
  patience: 2,
  lrDecay: 1,
  seed: 2020,
};

/**
 * The MLP widths a model kind trains with when none are asked for: DLRM's own top MLP
 * (DEFAULT_DLRM), every other kind DEFAULT_CTR_TRAIN's.
 */
export function defaultMlpOf(model: CtrModelKind): number[] {
  return model === 'dlrm' ? DEFAULT_DLRM.mlp : DEFAULT_CTR_TRAIN.mlp;
}
