/**
 * What the CTR models share beyond the field embedding: the forward options, initialisation
 * by weight name, and the MLP tower (dense, batch or layer norm, ReLU, dropout).
 *
 * Batch norm's moving statistics. `<layer>.movingMean` and `<layer>.movingVariance` are
 * weights like any other (so a package holds them and inference reads them) but no
 * gradient reaches them: in training the layer normalises with the batch's own mean and
 * (biased) variance and hands them to `onBatchStatistics`; the trainer folds them in with
 * movingStatisticsUpdater, which assigns to those weights as tf.Variables created with
 * trainable = false (isMovingStatistic tells which names). Outside training the moving
 * values are used and nothing is reported. The forward pass itself never writes weights,
 * so the browser and a data-parallel worker can run it as is.
 */
import * as tf from '@tensorflow/tfjs';

export type Weights = Record<string, tf.Tensor>;

/** Receives one batch-norm layer's batch mean and variance [units] during training. */
export type BatchStatisticsSink = (layer: string, mean: tf.Tensor1D, variance: tf.Tensor1D) => void;

export interface CtrForwardOptions {
  /** Dropout and batch statistics apply only in training. */
  training: boolean;
  /** Seeds dropout so a training step is reproducible. */
  seed?: number;
  /** Where batch norm reports its batch statistics in training (see above). */
  onBatchStatistics?: BatchStatisticsSink;
  /**
   * [batch, numSlots, dim]: the batch's embedding rows to use instead of looking them up,
   * e.g. with some elements masked or replaced by a codebook value (Shaver).
   */
  embedded?: tf.Tensor3D;
}

export type Norm = 'batch' | 'layer' | 'none';
export const NORMS: readonly Norm[] = ['batch', 'layer', 'none'];

/** The MLP tower: hidden widths, normalisation after each dense layer, dropout rate. */
export interface MlpConfig {
  mlp: number[];
  norm: Norm;
  dropout: number;
}

const NORM_EPSILON = 1e-5;
const EMBEDDING_STD = 0.01;

export function weight(weights: Weights, name: string): tf.Tensor {
  const w = weights[name];
  if (w === undefined) throw new Error(`CTR weight "${name}" is missing`);
  return w;
}

export function isMovingStatistic(name: string): boolean {
  return name.endsWith('.movingMean') || name.endsWith('.movingVariance');
}

/**
 * Weights for `shapes`, initialised by name: the embedding table small normal, first-order
 * weights, biases, norm offsets and moving means zero, norm gains and moving variances one,
 * every other matrix Glorot-uniform.
 */
export function initByName(shapes: [string, number[]][], seed: number): Weights {
  const weights: Weights = {};
  let s = seed;
  for (const [name, shape] of shapes) {
    const zero = name === 'linear' || name === 'bias' || /\.(bias|beta|movingMean)$/.test(name);
    if (zero) weights[name] = tf.zeros(shape);
    else if (/\.(gamma|movingVariance)$/.test(name)) weights[name] = tf.ones(shape);
    else if (name === 'embedding') {
      weights[name] = tf.randomNormal(shape, 0, EMBEDDING_STD, 'float32', s++);
    } else {
      const limit = Math.sqrt(6 / ((shape[0] as number) + (shape[1] as number)));
      weights[name] = tf.randomUniform(shape, -limit, limit, 'float32', s++);
    }
  }
  return weights;
}

/** The MLP's weights: `<prefix>.<i>.kernel|bias` and `<prefix>.<i>.norm.*` per hidden layer. */
export function mlpWeightShapes(
  prefix: string,
  input: number,
  config: MlpConfig,
): [string, number[]][] {
  const shapes: [string, number[]][] = [];
  let width = input;
  config.mlp.forEach((units, i) => {
    const p = `${prefix}.${i}`;
    shapes.push([`${p}.kernel`, [width, units]], [`${p}.bias`, [units]]);
    if (config.norm !== 'none')
      shapes.push([`${p}.norm.gamma`, [units]], [`${p}.norm.beta`, [units]]);
    if (config.norm === 'batch') {
      shapes.push([`${p}.norm.movingMean`, [units]], [`${p}.norm.movingVariance`, [units]]);
    }
    width = units;
  });
  return shapes;
}

