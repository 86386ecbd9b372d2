/**
 * Self-supervised knowledge distillation of a tensor-train student from a frozen SASRec
 * teacher (Xia et al., SIGIR 2022):
 *
 *   loss = (1 - α)·CE(student) + α·KL(teacher ‖ student)·τ²
 *        + β·InfoNCE(view A, view B) + γ·(CE(view A → next) + CE(view B → next))
 *
 * The views recombine a session's item embeddings: view A takes the student's vectors for
 * hot items (the 20% most frequent) and the teacher's for cold ones, view B the reverse.
 * Each view is mean-pooled over the session and passed through one small projection MLP.
 * Pulling the views together teaches the student's tail vectors from the teacher's, where
 * the student's own data is thinnest; the predictive term keeps the pooled views useful
 * for the next item. Every weight is configurable and 0 switches a term off (ablations).
 */
import * as tf from '@tensorflow/tfjs';
import { denseItemTable, ttItemTable } from '../../model/item-table.ts';
import type { QatDtype } from '../../model/ops/fake-quant.ts';
import { gatherRows } from '../../model/ops/gather-rows.ts';
import { encode, encoderWeightShapes, initEncoderWeights } from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import { initTtCores, type TtShape } from '../../model/tt-matrix.ts';
import { seededRandom } from '../../random.ts';
import { type SequenceBatch, trainingWindows, type WindowPolicy } from '../../train/batches.ts';
import type { TrainingTask } from '../../train/data-parallel.ts';
import { itemCrossEntropy, sampledItemCrossEntropy } from '../../train/item-softmax.ts';
import type { LoopResult, TrainingHooks } from '../../train/loop.ts';
import {
  asVariables,
  drawNegatives,
  fakeQuantizedModel,
  trainSequenceTask,
} from '../../train/train-sasrec.ts';
import { fitTtCores } from './fit-cores.ts';
import { distilledCrossEntropy, infoNce } from './kd-losses.ts';

export interface DistillConfig {
  shape: TtShape;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  patience: number;
  /** Learning-rate factor after each epoch without a better validation score (1: constant). */
  lrDecay: number;
  /** The student's own next-item loss: 'full' softmax or 'sampled' against `negatives`. */
  loss: 'full' | 'sampled';
  negatives: number;
  /** Weight of the KL term (α); the student's cross-entropy gets 1 - α. */
  alpha: number;
  /** Weight of InfoNCE between the recombined views (β). */
  beta: number;
  /** Weight of the views' next-item prediction (γ). */
  gamma: number;
  /** Softmax temperature of the KL term. */
  temperature: number;
  /** InfoNCE temperature. */
  tau: number;
  /** Share of items counted as hot (most frequent in training). */
  hotFraction: number;
  /** Start the student's encoder from the teacher's ('teacher') or from scratch ('random'). */
  initEncoder: 'teacher' | 'random';
  /** 'teacher-fit': cores fitted to the teacher's table (see fit-cores.ts); 'gaussian': TT-Rec's sampled start. */
  initCores: 'teacher-fit' | 'gaussian';
  /** Which windows of each history an epoch trains on (see train/batches.ts). */
  windows: WindowPolicy;
  /** Quantisation-aware training (train-sasrec.ts TrainConfig.qat). Absent: float32. */
  qat?: QatDtype;
}

/** Adam steps of the teacher-table fit; the error has flattened by then on ML-1M. */
const CORE_FIT_STEPS = 400;

export const DEFAULT_DISTILL: Omit<DistillConfig, 'shape'> = {
  epochs: 100,
  batchSize: 32, // as the teacher's (see DEFAULT_TRAIN)
  // The cores start far from the teacher (see fit-cores.ts) and have to travel: on 600 ML-1M
  // users, rank 16, lr 0.004 reached validation NDCG@10 0.046 after 4 epochs, 1e-3 0.030.
  lr: 4e-3,
  seed: 42,
  patience: 5,
  lrDecay: 0.5,
  loss: 'full',
  negatives: 512,
  alpha: 0.8,
  beta: 0.2,
  gamma: 0.001,
  temperature: 1,
  tau: 0.2,
  hotFraction: 0.2,
  initEncoder: 'teacher',
  initCores: 'teacher-fit',
  windows: 'all',
};

/** 1 for the `fraction` most frequent items of the training data (ties to the lower id). */
export function hotItemMask(
  train: readonly Int32Array[],
  numItems: number,
  fraction: number,
): Float32Array {
  const counts = new Float64Array(numItems + 1);
  for (const s of train) for (const item of s) counts[item] = (counts[item] as number) + 1;
  const order = Array.from({ length: numItems }, (_, i) => i + 1).sort(
    (a, b) => (counts[b] as number) - (counts[a] as number) || a - b,
  );
  const mask = new Float32Array(numItems + 1);
  for (const item of order.slice(0, Math.ceil(fraction * numItems))) mask[item] = 1;
  return mask;
}

