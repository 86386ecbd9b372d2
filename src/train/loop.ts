/**
 * The training loop shared by the teacher and the distilled student: epochs of batches,
 * validation after each epoch, early stopping on the validation score, and a checkpoint
 * after every epoch so an interrupted run picks up where it stopped.
 */
import * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../errors.ts';
import type { TensorSpec } from '../package/writer.ts';
import { type EpochRecord, type LoopState, loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { type DataParallel, dataParallelStep } from './data-parallel.ts';

/** What a caller of a trainer supplies: validation, progress, and where to checkpoint. */
export interface TrainingHooks<M> {
  /** Higher is better (NDCG@10 on validation users). */
  validate: (model: M) => Promise<number>;
  checkpointDir?: string;
  onBatch?: (done: number, total: number, loss: number) => void;
  onEpoch?: (record: EpochRecord, state: LoopState) => void;
  /**
   * Worker threads that share each batch with the main thread (data-parallel.ts); 0 or
   * absent trains on the main thread alone. A resumed run may use another number.
   */
  workers?: number;
}

export interface LoopOptions<B> {
  variables: Record<string, tf.Variable>;
  optimizer: tf.Optimizer;
  epochs: number;
  /** Evaluations without a better validation score before stopping. */
  patience: number;
  /**
   * The learning rate is multiplied by this after each evaluation without a better
   * validation score (1 keeps it constant); the optimizer's own rate is the start.
   */
  lrDecay?: number;
  batches: (epoch: number) => B[];
  /** The loss of one batch; `step` counts batches from the start of training. */
  loss: (batch: B, step: number) => tf.Scalar;
  /** Higher is better (NDCG@10 on validation users). */
  validate: () => Promise<number>;
  checkpointDir?: string;
  /** Stored with the checkpoint, and compared on resume. */
  config: Record<string, unknown>;
  onBatch?: (done: number, total: number, loss: number) => void;
  onEpoch?: (record: EpochRecord, state: LoopState) => void;
  /** Gradient workers to spread each batch over; the main thread alone when absent. */
  parallel?: DataParallel<B>;
  /**
   * Runs on the main thread after each optimiser step, before the next batch: a method's
   * own update of the weights or of its state (UMEC's proximal, s and dual steps).
   */
  afterStep?: (step: StepContext) => void;
  /**
   * State a method keeps beside the weights (UMEC's s, y, z): checkpointed and restored with
   * them, and kept with the best epoch's weights, but not trained and not sent to workers.
   */
  stateVariables?: Record<string, tf.Variable>;
  /**
   * 'best' (the default) leaves the variables at the best validation epoch; 'last' at the
   * last epoch, for a search whose later epochs are what it is for.
   */
  keep?: 'best' | 'last';
  /**
   * Tensors the model reads but nothing trains, drawn for this run before its first epoch (a
   * RecJPQ table's codes): saved with every checkpoint (loadFixedTensor reads them back).
   */
  fixed?: readonly TensorSpec[];
}

/** What afterStep is told: the step just taken (from 0) and the learning rate it used. */
export interface StepContext {
  step: number;
  learningRate: number;
}

export interface LoopResult {
  state: LoopState;
  /** The variables' values at the best validation score (the variables hold them too). */
  best: Record<string, Float32Array>;
  resumed: boolean;
}

async function snapshot(
  variables: Record<string, tf.Variable>,
): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(variables)) out[name] = (await v.data()) as Float32Array;
  return out;
}

const RESUMABLE_CHANGES = ['epochs', 'patience'];

function isBestSoFar(history: readonly EpochRecord[], i: number): boolean {
  return history.slice(0, i).every((r) => r.validation < (history[i] as EpochRecord).validation);
}

