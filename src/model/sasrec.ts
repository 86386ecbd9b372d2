/**
 * SASRec: a causal self-attention next-item model (Kang & McAuley, ICDM 2018), pre-LayerNorm
 * as in the reference implementation of ../shared/reference/baselines.md.
 *
 * The same encoder serves the dense teacher and the tensor-train student: only the item
 * table differs (see item-table.ts). Weights are a flat record of tensors named as they are
 * stored in the model package, so training, export and the browser worker share this file.
 */
import * as tf from '@tensorflow/tfjs';
import { gatherRows } from './ops/gather-rows.ts';

export interface SasrecConfig {
  /** Item ids are 1..numItems; 0 pads a short history. */
  numItems: number;
  dim: number;
  /** The encoder sees at most this many of the latest items. */
  maxLen: number;
  blocks: number;
  heads: number;
  dropout: number;
}

export const DEFAULT_SASREC: Omit<SasrecConfig, 'numItems'> = {
  dim: 64,
  maxLen: 200,
  blocks: 2,
  heads: 1,
  dropout: 0.2,
};

export type Weights = Record<string, tf.Tensor>;

const LAYER_NORM_EPSILON = 1e-6;

/** Every encoder weight (not the item table) with its shape, in a stable order. */
export function encoderWeightShapes(config: SasrecConfig): [string, number[]][] {
  const d = config.dim;
  const shapes: [string, number[]][] = [['positions', [config.maxLen, d]]];
  for (let b = 0; b < config.blocks; b++) {
    const p = `blocks.${b}`;
    shapes.push(
      [`${p}.norm1.gamma`, [d]],
      [`${p}.norm1.beta`, [d]],
      [`${p}.attention.query.kernel`, [d, d]],
      [`${p}.attention.query.bias`, [d]],
      [`${p}.attention.key.kernel`, [d, d]],
      [`${p}.attention.key.bias`, [d]],
      [`${p}.attention.value.kernel`, [d, d]],
      [`${p}.attention.value.bias`, [d]],
      [`${p}.attention.output.kernel`, [d, d]],
      [`${p}.attention.output.bias`, [d]],
      [`${p}.norm2.gamma`, [d]],
      [`${p}.norm2.beta`, [d]],
      [`${p}.ffn.inner.kernel`, [d, d]],
      [`${p}.ffn.inner.bias`, [d]],
      [`${p}.ffn.outer.kernel`, [d, d]],
      [`${p}.ffn.outer.bias`, [d]],
    );
  }
  shapes.push(['norm.gamma', [d]], ['norm.beta', [d]]);
  return shapes;
}

