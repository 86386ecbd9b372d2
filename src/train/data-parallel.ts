/**
 * Data-parallel training on worker threads. tfjs's WASM backend runs one thread in Node, so
 * a training process keeps one core busy however many the machine has. With workers, every
 * batch is split by rows: each worker thread takes the gradient of its part at the same
 * weights, the main thread takes its own part's, and the parts are combined into the whole
 * batch's gradient before the main thread alone takes the optimizer step. A batch's loss is
 * the mean over its targets, so weighting each part's mean by its number of targets gives
 * the whole batch's loss and gradient exactly, for every term that is a mean over targets
 * (dropout masks aside). Terms that compare the rows of a batch with each other, such as
 * the distillation's InfoNCE with in-batch negatives, see each part's rows only.
 *
 * A worker builds its loss from a GradientTask: a module, the name of a builder it exports,
 * and arguments that survive structured cloning. The main thread builds its own loss with
 * the same builder, so both compute one function.
 */
import * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../errors.ts';
import { type SequenceBatch, splitBatch } from './batches.ts';
import {
  siblingModule,
  startWorkerThreads,
  threadFailure,
  type WorkerThread,
} from './worker-thread.ts';

export interface GradientTask {
  /** URL of the module that exports the builder (its `import.meta.url`). */
  module: string;
  /** Name of an exported `(args) => TrainingTask<B> | Promise<TrainingTask<B>>`. */
  builder: string;
  args: unknown;
}

/** What a worker needs to take gradients: the variables by name, and the batch loss. */
export interface TrainingTask<B> {
  variables: Record<string, tf.Variable>;
  loss: (batch: B, step: number) => tf.Scalar;
}

export interface PartGradient {
  loss: number;
  /** By the variable's key in the task's `variables`; a variable the loss missed is absent. */
  grads: Record<string, Float32Array>;
}

type GradientReply = { type: 'gradient'; loss: number; grads: Record<string, Float32Array> };

const WORKER_MODULE = siblingModule(import.meta.url, 'gradient-worker');
const workerFailed = threadFailure('training worker');

export class GradientWorkers {
  private constructor(private readonly workers: WorkerThread<GradientReply>[]) {}

  /** Starts `count` worker threads, each building `task`; resolves once all are ready. */
  static async start(count: number, task: GradientTask): Promise<GradientWorkers> {
    return new GradientWorkers(
      await startWorkerThreads<GradientReply>(count, WORKER_MODULE, task, workerFailed),
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * The loss and gradient of each part at `weights`, one part per worker (at most `size`
   * parts). The messages are posted before this returns its promise, so the caller can
   * take its own part's gradient while the workers take theirs.
   */
  gradients(
    parts: readonly unknown[],
    step: number,
    weights: Record<string, Float32Array>,
  ): Promise<PartGradient[]> {
    if (parts.length > this.workers.length) {
      throw new PocketrecError(
        'invalid-argument',
        `${parts.length} batch parts for ${this.workers.length} training workers`,
      );
    }
    return Promise.all(
      parts.map(async (batch, k) => {
        const reply = await (this.workers[k] as WorkerThread<GradientReply>).request({
          batch,
          step,
          weights,
        });
        if (reply.type !== 'gradient') throw workerFailed(`unexpected reply "${reply.type}"`);
        return { loss: reply.loss, grads: reply.grads };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** What the training loop needs to spread a batch over the workers. */
export interface DataParallel<B> {
  workers: GradientWorkers;
  /** Splits a batch into at most `count` non-empty parts. */
  split: (batch: B, count: number) => B[];
  /** How many targets a part's mean loss is over. */
  weight: (batch: B) => number;
}

/**
 * One optimizer step on `batch` with its parts' gradients taken in parallel; returns the
 * batch's loss. `loss` is the main thread's own copy of the task's loss.
 */
export async function dataParallelStep<B>(
  parallel: DataParallel<B>,
  variables: Record<string, tf.Variable>,
  optimizer: tf.Optimizer,
  loss: (batch: B, step: number) => tf.Scalar,
  batch: B,
  step: number,
): Promise<number> {
  const parts = parallel.split(batch, parallel.workers.size + 1);
  const names = Object.keys(variables);
  const weights: Record<string, Float32Array> = {};
  for (const name of names) {
    weights[name] = (variables[name] as tf.Variable).dataSync() as Float32Array;
  }
  const remote = parallel.workers.gradients(parts.slice(1), step, weights);
  // Handled below; without this a worker failing during the local part would be unhandled.
  remote.catch(() => {});
  const local = tf.variableGrads(
    () => loss(parts[0] as B, step),
    names.map((n) => variables[n] as tf.Variable),
  );
  let others: PartGradient[];
  try {
    others = await remote;
  } catch (error) {
    tf.dispose([local.value, ...Object.values(local.grads)]);
    throw error;
  }
  const share = parts.map((p) => parallel.weight(p));
  const total = share.reduce((a, b) => a + b, 0);
  const grads: tf.NamedTensorMap = tf.tidy(() => {
    const out: tf.NamedTensorMap = {};
    for (const name of names) {
      const variable = variables[name] as tf.Variable;
      const terms: tf.Tensor[] = [];
      const own = local.grads[variable.name];
      if (own) terms.push(own.mul((share[0] as number) / total));
      others.forEach((part, k) => {
        const values = part.grads[name];
        if (values)
          terms.push(tf.tensor(values, variable.shape).mul((share[k + 1] as number) / total));
      });
      if (terms.length > 0) out[variable.name] = tf.addN(terms);
    }
    return out;
  });
  optimizer.applyGradients(grads);
  const value =
    ((local.value.dataSync()[0] as number) * (share[0] as number) +
      others.reduce((s, part, k) => s + part.loss * (share[k + 1] as number), 0)) /
    total;
  tf.dispose([local.value, ...Object.values(local.grads), ...Object.values(grads)]);
  return value;
}

/** Sequence batches spread over `workers`: split by rows, each part weighted by its targets. */
export function sequenceParallel(workers: GradientWorkers): DataParallel<SequenceBatch> {
  return { workers, split: splitBatch, weight: (b) => b.targets.length };
}

/**
 * Runs `train` with `workers` gradient workers building `task` (none when 0 or absent),
 * splitting sequence batches by rows, and closes them however training ends.
 */
export async function withSequenceWorkers<T>(
  workers: number | undefined,
  task: GradientTask,
  train: (parallel?: DataParallel<SequenceBatch>) => Promise<T>,
): Promise<T> {
  if (!workers) return train();
  const pool = await GradientWorkers.start(workers, task);
  try {
    return await train(sequenceParallel(pool));
  } finally {
    await pool.close();
  }
}