/** x [rows, in] by `<prefix>.kernel` [in, out] plus bias: one 2-D product, fast on WASM. */
export function dense(x: tf.Tensor2D, weights: Weights, prefix: string): tf.Tensor2D {
  return x
    .matMul(weight(weights, `${prefix}.kernel`) as tf.Tensor2D)
    .add(weight(weights, `${prefix}.bias`));
}

/** The forward options turned into the per-pass state the layers need. */
export interface ForwardContext {
  training: boolean;
  onBatchStatistics?: BatchStatisticsSink;
  dropout: (x: tf.Tensor2D, rate: number) => tf.Tensor2D;
}

export function forwardContext(options: CtrForwardOptions): ForwardContext {
  let seed = options.seed ?? 0;
  return {
    training: options.training,
    ...(options.onBatchStatistics ? { onBatchStatistics: options.onBatchStatistics } : {}),
    dropout: (x, rate) =>
      options.training && rate > 0 ? (tf.dropout(x, rate, undefined, seed++) as tf.Tensor2D) : x,
  };
}

function normalise(
  x: tf.Tensor2D,
  weights: Weights,
  p: string,
  norm: Norm,
  ctx: ForwardContext,
): tf.Tensor2D {
  if (norm === 'none') return x;
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (norm === 'layer') ({ mean, variance } = tf.moments(x, -1, true));
  else if (ctx.training) {
    ({ mean, variance } = tf.moments(x, 0));
    ctx.onBatchStatistics?.(p, mean as tf.Tensor1D, variance as tf.Tensor1D);
  } else {
    mean = weight(weights, `${p}.movingMean`);
    variance = weight(weights, `${p}.movingVariance`);
  }
  return x
    .sub(mean)
    .mul(variance.add(NORM_EPSILON).rsqrt())
    .mul(weight(weights, `${p}.gamma`))
    .add(weight(weights, `${p}.beta`));
}

/** The hidden layers: dense, norm, ReLU, dropout each. x [rows, in] → [rows, last width]. */
export function mlp(
  x: tf.Tensor2D,
  weights: Weights,
  prefix: string,
  config: MlpConfig,
  ctx: ForwardContext,
): tf.Tensor2D {
  let h = x;
  for (let i = 0; i < config.mlp.length; i++) {
    const p = `${prefix}.${i}`;
    const z = normalise(dense(h, weights, p), weights, `${p}.norm`, config.norm, ctx);
    h = ctx.dropout(z.relu(), config.dropout);
  }
  return h;
}

/**
 * A BatchStatisticsSink that moves `weights`' moving statistics toward each batch's:
 * moving ← momentum · moving + (1 − momentum) · batch. They must be tf.Variables. The
 * default 0.9 is PyTorch's (FuxiCTR's, so BARS's): with a few dozen steps an epoch, 0.99
 * lets the statistics trail the weights by epochs, and validation AUC with them.
 */
export function movingStatisticsUpdater(weights: Weights, momentum = 0.9): BatchStatisticsSink {
  return (layer, mean, variance) => {
    for (const [name, batchValue] of [
      [`${layer}.movingMean`, mean],
      [`${layer}.movingVariance`, variance],
    ] as const) {
      const moving = weights[name];
      if (!(moving instanceof tf.Variable)) throw new Error(`"${name}" is not a tf.Variable`);
      // assign keeps the new value alive past any enclosing tidy (e.g. variableGrads').
      moving.assign(tf.tidy(() => moving.mul(momentum).add(batchValue.mul(1 - momentum))));
    }
  };
}
