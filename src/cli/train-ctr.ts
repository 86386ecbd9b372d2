/**
 * `pocketrec train --model fm|deepfm|dcnv2|dlrm --dataset <ctr data set>`: trains a CTR model on
 * a data set's field rows and exports it as a `ctr-dense` package. A checkpoint beside the
 * output (`<out>.checkpoint`) after every epoch lets the same command resume.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { auc, logLoss } from '../eval/ctr-metrics.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { DLRM_INTERACTIONS, type DlrmInteraction } from '../model/ctr/dlrm.ts';
import { NORMS, type Norm } from '../model/ctr/layers.ts';
import { CTR_MODEL_KINDS, type CtrModelKind } from '../model/ctr/model.ts';
import { ctrPackageSpec } from '../model/ctr/package.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { writePackageDirectory } from '../package/node-fs.ts';
import { buildModelPackage } from '../package/writer.ts';
import {
  type CtrTrainConfig,
  DEFAULT_CTR_TRAIN,
  defaultMlpOf,
  trainCtr,
} from '../train/train-ctr.ts';
import { checkOutputFree, numberOption, trainingWorkers } from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { recordedOptions } from './prior.ts';
import type { TrainCliOptions } from './train.ts';
import { epochProgress, type ShownMetric, trainingHistory } from './training-hooks.ts';

export interface TrainCtrCliOptions extends TrainCliOptions {
  mlp?: string;
  norm?: string;
  crossLayers?: string;
  interaction?: string;
  embeddingL2?: string;
}

export function isCtrModelKind(value: string): value is CtrModelKind {
  return (CTR_MODEL_KINDS as readonly string[]).includes(value);
}

function mlpWidths(value: string): number[] {
  const widths = value.split(',').map((w) => Number(w.trim()));
  if (value.trim() === '' || widths.some((w) => !Number.isInteger(w) || w < 1 || w > 8192)) {
    throw new UsageError(`--mlp must list layer widths like 400,400,400, got "${value}"`);
  }
  return widths;
}

function norm(value: string): Norm {
  if (!(NORMS as readonly string[]).includes(value)) {
    throw new UsageError(`--norm must be one of ${NORMS.join(', ')}, got "${value}"`);
  }
  return value as Norm;
}

function interaction(value: string): DlrmInteraction {
  const found = DLRM_INTERACTIONS.find((i) => i === value);
  if (found === undefined) {
    throw new UsageError(
      `--interaction must be one of ${DLRM_INTERACTIONS.join(', ')}, got "${value}"`,
    );
  }
  return found;
}

export function ctrTrainConfigFrom(
  model: CtrModelKind,
  options: TrainCtrCliOptions,
): CtrTrainConfig {
  const d = DEFAULT_CTR_TRAIN;
  return {
    model,
    dim: numberOption(options.dim, 'dim', d.dim, { integer: true, min: 1, max: 1024 }),
    mlp: options.mlp === undefined ? defaultMlpOf(model) : mlpWidths(options.mlp),
    norm: norm(options.norm ?? d.norm),
    dropout: numberOption(options.dropout, 'dropout', d.dropout, { min: 0, max: 0.95 }),
    crossLayers: numberOption(options.crossLayers, 'cross-layers', d.crossLayers, {
      integer: true,
      min: 1,
      max: 16,
    }),
    interaction: interaction(options.interaction ?? d.interaction),
    embeddingL2: numberOption(options.embeddingL2, 'embedding-l2', d.embeddingL2, { min: 0 }),
    lr: numberOption(options.lr, 'lr', d.lr, { min: 1e-7, max: 1 }),
    batchSize: numberOption(options.batch, 'batch', d.batchSize, { integer: true, min: 1 }),
    epochs: numberOption(options.epochs, 'epochs', d.epochs, { integer: true, min: 1 }),
    patience: numberOption(options.patience, 'patience', d.patience, { integer: true, min: 1 }),
    lrDecay: numberOption(options.lrDecay, 'lr-decay', d.lrDecay, { min: 0.01, max: 1 }),
    seed: numberOption(options.seed, 'seed', d.seed, { integer: true, min: 0 }),
  };
}

/** The options of `train` that only the next-item models read. */
const SEQUENCE_ONLY = [
  'maxLen',
  'blocks',
  'heads',
  'positions',
  'readout',
  'loss',
  'negatives',
  'windows',
  'users',
  'initFrom',
  'itemTable',
  'jpqSplits',
  'jpqCentroids',
  'qrBuckets',
  'qrOperation',
  'teacher',
  'kdAlpha',
  'kdTemperature',
  'qat',
] as const;

/** What a CTR run validates by, as train and prune's fine-tuning show it. */
export const VALIDATION_AUC: ShownMetric = { name: 'AUC', digits: 5 };

export async function trainCtrCommand(
  model: CtrModelKind,
  options: TrainCtrCliOptions,
  output: Output,
): Promise<void> {
  checkOutputFree(options.out, options.force);
  for (const key of SEQUENCE_ONLY) {
    if (options[key] !== undefined) {
      throw new UsageError(
        `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for the next-item models, not ${model}`,
      );
    }
  }
  const config = ctrTrainConfigFrom(model, options);
  const workers = trainingWorkers(options.threads);
  const data = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  await useWasmBackend();
  const checkpointDir = `${options.out}.checkpoint`;
  const started = performance.now();
  const progress = epochProgress(`train ${model}`, VALIDATION_AUC, options, output);
  const { onBatch, onEpoch } = progress;
  const result = await trainCtr(data, config, { checkpointDir, workers, onBatch, onEpoch }).finally(
    progress.stop,
  );
  const validation = await ctrProbabilities(result.model, data.validation);
  const metrics = {
    'validation/AUC': auc(validation, data.validation.labels),
    'validation/LogLoss': logLoss(validation, data.validation.labels),
    epochs: result.state.epoch,
    bestEpoch: result.state.bestEpoch,
    trainSeconds: result.state.trainSeconds,
  };
  const built = await buildModelPackage(
    ctrPackageSpec(result.model, {
      name: options.out.split('/').filter(Boolean).pop() ?? model,
      dataset: options.dataset,
      metrics,
      notes: JSON.stringify({
        command: commandLine('train', [], recordedOptions(options)),
        config,
        rows: { train: data.train.numRows, validation: data.validation.numRows },
        history: trainingHistory(result.state),
      }),
    }),
  );
  await writePackageDirectory(options.out, built.files);
  await rm(checkpointDir, { recursive: true, force: true });
  tf.disposeVariables();
  const summary = {
    out: options.out,
    dataset: options.dataset,
    model,
    epochs: result.state.epoch,
    bestEpoch: result.state.bestEpoch,
    validationAuc: metrics['validation/AUC'],
    validationLogLoss: metrics['validation/LogLoss'],
    trainSeconds: result.state.trainSeconds,
    wallSeconds: (performance.now() - started) / 1000,
    resumed: result.resumed,
    size: built.manifest.size,
    history: result.state.history,
  };
  if (options.json) printJson(output, summary);
  else
    output.out(
      `wrote ${options.out}: ${formatBytes(built.manifest.size.bytes)}, best validation AUC ` +
        `${summary.validationAuc.toFixed(5)} at epoch ${summary.bestEpoch} of ${summary.epochs} ` +
        `(${summary.trainSeconds.toFixed(0)} s of training)`,
    );
}
