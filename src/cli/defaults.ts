/**
 * Every command's defaults, one object per command, in a module that loads no model code:
 * main.ts shows them in each command's --help, and `pocketrec --help` must start without
 * loading tfjs (about a second), which the command modules themselves import.
 */

import type { LogitDistillation } from '../compression/distill/logit-distillation.ts';
import type { QuantizeDtype } from '../compression/quantize/tensor-schemes.ts';
import { DEFAULT_SHAPLEY } from '../compression/shaver/defaults.ts';
import type { PruneMethod } from '../compression/shaver/prune.ts';
import { DEFAULT_MINIMAX_RATES } from '../compression/umec/minimax.ts';
import type { ScoreScale } from '../compression/umec/search.ts';
import type { PrunedLayout, PrunedValueDtype } from '../model/ctr/pruned-package.ts';
import { DEFAULT_CHUNK_ELEMENTS } from '../model/defaults.ts';
import {
  IMPORT_FORMATS,
  IMPORT_LAYOUTS,
  PMIXER_DEFAULTS,
  RECBOLE_DEFAULTS,
} from '../model/import/defaults.ts';
import { DEFAULT_TRAIN } from '../train/defaults.ts';
import type { ShapleySplit } from './shapley.ts';
import type { UmecMethod } from './umec.ts';
import type { UmecSequenceMethod } from './umec-sequence.ts';

/** `train --teacher`'s loss weights: the KL term's share and its temperature. */
export const DEFAULT_LOGIT_KD: LogitDistillation = { alpha: 0.5, temperature: 1 };

/** The shapley command's own defaults, beside the estimator's (shown by --help). */
export const SHAPLEY_CLI_DEFAULTS = {
  ...DEFAULT_SHAPLEY,
  split: 'train' as ShapleySplit,
  /** Seconds between saves of the running sums (and always at the end). */
  checkpointSeconds: 10,
};

/**
 * A sequence model's defaults: one pass (one permutation per user: ML-1M's 6,040 at d = 24
 * take about 25 minutes of one core, docs/training.md), 16 users a step (about 20,000
 * windows), on each user's last training step. Estimating on the validation cases would
 * choose the kept elements by the very items validation then scores, and the pick of a
 * package by validation NDCG would favour the pruned ones unfairly.
 */
export const SEQUENTIAL_SHAPLEY_DEFAULTS = {
  ...SHAPLEY_CLI_DEFAULTS,
  split: 'train' as ShapleySplit,
  maxPasses: 1,
  samplesPerStep: 16,
};

/** `prune`: Shaver with its codebook fill, single shot. */
export const DEFAULT_PRUNE = {
  method: 'shaver' satisfies PruneMethod,
  layout: 'auto' as PrunedLayout | 'auto',
  dtype: 'float32' as PrunedValueDtype,
  seed: 2025,
  /** progressive: the most elements a chunk holds (the steps in which a prefix grows). */
  chunkElements: DEFAULT_CHUNK_ELEMENTS,
  /** Epochs of fine-tuning with the mask frozen (0: none, the paper's single shot). */
  finetune: 0,
  /** A tenth of training's rate: the model only adapts to what it lost. */
  finetuneLr: 1e-4,
  finetunePatience: 1,
  finetuneBatch: 4096,
};

export const DEFAULT_QUANTIZE = {
  dtype: 'int8' as QuantizeDtype,
  /** Validation inputs whose outputs choose each tensor's scheme (users, sessions or rows). */
  probe: 512,
};

/**
 * `umec` on a CTR package: the public code's rates for the minimax (rc_optimizer.py), Adam at training's
 * final rate for the search and a tenth of it for fine-tuning. The public code takes about
 * a million steps on Criteo at batch 128; a few epochs of frappe are a few hundred, so runs
 * here pass a larger --s-lr (docs/results/frappe-umec.md says which).
 */
export const DEFAULT_UMEC = {
  method: 'umec' as UmecMethod,
  searchEpochs: 3,
  lr: 1e-4,
  batch: 4096,
  ...DEFAULT_MINIMAX_RATES,
  /** Group Lasso's λ in λ Σ_g √p_g ‖W_g‖₂ (its proximal step is η λ √p_g, --prox-lr's η). */
  groupLasso: 1e-4,
  /** UMEC: the group scores the s and dual steps read (search.ts ScoreScale). */
  scores: 'raw' as ScoreScale,
  finetune: 5,
  finetuneLr: 1e-4,
  finetunePatience: 1,
  seed: 2021,
};

/**
 * `umec` on a sequential package: the CTR path's (DEFAULT_UMEC: the public code's minimax rates,
 * Adam at 1e-4 for the search and fine-tuning) with the teacher trainer's batch.
 */
export const DEFAULT_UMEC_SEQUENCE = {
  method: 'umec' as UmecSequenceMethod,
  /** Fine-tuning's weight of the KL to the uncut model (compression/distill/logit-distillation.ts); 0: plain. */
  kdAlpha: 0,
  kdTemperature: 1,
  searchEpochs: 3,
  lr: 1e-4,
  batch: DEFAULT_TRAIN.batchSize,
  ...DEFAULT_MINIMAX_RATES,
  scores: 'raw' as ScoreScale,
  finetune: 5,
  finetuneLr: 1e-4,
  finetunePatience: 1,
  seed: 2021,
};

/**
 * `ranker`: retrieval's top 50 go to the ranker (the N); the fusion weight is the
 * best of this grid on validation NDCG@10 (0 is retrieval alone).
 */
export const DEFAULT_RANKER = {
  candidates: 50,
  k: 10,
  weights: [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4] as readonly number[],
};

/**
 * `import`: the one file format, the layouts, and what each layout assumes for a config key
 * its source's config does not state (the source's own defaults, src/model/import/defaults.ts).
 */
export const DEFAULT_IMPORT = {
  from: IMPORT_FORMATS[0],
  layouts: IMPORT_LAYOUTS,
  recbole: RECBOLE_DEFAULTS,
  pmixer: PMIXER_DEFAULTS,
};