/** Mean of the rows of each session, padding excluded: [batch, dim]. */
function meanPool(rows: tf.Tensor3D, keep: tf.Tensor3D): tf.Tensor2D {
  return rows.mul(keep).sum(1).div(keep.sum(1).maximum(1)) as tf.Tensor2D;
}

export interface DistillResult extends LoopResult {
  model: SequentialModel;
  /** ‖TT − teacher table‖² / ‖teacher table‖² of the fitted start ('teacher-fit' only). */
  coreFitError: number | null;
}

/**
 * A dense teacher as plain arrays, to hand to data-parallel workers (structured cloning
 * copies typed arrays, not tensors).
 */
export interface TeacherArrays {
  config: SequentialModel['config'];
  encoder: Record<string, Float32Array>;
  table: Float32Array;
}

export interface DistillTaskArgs {
  teacher: TeacherArrays;
  /** 1 for hot items (hotItemMask), by item id. */
  hot: Float32Array;
  config: DistillConfig;
}

export function teacherArrays(teacher: SequentialModel): TeacherArrays {
  return {
    config: teacher.config,
    encoder: Object.fromEntries(
      Object.entries(teacher.encoder).map(([k, v]) => [k, v.dataSync() as Float32Array]),
    ),
    table: teacher.items.materialise().dataSync() as Float32Array,
  };
}

export function teacherFromArrays(arrays: TeacherArrays): SequentialModel {
  const config = arrays.config;
  return {
    config,
    encoder: Object.fromEntries(
      encoderWeightShapes(config).map(([name, shape]) => [
        name,
        tf.tensor(arrays.encoder[name] as Float32Array, shape),
      ]),
    ),
    items: denseItemTable(tf.tensor2d(arrays.table, [config.numItems + 1, config.dim])),
  };
}

/**
 * What a data-parallel worker (train/data-parallel.ts) builds: the same loss as the main
 * thread's. Its start is irrelevant, since the worker takes the main thread's weights
 * before every step, so the cores start at a cheap Gaussian instead of the teacher fit.
 */
export function distillationWorkerTask(args: DistillTaskArgs): TrainingTask<SequenceBatch> {
  const teacher = teacherFromArrays(args.teacher);
  const cores = initTtCores(args.config.shape, { seed: 0, std: 0.1 });
  return distillationTask(teacher, args.hot, args.config, { encoder: teacher.encoder, cores });
}