export function encoderParamCount(config: SasrecConfig): number {
  return encoderWeightShapes(config).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/** Glorot-uniform kernels, zero biases, unit LayerNorm gains; positions like the item table. */
export function initEncoderWeights(config: SasrecConfig, seed: number): Weights {
  const weights: Weights = {};
  let s = seed;
  for (const [name, shape] of encoderWeightShapes(config)) {
    if (name.endsWith('.gamma')) weights[name] = tf.ones(shape);
    else if (name.endsWith('.beta') || name.endsWith('.bias')) weights[name] = tf.zeros(shape);
    else if (name === 'positions') weights[name] = tf.randomNormal(shape, 0, 0.02, 'float32', s++);
    else {
      const limit = Math.sqrt(6 / ((shape[0] as number) + (shape[1] as number)));
      weights[name] = tf.randomUniform(shape, -limit, limit, 'float32', s++);
    }
  }
  return weights;
}

function weight(weights: Weights, name: string): tf.Tensor {
  const w = weights[name];
  if (w === undefined) throw new Error(`SASRec weight "${name}" is missing`);
  return w;
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const mean = x.mean(-1, true);
  const centred = x.sub(mean);
  const variance = centred.square().mean(-1, true);
  return centred.mul(variance.add(LAYER_NORM_EPSILON).rsqrt()).mul(gamma).add(beta);
}

/** x [rows, d] by kernel [d, out] plus bias: one 2-D product, the fast path on WASM. */
function dense(x: tf.Tensor2D, weights: Weights, prefix: string): tf.Tensor2D {
  return x
    .matMul(weight(weights, `${prefix}.kernel`) as tf.Tensor2D)
    .add(weight(weights, `${prefix}.bias`));
}

export interface EncodeOptions {
  training: boolean;
  /** Seeds dropout so a training step is reproducible. */
  seed?: number;
}

/**
 * Encodes left-padded histories.
 *
 * `ids` [batch, length] holds item ids with 0 for padding on the left. Positions count back
 * from the latest item (the last column is position 0), so a batch may be cut to its own
 * longest history and a short history at inference looks the same as in training.
 * `itemRows` [batch, length, dim] are the item vectors of `ids` (dense or tensor-train).
 * Returns hidden states [batch, length, dim]; padding rows are zero.
 */
export function encode(
  config: SasrecConfig,
  weights: Weights,
  ids: tf.Tensor2D,
  itemRows: tf.Tensor3D,
  options: EncodeOptions,
): tf.Tensor3D {
  const [batch, length] = ids.shape;
  if (length > config.maxLen) {
    throw new Error(`history window of ${length} exceeds maxLen ${config.maxLen}`);
  }
  const d = config.dim;
  const heads = config.heads;
  const headDim = d / heads;
  let seed = options.seed ?? 0;
  const dropout = (x: tf.Tensor): tf.Tensor =>
    options.training && config.dropout > 0 ? tf.dropout(x, config.dropout, undefined, seed++) : x;

  const keep = ids.notEqual(0).cast('float32').reshape([batch, length, 1]);
  const positionIds = tf.range(length - 1, -1, -1, 'int32');
  const positions = gatherRows(weight(weights, 'positions') as tf.Tensor2D, positionIds);
  let x = dropout(itemRows.mul(Math.sqrt(d)).add(positions)).mul(keep);

  // Additive mask [batch, 1, length, length]: a query sees itself, earlier items, no padding.
  const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
  const visible = causal.reshape([1, 1, length, length]).mul(keep.reshape([batch, 1, 1, length]));
  const attentionBias = visible.sub(1).mul(1e9);

  const rows = batch * length;
  for (let b = 0; b < config.blocks; b++) {
    const p = `blocks.${b}`;
    const h = layerNorm(x, weight(weights, `${p}.norm1.gamma`), weight(weights, `${p}.norm1.beta`));
    const flat = h.reshape([rows, d]) as tf.Tensor2D;
    // [batch, heads, length, headDim]
    const split = (t: tf.Tensor2D) =>
      t.reshape([batch, length, heads, headDim]).transpose([0, 2, 1, 3]);
    const q = split(dense(flat, weights, `${p}.attention.query`));
    const k = split(dense(flat, weights, `${p}.attention.key`));
    const v = split(dense(flat, weights, `${p}.attention.value`));
    const scores = tf
      .matMul(
        q.reshape([batch * heads, length, headDim]),
        k.reshape([batch * heads, length, headDim]),
        false,
        true,
      )
      .reshape([batch, heads, length, length])
      .mul(1 / Math.sqrt(headDim))
      .add(attentionBias);
    const attention = dropout(tf.softmax(scores, -1));
    const context = tf
      .matMul(
        attention.reshape([batch * heads, length, length]) as tf.Tensor3D,
        v.reshape([batch * heads, length, headDim]) as tf.Tensor3D,
      )
      .reshape([batch, heads, length, headDim])
      .transpose([0, 2, 1, 3])
      .reshape([rows, d]) as tf.Tensor2D;
    x = x.add(
      dropout(dense(context, weights, `${p}.attention.output`).reshape([batch, length, d])),
    );

    const h2 = layerNorm(
      x,
      weight(weights, `${p}.norm2.gamma`),
      weight(weights, `${p}.norm2.beta`),
    );
    const inner = dense(h2.reshape([rows, d]) as tf.Tensor2D, weights, `${p}.ffn.inner`).relu();
    const outer = dense(dropout(inner) as tf.Tensor2D, weights, `${p}.ffn.outer`);
    x = x.add(dropout(outer.reshape([batch, length, d]))).mul(keep);
  }
  return layerNorm(x, weight(weights, 'norm.gamma'), weight(weights, 'norm.beta')).mul(
    keep,
  ) as tf.Tensor3D;
}

/**
 * Left-pads the latest `maxLen` items of each history into a [batch, length] id matrix,
 * `length` being the longest (cut) history of the batch.
 */
export function padHistories(histories: readonly ArrayLike<number>[], maxLen: number): tf.Tensor2D {
  let length = 1;
  for (const h of histories) length = Math.max(length, Math.min(h.length, maxLen));
  const ids = new Int32Array(histories.length * length);
  histories.forEach((h, row) => {
    const take = Math.min(h.length, length);
    for (let i = 0; i < take; i++) {
      ids[row * length + length - take + i] = h[h.length - take + i] as number;
    }
  });
  return tf.tensor2d(ids, [histories.length, length], 'int32');
}
