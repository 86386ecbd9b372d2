/**
 * Training a SASRec distilled from a frozen teacher by its logits: the loss is
 * (1 − α)·CE + α·τ²·KL(teacher ‖ student) over every item (kd-losses.ts
 * distilledCrossEntropy), so the student learns the teacher's whole ranking rather than only
 * the next item. Two uses: fine-tuning an encoder that UMEC (or magnitude) narrowed,
 * distilled from the model it was cut from, and `train --teacher`, a smaller dense (or
 * RecJPQ) SASRec trained from scratch against a larger one; only the logits meet, so their
 * widths may differ. A tensor-train teacher is scored through its materialised table. Same
 * windows, batches, checkpoints and data-parallel workers as plain training
 * (train-sasrec.ts), whose model and variables this task shares.
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
  sasrecRunArgs,
  sasrecTask,
  type TrainConfig,
  type TrainResult,
  trainModelTask,
} from '../../train/train-sasrec.ts';
import { type TeacherArrays, teacherArrays, teacherFromArrays } from './distill.ts';
import { distilledCrossEntropy } from './kd-losses.ts';

export interface LogitDistillation {
  /** Weight of the KL term; the cross-entropy gets 1 − alpha. */
  alpha: number;
  /** Softmax temperature of the KL term. */
  temperature: number;
}

export interface LogitDistillationArgs extends LogitDistillation {
  student: SasrecTaskArgs;
  teacher: TeacherArrays;
}

/**
 * The student's variables and its distilled batch loss; every data-parallel worker builds
 * the same (its start is irrelevant: it takes the main thread's weights before each step).
 */
export function logitDistillationTask(
  args: LogitDistillationArgs,
  start?: SequentialModel,
): TrainingTask<SequenceBatch> & { model: SequentialModel } {
  if (args.student.loss !== 'full') {
    throw new Error('logit distillation needs the full softmax: the KL is over every item');
  }
  const base = sasrecTask(args.student, start);
  const teacher = teacherFromArrays(args.teacher);
  const teacherTable = teacher.items.materialise();
  const { dim } = teacher.config;
  const loss = (batch: SequenceBatch, step: number): tf.Scalar => {
    const { ids, positions, rows, table, targets } = nextItemRows(
      base.forward(),
      batch,
      args.student.seed * 7919 + step,
    );
    // The teacher is frozen: its hidden states are constants of the student's loss.
    const teacherRows = tf.tidy(() => {
      const itemRows = tf.gather(teacherTable, ids) as tf.Tensor as tf.Tensor3D;
      const hidden = encode(teacher.config, teacher.encoder, ids, itemRows, { training: false });
      return tf.gather(hidden.reshape([batch.size * batch.length, dim]), positions) as tf.Tensor2D;
    });
    return distilledCrossEntropy(rows, table, targets, teacherRows, teacherTable, args);
  };
  return { model: base.model, variables: base.variables, loss };
}

/**
 * Trains a student on `train` with the distilled loss: `start` (a cut of the teacher being
 * fine-tuned) or, without one, a fresh model of `config`'s shape.
 */
export async function trainLogitDistilled(
  train: readonly Int32Array[],
  numItems: number,
  config: TrainConfig,
  hooks: TrainingHooks<SequentialModel>,
  teacher: SequentialModel,
  kd: LogitDistillation,
  start?: SequentialModel,
): Promise<TrainResult> {
  const args: LogitDistillationArgs = {
    student: await sasrecRunArgs(train, numItems, config, hooks.checkpointDir, start),
    teacher: teacherArrays(teacher),
    alpha: kd.alpha,
    temperature: kd.temperature,
  };
  return trainModelTask(
    logitDistillationTask(args, start),
    { module: import.meta.url, builder: 'logitDistillationTask', args },
    train,
    numItems,
    config,
    hooks,
  );
}
