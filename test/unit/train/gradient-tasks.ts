/**
 * Gradient-worker builders for data-parallel.test.ts: tasks that fail in the ways a real
 * worker can (an exception in the loss, a thread that exits).
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainingTask } from '../../../src/train/data-parallel.ts';

function task(loss: (w: tf.Variable) => tf.Scalar): TrainingTask<number> {
  const w = tf.variable(tf.scalar(1), true, `w#${Math.random()}`);
  return { variables: { w }, loss: () => loss(w) };
}

export function throwingLossTask(args: { message: string }): TrainingTask<number> {
  return task(() => {
    throw new Error(args.message);
  });
}

export function exitingLossTask(args: { code: number }): TrainingTask<number> {
  return task(() => process.exit(args.code));
}

export function failingBuilder(): TrainingTask<number> {
  throw new Error('this task cannot be built');
}