// tfjs's optimizers read their public `learningRate` field at every step.
function learningRate(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

export async function runTrainingLoop<B>(options: LoopOptions<B>): Promise<LoopResult> {
  const { variables: trained, optimizer } = options;
  // Everything checkpointed and snapshotted; only `trained` is sent to workers.
  const variables = { ...trained, ...options.stateVariables };
  let state: LoopState = {
    epoch: 0,
    bestScore: Number.NEGATIVE_INFINITY,
    bestEpoch: 0,
    evaluationsWithoutGain: 0,
    history: [],
    trainSeconds: 0,
  };
  let best = await snapshot(variables);
  let resumed = false;
  if (options.checkpointDir) {
    const restored = await loadCheckpoint(options.checkpointDir, variables, optimizer);
    if (restored) {
      // Setting by setting, so that the order of the keys does not matter. How long to train
      // may change between runs: a resumed run can be given more epochs or patience.
      const keys = new Set([...Object.keys(restored.config), ...Object.keys(options.config)]);
      for (const k of RESUMABLE_CHANGES) keys.delete(k);
      // Another decay may be set where the run so far would have been the same with it:
      // every epoch but the last gained. A last epoch without gain gets its decay now.
      const history = restored.state.history;
      if (history.slice(0, -1).every((_, i) => isBestSoFar(history, i))) {
        keys.delete('lrDecay');
        delete restored.state.lr;
        const last = history.length - 1;
        if (last >= 0 && !isBestSoFar(history, last)) {
          restored.state.lr = learningRate(optimizer) * (options.lrDecay ?? 1);
        }
      }
      const differences = [...keys]
        .filter((k) => JSON.stringify(restored.config[k]) !== JSON.stringify(options.config[k]))
        .map(
          (k) =>
            `${k} ${JSON.stringify(restored.config[k])} (now ${JSON.stringify(options.config[k])})`,
        );
      if (differences.length > 0) {
        throw new PocketrecError(
          'bad-checkpoint',
          `checkpoint ${options.checkpointDir} was made with other settings: ` +
            `${differences.join(', ')}; remove it or use the same settings`,
        );
      }
      // The package would hold more epochs than its recorded command asks for.
      if (restored.state.epoch > options.epochs) {
        throw new PocketrecError(
          'bad-checkpoint',
          `checkpoint ${options.checkpointDir} has ${restored.state.epoch} epochs, more than ` +
            `--epochs ${options.epochs}; resume with --epochs ${restored.state.epoch} or more`,
        );
      }
      state = restored.state;
      best = restored.best;
      resumed = true;
      if (state.lr !== undefined) setLearningRate(optimizer, state.lr);
    }
  }

  let step = state.history.length === 0 ? 0 : Number.NaN;
  while (state.epoch < options.epochs && state.evaluationsWithoutGain < options.patience) {
    const epoch = state.epoch + 1;
    const batches = options.batches(epoch);
    if (Number.isNaN(step)) step = (epoch - 1) * batches.length;
    const started = performance.now();
    let lossSum = 0;
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i] as B;
      let value: number;
      if (options.parallel) {
        value = await dataParallelStep(
          options.parallel,
          trained,
          optimizer,
          options.loss,
          batch,
          step,
        );
      } else {
        const cost = optimizer.minimize(() => options.loss(batch, step), true) as tf.Scalar;
        value = (await cost.data())[0] as number;
        cost.dispose();
      }
      if (!Number.isFinite(value))
        throw new PocketrecError(
          'diverged',
          `training diverged: loss ${value} at epoch ${epoch}, batch ${i + 1}`,
        );
      lossSum += value;
      options.afterStep?.({ step, learningRate: learningRate(optimizer) });
      step++;
      options.onBatch?.(i + 1, batches.length, value);
    }
    const trainSeconds = (performance.now() - started) / 1000;
    const validation = await options.validate();
    const record: EpochRecord = {
      epoch,
      loss: lossSum / Math.max(1, batches.length),
      validation,
      seconds: trainSeconds,
    };
    state = {
      ...state,
      epoch,
      history: [...state.history, record],
      trainSeconds: state.trainSeconds + trainSeconds,
    };
    if (validation > state.bestScore) {
      state.bestScore = validation;
      state.bestEpoch = epoch;
      state.evaluationsWithoutGain = 0;
      best = await snapshot(variables);
    } else {
      state.evaluationsWithoutGain++;
      if (options.lrDecay !== undefined && options.lrDecay !== 1) {
        state.lr = learningRate(optimizer) * options.lrDecay;
        setLearningRate(optimizer, state.lr);
      }
    }
    if (options.checkpointDir) {
      await saveCheckpoint(options.checkpointDir, {
        variables,
        best,
        optimizer,
        state,
        config: options.config,
        ...(options.fixed ? { fixed: options.fixed } : {}),
      });
    }
    options.onEpoch?.(record, state);
  }
  if (options.keep === 'last') return { state, best, resumed };
  // The model leaves the loop with its best validation weights, not its last.
  for (const [name, values] of Object.entries(best)) {
    const v = variables[name] as tf.Variable;
    v.assign(tf.tensor(values, v.shape));
  }
  return { state, best, resumed };
}
