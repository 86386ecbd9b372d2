/**
 * SASRec: a causal self-attention next-item model (Kang & McAuley, ICDM 2018), pre-LayerNorm
 * as in the reference implementation of ../shared/reference/baselines.md.
 *
 * Teachers trained elsewhere (RecBole, pmixer's SASRec.pytorch; src/model/import/) differ in
 * where the LayerNorms sit, the activation, the embedding's scaling and normalisation, ε and
 * whether padding is masked: the optional fields of EncoderVariant reproduce each exactly.
 * Absent, each is pocketrec's own choice, so a config without them encodes as it always did.
 *
 * The same encoder serves the dense teacher and the tensor-train student: only the item
 * table differs (see item-table.ts). Weights are a flat record of tensors named as they are
 * stored in the model package, so training, export and the browser worker share this file.
 */
import * as tf from '@tensorflow/tfjs';
import { gatherRows } from './ops/gather-rows.ts';

// In defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_SASREC } from './defaults.ts';

export * from './sasrec-config.ts';

import {
  attentionScale,
  EMBEDDING_NORM,
  ENCODER_VARIANT_DEFAULTS,
  encoderWeightShapes,
  type PositionScheme,
  type SasrecConfig,
} from './sasrec-config.ts';

export type Weights = Record<string, tf.Tensor>;