/** The student's variables and the batch loss of the header's formula. */
export function distillationTask(
  teacher: SequentialModel,
  hot: Float32Array,
  config: DistillConfig,
  start: { encoder: Record<string, tf.Tensor>; cores: readonly tf.Tensor[] },
): TrainingTask<SequenceBatch> & { student: SequentialModel } {
  const modelConfig = teacher.config;
  const numRows = modelConfig.numItems + 1;
  const teacherTable = teacher.items.materialise();
  const encoder = asVariables(
    Object.fromEntries(Object.entries(start.encoder).map(([k, v]) => [k, v.clone()])),
  );
  const cores = start.cores.map((c, k) =>
    tf.variable(c, true, `items.tt.core${k}#${Math.random()}`),
  );
  const student: SequentialModel = {
    config: modelConfig,
    encoder,
    items: ttItemTable(cores, config.shape, numRows),
  };
  const d = modelConfig.dim;
  const projection = asVariables({
    'projection.inner.kernel': tf.randomNormal(
      [d, d],
      0,
      Math.sqrt(2 / d),
      'float32',
      config.seed + 1,
    ),
    'projection.inner.bias': tf.zeros([d]),
    'projection.outer.kernel': tf.randomNormal(
      [d, d],
      0,
      Math.sqrt(1 / d),
      'float32',
      config.seed + 2,
    ),
    'projection.outer.bias': tf.zeros([d]),
  });
  const project = (x: tf.Tensor2D): tf.Tensor2D =>
    x
      .matMul(projection['projection.inner.kernel'] as tf.Tensor2D)
      .add(projection['projection.inner.bias'] as tf.Tensor)
      .relu()
      .matMul(projection['projection.outer.kernel'] as tf.Tensor2D)
      .add(projection['projection.outer.bias'] as tf.Tensor) as tf.Tensor2D;
  const cores0 = Object.fromEntries(cores.map((c, k) => [`items.tt.core${k}`, c]));
  const variables = {
    ...encoder,
    ...cores0,
    ...(config.beta > 0 || config.gamma > 0 ? projection : {}),
  };
  const batchLoss = (batch: SequenceBatch, step: number): tf.Scalar => {
    const seed = config.seed * 7919 + step;
    const ids = tf.tensor2d(batch.ids, [batch.size, batch.length], 'int32');
    const positions = tf.tensor1d(batch.positions, 'int32');
    // Under quantisation-aware training the loss sees the student's matrices in int8.
    const seen = config.qat ? fakeQuantizedModel(student, config.qat) : student;
    const table = seen.items.materialise();
    const studentRows = gatherRows(table, ids) as tf.Tensor3D;
    const hidden = encode(modelConfig, seen.encoder, ids, studentRows, { training: true, seed });
    const flat = (h: tf.Tensor3D) => h.reshape([batch.size * batch.length, d]) as tf.Tensor2D;
    const rows = gatherRows(flat(hidden), positions) as tf.Tensor2D;
    const targets = tf.tensor1d(batch.targets, 'int32');

    // The teacher is frozen: its hidden states are constants of the student's loss.
    const teacherRows = () =>
      tf.tidy(() => {
        const h = encode(
          modelConfig,
          teacher.encoder,
          ids,
          tf.gather(teacherTable, ids) as tf.Tensor as tf.Tensor3D,
          { training: false },
        );
        return tf.gather(flat(h), positions) as tf.Tensor2D;
      });
    const kd = { alpha: config.alpha, temperature: config.temperature };
    let loss: tf.Scalar;
    if (config.loss === 'full') {
      loss =
        config.alpha > 0
          ? distilledCrossEntropy(rows, table, targets, teacherRows(), teacherTable, kd)
          : itemCrossEntropy(rows, table, targets);
    } else {
      const negatives = drawNegatives(modelConfig.numItems, config.negatives, seededRandom(seed));
      loss = sampledItemCrossEntropy(rows, table, batch.targets, negatives).mul(1 - config.alpha);
      if (config.alpha > 0) {
        const kl = distilledCrossEntropy(rows, table, targets, teacherRows(), teacherTable, {
          ...kd,
          alpha: 1,
        });
        loss = loss.add(kl.mul(config.alpha));
      }
    }

    if (config.beta > 0 || config.gamma > 0) {
      const keep = ids.notEqual(0).cast('float32').expandDims(2) as tf.Tensor3D;
      const isHot = tf.gather(tf.tensor1d(hot), ids).expandDims(2);
      const teacherRows = tf.gather(teacherTable, ids) as tf.Tensor as tf.Tensor3D;
      const viewA = meanPool(
        studentRows.mul(isHot).add(teacherRows.mul(tf.sub(1, isHot))) as tf.Tensor3D,
        keep,
      );
      const viewB = meanPool(
        teacherRows.mul(isHot).add(studentRows.mul(tf.sub(1, isHot))) as tf.Tensor3D,
        keep,
      );
      if (config.beta > 0)
        loss = loss.add(infoNce(project(viewA), project(viewB), config.tau).mul(config.beta));
      if (config.gamma > 0) {
        const next = tf.tensor1d(lastTargets(batch), 'int32');
        const predictive = itemCrossEntropy(viewA, table, next).add(
          itemCrossEntropy(viewB, table, next),
        );
        loss = loss.add(predictive.mul(config.gamma));
      }
    }
    return loss;
  };

  return { student, variables, loss: batchLoss };
}

export async function distillStudent(
  teacher: SequentialModel,
  train: readonly Int32Array[],
  config: DistillConfig,
  hooks: TrainingHooks<SequentialModel>,
): Promise<DistillResult> {
  const modelConfig = teacher.config;
  const fit =
    config.initCores === 'teacher-fit'
      ? fitTtCores(config.shape, teacher.items.materialise(), {
          seed: config.seed,
          steps: CORE_FIT_STEPS,
          lr: 0.01,
        })
      : null;
  const start = {
    encoder:
      config.initEncoder === 'teacher'
        ? teacher.encoder
        : initEncoderWeights(modelConfig, config.seed),
    cores: fit
      ? fit.cores
      : // TT-Rec's sampled Gaussian, at the spread the dense teacher's table starts from, so
        // that a student trained this way owes nothing to the teacher's weights.
        initTtCores(config.shape, { seed: config.seed, std: 1 / Math.sqrt(modelConfig.dim) }),
  };
  const hot = hotItemMask(train, modelConfig.numItems, config.hotFraction);
  const task = distillationTask(teacher, hot, config, start);
  const result = await trainSequenceTask(
    task,
    {
      module: import.meta.url,
      builder: 'distillationWorkerTask',
      args: { teacher: teacherArrays(teacher), hot, config } satisfies DistillTaskArgs,
    },
    {
      windows: trainingWindows(train, modelConfig.maxLen, config.windows),
      maxLen: modelConfig.maxLen,
    },
    { ...config, numItems: modelConfig.numItems },
    () => hooks.validate(task.student),
    hooks,
  );
  return { ...result, model: task.student, coreFitError: fit?.relativeError ?? null };
}

/** The next item after each session's whole input: the target at its last position. */
function lastTargets(batch: SequenceBatch): Int32Array {
  const out = new Int32Array(batch.size);
  for (let k = 0; k < batch.positions.length; k++) {
    out[Math.floor((batch.positions[k] as number) / batch.length)] = batch.targets[k] as number;
  }
  return out;
}
