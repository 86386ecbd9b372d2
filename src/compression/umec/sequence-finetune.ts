/**
 * Fine-tuning a SASRec encoder that UMEC (or magnitude) narrowed, distilled from the model it
 * was cut from: the loss is (1 − α)·CE + α·τ²·KL(uncut ‖ cut) over every item
 * (kd-losses.ts distilledCrossEntropy, the distillation's own term), so the narrower blocks
 * learn back the uncut model's whole ranking rather than only the next item. The uncut model
 * is frozen; a tensor-train one is scored through its materialised table, as the
 * distillation's teacher is. Same windows, batches, checkpoints and data-parallel workers as
 * plain fine-tuning (train-sasrec.ts), whose model and variables this task shares.
 */
import * as tf from '@tensorflow/tfjs';
import { encode } from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import type { SequenceBatch } from '../../train/batches.ts';
import type { TrainingTask } from '../../train/data-parallel.ts';
import type { TrainingHooks } from '../../train/loop.ts';
import {
  nextItemRows,
  type SasrecTaskArgs,
  sasrecTask,
  sasrecTaskArgs,
  type TrainConfig,
  type TrainResult,
  trainModelTask,
} from '../../train/train-sasrec.ts';
import { type TeacherArrays, teacherArrays, teacherFromArrays } from '../distill/distill.ts';
import { distilledCrossEntropy } from '../distill/kd-losses.ts';

export interface DistilledFinetune {
  /** Weight of the KL term; the cross-entropy gets 1 − alpha. */
  alpha: number;
  /** Softmax temperature of the KL term. */
  temperature: number;
}

export interface DistilledFinetuneArgs extends DistilledFinetune {
  student: SasrecTaskArgs;
  uncut: TeacherArrays;
}

/**
 * The cut model's variables and its distilled batch loss; every data-parallel worker builds
 * the same (its start is irrelevant: it takes the main thread's weights before each step).
 */
export function distilledFinetuneTask(
  args: DistilledFinetuneArgs,
  start?: SequentialModel,
): TrainingTask<SequenceBatch> & { model: SequentialModel } {
  if (args.student.loss !== 'full') {
    throw new Error('distilled fine-tuning needs the full softmax: the KL is over every item');
  }
  const base = sasrecTask(args.student, start);
  const uncut = teacherFromArrays(args.uncut);
  const uncutTable = uncut.items.materialise();
  const { dim } = uncut.config;
  const loss = (batch: SequenceBatch, step: number): tf.Scalar => {
    const { ids, positions, rows, table, targets } = nextItemRows(
      base.model,
      batch,
      args.student.seed * 7919 + step,
    );
    // The uncut model is frozen: its hidden states are constants of the cut one's loss.
    const uncutRows = tf.tidy(() => {
      const itemRows = tf.gather(uncutTable, ids) as tf.Tensor as tf.Tensor3D;
      const hidden = encode(uncut.config, uncut.encoder, ids, itemRows, { training: false });
      return tf.gather(hidden.reshape([batch.size * batch.length, dim]), positions) as tf.Tensor2D;
    });
    return distilledCrossEntropy(rows, table, targets, uncutRows, uncutTable, args);
  };
  return { model: base.model, variables: base.variables, loss };
}

/** Fine-tunes `start`, the cut of `uncut`, on `train` with the distilled loss. */
export async function distilledFinetune(
  train: readonly Int32Array[],
  numItems: number,
  config: TrainConfig,
  hooks: TrainingHooks<SequentialModel>,
  start: SequentialModel,
  uncut: SequentialModel,
  kd: DistilledFinetune,
): Promise<TrainResult> {
  const args: DistilledFinetuneArgs = {
    student: sasrecTaskArgs(numItems, config, start),
    uncut: teacherArrays(uncut),
    alpha: kd.alpha,
    temperature: kd.temperature,
  };
  return trainModelTask(
    distilledFinetuneTask(args, start),
    { module: import.meta.url, builder: 'distilledFinetuneTask', args },
    train,
    numItems,
    config,
    hooks,
  );
}