/** Glorot-uniform kernels, zero biases, unit LayerNorm gains, small random positions. */
export function initEncoderWeights(config: SasrecConfig, seed: number): Weights {
  const weights: Weights = {};
  let s = seed;
  for (const [name, shape] of encoderWeightShapes(config)) {
    if (name.endsWith('.gamma')) weights[name] = tf.ones(shape);
    else if (name.endsWith('.beta') || name.endsWith('.bias')) weights[name] = tf.zeros(shape);
    else if (name === 'positions') weights[name] = tf.randomNormal(shape, 0, 0.02, 'float32', s++);
    // β starts near σ's mean, 1/2, at every position: the readout begins as a scaled sum of
    // the session's states, a sensible query, instead of a mix of random signs.
    else if (name === 'readout.score.kernel')
      weights[name] = tf.fill(shape, 1 / (shape[0] as number));
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

/** The LayerNorm whose gain and bias are `${prefix}.gamma` and `.beta`, at the config's ε. */
function layerNorm(
  config: SasrecConfig,
  weights: Weights,
  x: tf.Tensor,
  prefix: string,
): tf.Tensor {
  const eps = config.layerNormEps ?? ENCODER_VARIANT_DEFAULTS.layerNormEps;
  const mean = x.mean(-1, true);
  const centred = x.sub(mean);
  const variance = centred.square().mean(-1, true);
  return centred
    .mul(variance.add(eps).rsqrt())
    .mul(weight(weights, `${prefix}.gamma`))
    .add(weight(weights, `${prefix}.beta`));
}

/** The feed-forward's activation (EncoderVariant.activation). */
function activate(config: SasrecConfig, x: tf.Tensor): tf.Tensor {
  if (config.activation === 'gelu-erf') return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
  return x.relu();
}

/** The block's input as its projections see it: LN(x) before the attention, or x itself (post-LN). */
function attentionInput(config: SasrecConfig, weights: Weights, x: tf.Tensor, p: string) {
  return config.norm === 'post' ? x : layerNorm(config, weights, x, `${p}.norm1`);
}

/** The attention's residual sum: x + a, or LN(x + a) after it (post-LN). */
function attentionResidual(
  config: SasrecConfig,
  weights: Weights,
  x: tf.Tensor,
  attended: tf.Tensor,
  p: string,
): tf.Tensor2D {
  const sum = x.add(attended);
  return (
    config.norm === 'post' ? layerNorm(config, weights, sum, `${p}.norm1`) : sum
  ) as tf.Tensor2D;
}

/** The item rows' share of the embedding: scaled by √dim unless the variant says not. */
function scaledItems(config: SasrecConfig, rows: tf.Tensor): tf.Tensor {
  return config.scaleEmbeddings === false ? rows : rows.mul(Math.sqrt(config.dim));
}

/** The summed embedding, LayerNormed when the variant has an embedding norm. */
function embedded(config: SasrecConfig, weights: Weights, sum: tf.Tensor): tf.Tensor {
  return config.embeddingNorm ? layerNorm(config, weights, sum, EMBEDDING_NORM) : sum;
}

/** After the last block: the final LayerNorm, unless the variant has none. */
function finalState(config: SasrecConfig, weights: Weights, x: tf.Tensor): tf.Tensor {
  return config.finalNorm === false ? x : layerNorm(config, weights, x, 'norm');
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
  /**
   * Receives each block's keys [batch, heads, length, qk] and values [batch, heads, length, v]
   * (that block's widths, blockWidths), for the runtime's
   * incremental encoding (see encodeNext). They belong to the caller's tidy scope.
   */
  keepKeysValues?: (block: number, keys: tf.Tensor4D, values: tf.Tensor4D) => void;
  /**
   * Return the last position's state alone, [batch, 1, dim]: the same numbers as the last row
   * of the whole output, for less work where nothing else is read (the last block's queries,
   * attention and feed-forward run for that position only). The attention readout pools every
   * position, so with it the whole output is computed and cut.
   */
  lastOnly?: boolean;
  /**
   * Look the position rows up by a one-hot product instead of a gather: the same numbers (a
   * one-hot row picks its value exactly), in a fifth of the time on the WASM backend for
   * batches of thousands of windows, where a gather costs over a microsecond a row. Not for
   * training: the product's gradient is not the gather's scatter.
   */
  positionsByProduct?: boolean;
}

/** [rows, heads·w] → [batch, heads, length, w]. */
function splitHeads(t: tf.Tensor2D, batch: number, length: number, heads: number): tf.Tensor4D {
  return t.reshape([batch, length, heads, -1]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/**
 * Scaled dot-product attention of queries [batch, heads, lq, qk] over keys
 * [batch, heads, lk, qk] and values [batch, heads, lk, v], with an additive bias broadcast
 * to [batch, heads, lq, lk]. The scores are multiplied by `scale` (attentionScale: fixed by
 * the config, not by qk, which pruning may have narrowed). Returns [batch * lq, heads * v].
 */
function attend(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor | null,
  scale: number,
  dropout: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor2D {
  const [batch, heads, lq, qk] = q.shape;
  const lk = k.shape[2];
  const vw = v.shape[3];
  let scores = tf
    .matMul(
      q.reshape([batch * heads, lq, qk]) as tf.Tensor3D,
      k.reshape([batch * heads, lk, qk]) as tf.Tensor3D,
      false,
      true,
    )
    .reshape([batch, heads, lq, lk])
    .mul(scale);
  if (bias) scores = scores.add(bias);
  const attention = dropout(tf.softmax(scores, -1));
  return tf
    .matMul(
      attention.reshape([batch * heads, lq, lk]) as tf.Tensor3D,
      v.reshape([batch * heads, lk, vw]) as tf.Tensor3D,
    )
    .reshape([batch, heads, lq, vw])
    .transpose([0, 2, 1, 3])
    .reshape([batch * lq, heads * vw]) as tf.Tensor2D;
}

/**
 * The feed-forward half of a block, residual included: x [rows, d]. Pre-LN: x + f(LN(x));
 * post-LN: LN(x + f(x)).
 */
function feedForward(
  config: SasrecConfig,
  x: tf.Tensor2D,
  weights: Weights,
  p: string,
  dropout: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor2D {
  const post = config.norm === 'post';
  const h = post ? x : layerNorm(config, weights, x, `${p}.norm2`);
  const inner = activate(config, dense(h as tf.Tensor2D, weights, `${p}.ffn.inner`));
  const sum = x.add(dropout(dense(dropout(inner) as tf.Tensor2D, weights, `${p}.ffn.outer`)));
  return (post ? layerNorm(config, weights, sum, `${p}.norm2`) : sum) as tf.Tensor2D;
}

/**
 * Encodes left-padded histories.
 *
 * `ids` [batch, length] holds item ids with 0 for padding on the left (for 'from-oldest'
 * models the right works too: the runtime pads there to keep shapes fixed). Positions are counted
 * per row from its oldest or its latest item (config.positions), never from the column, so
 * a batch may be cut to its own longest history and a short history at inference looks the
 * same as in training.
 * `itemRows` [batch, length, dim] are the item vectors of `ids` (dense or tensor-train).
 * Returns hidden states [batch, length, dim] ([batch, 1, dim] with `lastOnly`); padding rows are zero.
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
  if (config.paddingKeys === 'visible' && length < config.maxLen) {
    const wide = widened(ids, itemRows, config.maxLen);
    const hidden = encode(config, weights, wide.ids, wide.itemRows, options);
    // With lastOnly the last row alone came back; else the window's rows are cut out.
    if (hidden.shape[1] !== config.maxLen) return hidden;
    return hidden.slice([0, wide.pad, 0], [batch, length, config.dim]) as tf.Tensor3D;
  }
  const d = config.dim;
  let seed = options.seed ?? 0;
  const dropout = (x: tf.Tensor): tf.Tensor =>
    options.training && config.dropout > 0 ? tf.dropout(x, config.dropout, undefined, seed++) : x;

  const keep = ids
    .notEqual(0)
    .cast('float32')
    .reshape([batch * length, 1]);
  const positionTable = weight(weights, 'positions') as tf.Tensor2D;
  const positions = options.positionsByProduct
    ? tf
        .matMul(
          tf.oneHot(positionIds(config.positions, ids).reshape([-1]), config.maxLen),
          positionTable,
        )
        .reshape(config.positions === 'from-latest' ? [length, d] : [batch, length, d])
    : gatherRows(positionTable, positionIds(config.positions, ids));
  let x = dropout(embedded(config, weights, scaledItems(config, itemRows).add(positions)))
    .reshape([batch * length, d])
    .mul(keep) as tf.Tensor2D;

  // Additive mask [batch, 1, length, length]: a query sees itself, earlier items, no padding
  // (unless the variant's padding keys are visible).
  const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
  const visible =
    config.paddingKeys === 'visible'
      ? causal.reshape([1, 1, length, length])
      : causal.reshape([1, 1, length, length]).mul(keep.reshape([batch, 1, 1, length]));
  const attentionBias = visible.sub(1).mul(1e9);
  const scale = attentionScale(config);

  const lastOnly = options.lastOnly === true && config.readout === 'last';
  let rows = length;
  for (let b = 0; b < config.blocks; b++) {
    // The last block's output is read at the last position only: its queries are that position's.
    const lastQuery = lastOnly && b === config.blocks - 1;
    const shape = { batch, length, scale, lastQuery };
    x = encoderBlock(config, weights, b, { x, keep, attentionBias }, shape, options, dropout);
    if (lastQuery) rows = 1;
  }
  if (lastOnly && rows === length) {
    // No block to cut the rows short (blocks 0): the embedding's last row.
    x = lastRows(x, batch, length);
    rows = 1;
  }
  const rowKeep = rows === length ? keep : lastRows(keep, batch, length);
  const hidden = finalState(config, weights, x)
    .mul(rowKeep)
    .reshape([batch, rows, d]) as tf.Tensor3D;
  if (config.readout === 'last') return hidden;
  const sees = causal.reshape([1, length, length]).mul(keep.reshape([batch, 1, length]));
  const pooled = attentionReadout(weights, hidden, sees as tf.Tensor3D);
  return options.lastOnly
    ? (pooled.slice([0, length - 1, 0], [batch, 1, d]) as tf.Tensor3D)
    : pooled;
}

/**
 * A window narrower than maxLen left-padded to maxLen (ids 0, item rows zero): how a
 * visible-padding model (EncoderVariant.paddingKeys) always encodes, as its source does.
 */
function widened(
  ids: tf.Tensor2D,
  itemRows: tf.Tensor3D,
  maxLen: number,
): { ids: tf.Tensor2D; itemRows: tf.Tensor3D; pad: number } {
  const [batch, length, dim] = itemRows.shape;
  const pad = maxLen - length;
  return {
    ids: tf.concat([tf.zeros([batch, pad], 'int32'), ids.cast('int32')], 1) as tf.Tensor2D,
    itemRows: tf.concat([tf.zeros([batch, pad, dim]), itemRows], 1) as tf.Tensor3D,
    pad,
  };
}

/**
 * Block b of `encode` on rows x [batch * length, d]. With `lastQuery` only the last position
 * queries, so the block returns that position's row alone, [batch, d]; its keys and values
 * still come from every position.
 */
function encoderBlock(
  config: SasrecConfig,
  weights: Weights,
  b: number,
  inputs: { x: tf.Tensor2D; keep: tf.Tensor; attentionBias: tf.Tensor },
  shape: { batch: number; length: number; scale: number; lastQuery: boolean },
  options: EncodeOptions,
  dropout: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor2D {
  const { x, keep, attentionBias } = inputs;
  const { batch, length, lastQuery } = shape;
  const last = (t: tf.Tensor) => (lastQuery ? lastRows(t, batch, length) : t);
  const p = `blocks.${b}`;
  const h = attentionInput(config, weights, x, p);
  const project = (name: string, rows: tf.Tensor, positions: number) =>
    splitHeads(
      dense(rows as tf.Tensor2D, weights, `${p}.attention.${name}`),
      batch,
      positions,
      config.heads,
    );
  const q = project('query', last(h), lastQuery ? 1 : length);
  const k = project('key', h, length);
  const v = project('value', h, length);
  options.keepKeysValues?.(b, k, v);
  const bias = lastQuery
    ? attentionBias.slice([0, 0, length - 1, 0], [batch, 1, 1, length])
    : attentionBias;
  const context = attend(q, k, v, bias, shape.scale, dropout);
  const attended = attentionResidual(
    config,
    weights,
    last(x),
    dropout(dense(context, weights, `${p}.attention.output`)),
    p,
  );
  const out = feedForward(config, attended, weights, p, dropout);
  // Visible padding rows are keys of the next block: they keep their states.
  return config.paddingKeys === 'visible' ? out : (out.mul(last(keep)) as tf.Tensor2D);
}

/** Rows [batch * length, w] → the last position's [batch, w]. */
function lastRows(x: tf.Tensor, batch: number, length: number): tf.Tensor2D {
  const width = x.shape[x.shape.length - 1] as number;
  return x
    .reshape([batch, length, width])
    .slice([0, length - 1, 0], [batch, 1, width])
    .reshape([batch, width]) as tf.Tensor2D;
}

/**
 * The 'attention' readout of every position at once: position t's query is
 * Σ_{i ≤ t} β_ti h_i, with β_ti = wᵀ σ(A tanh(h_i) + a + B m_t) and m_t the mean of the
 * hidden states up to t (OD-Rec pools a whole session the same way; taking only i ≤ t makes
 * every position's query that of its own prefix, so training scores every position).
 * The weights β are not normalised, as in OD-Rec: how much a session weighs is learnt too.
 * `sees` [batch, length, length] is 1 where row t may pool position i (causal, no padding).
 */
function attentionReadout(weights: Weights, hidden: tf.Tensor3D, sees: tf.Tensor3D): tf.Tensor3D {
  const [batch, length, d] = hidden.shape;
  const flat = hidden.reshape([batch * length, d]) as tf.Tensor2D;
  const counts = sees.sum(-1, true).maximum(1);
  const prefixMean = tf
    .matMul(sees, hidden)
    .div(counts)
    .reshape([batch * length, d]);
  const item = dense(flat.tanh() as tf.Tensor2D, weights, 'readout.item').reshape([
    batch,
    1,
    length,
    d,
  ]);
  const session = (prefixMean as tf.Tensor2D)
    .matMul(weight(weights, 'readout.session.kernel') as tf.Tensor2D)
    .reshape([batch, length, 1, d]);
  const beta = tf
    .sigmoid(item.add(session))
    .reshape([batch * length * length, d])
    .matMul(weight(weights, 'readout.score.kernel') as tf.Tensor2D)
    .reshape([batch, length, length])
    .mul(sees);
  return tf.matMul(beta as tf.Tensor3D, hidden);
}

/**
 * Every block's keys and values of one history's earlier positions: keys [1, heads, length, qk]
 * and values [1, heads, length, v], with that block's widths (blockWidths).
 */
export interface KeyValueCache {
  keys: tf.Tensor4D[];
  values: tf.Tensor4D[];
  /** Positions held (the history's length so far). */
  length: number;
  /**
   * Fixed-size mode: keys and values are [1, heads, capacity, qk or v] from the start, positions
   * past `length` masked out, so every step runs ops of the same shapes (on WebGPU a new
   * shape can mean a new shader to compile mid-session). Unset: they grow by one a step.
   */
  capacity?: number;
}

/**
 * The hidden state of one more item appended to a history whose earlier positions are in
 * `cache`: the same numbers `encode` gives for the last row of the whole history, for a
 * fraction of the work (one row through each block instead of all of them). Only exact
 * for 'from-oldest' positions, where appending renumbers nothing, and while the history
 * still fits maxLen; the caller re-encodes otherwise.
 * Returns the hidden state [1, dim] and the cache with this position added (new tensors;
 * the old cache's tensors are left to the caller).
 */
export function encodeNext(
  config: SasrecConfig,
  weights: Weights,
  cache: KeyValueCache,
  itemRow: tf.Tensor2D,
): { hidden: tf.Tensor2D; cache: KeyValueCache } {
  if (
    config.positions !== 'from-oldest' ||
    config.readout !== 'last' ||
    config.paddingKeys === 'visible'
  ) {
    throw new Error(
      'incremental encoding needs from-oldest positions, masked padding and the last-state readout',
    );
  }
  const position = cache.length;
  if (position >= (cache.capacity ?? config.maxLen) || position >= config.maxLen) {
    throw new Error(`history of ${position + 1} exceeds maxLen ${config.maxLen}`);
  }
  const none = (x: tf.Tensor) => x;
  const row = tf.slice(weight(weights, 'positions'), [position, 0], [1, config.dim]);
  let x = embedded(config, weights, scaledItems(config, itemRow).add(row)) as tf.Tensor2D;
  const keys: tf.Tensor4D[] = [];
  const values: tf.Tensor4D[] = [];
  for (let b = 0; b < config.blocks; b++) {
    const p = `blocks.${b}`;
    const h = attentionInput(config, weights, x, p);
    const q = splitHeads(
      dense(h as tf.Tensor2D, weights, `${p}.attention.query`),
      1,
      1,
      config.heads,
    );
    const kNew = splitHeads(
      dense(h as tf.Tensor2D, weights, `${p}.attention.key`),
      1,
      1,
      config.heads,
    );
    const vNew = splitHeads(
      dense(h as tf.Tensor2D, weights, `${p}.attention.value`),
      1,
      1,
      config.heads,
    );
    const k = appendPosition(cache, cache.keys[b], kNew);
    const v = appendPosition(cache, cache.values[b], vNew);
    keys.push(k);
    values.push(v);
    // The new row sees every earlier position and itself, and in fixed-size mode no slot past it.
    const context = attend(q, k, v, fixedSizeMask(cache), attentionScale(config), none);
    x = attentionResidual(config, weights, x, dense(context, weights, `${p}.attention.output`), p);
    x = feedForward(config, x, weights, p, none);
  }
  const hidden = finalState(config, weights, x);
  return {
    hidden: hidden as tf.Tensor2D,
    cache: {
      keys,
      values,
      length: position + 1,
      ...(cache.capacity ? { capacity: cache.capacity } : {}),
    },
  };
}

/** One block's keys (or values) with the new position's [1, heads, 1, qk or v] added. */
function appendPosition(
  cache: KeyValueCache,
  past: tf.Tensor4D | undefined,
  next: tf.Tensor4D,
): tf.Tensor4D {
  if (!cache.capacity) return past ? (tf.concat([past, next], 2) as tf.Tensor4D) : next;
  // Written into slot `length` by a one-hot blend, so the shapes never change.
  const slot = tf
    .oneHot(tf.tensor1d([cache.length], 'int32'), cache.capacity)
    .reshape([1, 1, cache.capacity, 1]);
  const written = slot.mul(next);
  return (past ? past.mul(tf.sub(1, slot)).add(written) : written) as tf.Tensor4D;
}

/** Additive bias hiding the slots past the new position, in fixed-size mode. */
function fixedSizeMask(cache: KeyValueCache): tf.Tensor | null {
  if (!cache.capacity) return null;
  return tf
    .range(0, cache.capacity, 1, 'int32')
    .greater(tf.scalar(cache.length, 'int32'))
    .cast('float32')
    .mul(-1e9)
    .reshape([1, 1, 1, cache.capacity]);
}

/**
 * Position ids of each cell of `ids` [batch, length]: [length] for 'from-latest' (the same
 * for every row), [batch, length] for 'from-oldest' (a row's first real item is 0; its
 * padding gets 0 too and is masked out).
 */
export function positionIds(scheme: PositionScheme, ids: tf.Tensor2D): tf.Tensor {
  const length = ids.shape[1];
  if (scheme === 'from-latest') return tf.range(length - 1, -1, -1, 'int32');
  return tf.cumsum(ids.notEqual(0).cast('int32'), 1).sub(1).maximum(0).cast('int32');
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
