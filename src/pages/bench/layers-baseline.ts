/**
 * The baseline of bench.html and `npm run bench:engine`: the same SASRec network as a
 * pocketrec package, written the way a developer would without pocketrec: a tfjs
 * LayersModel (functional API)
 * with the item table materialised dense, stock tfjs kernels, and per request
 *
 *   model.predict(ids [1, maxLen], left-padded) → last hidden state
 *   → tf.matMul(hidden, table, false, true) → mask the seen items → tf.topk → data()
 *
 * Layers: an Embedding for the items, a PositionEmbedding (scaled items plus positions),
 * then per block LayerNormalization → CausalSelfAttention → Add, LayerNormalization →
 * Dense(relu) → Dense → Add, and a final LayerNormalization: pre-LN SASRec as in
 * src/model/sasrec.ts, with the weights copied from the package. Padding positions are
 * masked as attention keys; unlike `encode` their own rows are not zeroed, which changes
 * nothing for the real positions (they never attend to them) and saves the baseline work.
 */
import * as tf from '@tensorflow/tfjs';
import { blockWidths, type SasrecConfig } from '../../model/sasrec.ts';
import { sequentialFromPackage } from '../../model/sequential-package.ts';
import type { ModelPackage } from '../../package/reader.ts';

const LAYER_NORM_EPSILON = 1e-6;

type Shape = (number | null)[];

/** items [batch, length, d] and ids [batch, length] → items·√d + positions. */
export class PositionEmbedding extends tf.layers.Layer {
  static className = 'PositionEmbedding';
  private positions: tf.LayerVariable | null = null;
  private readonly maxLen: number;
  private readonly dim: number;
  private readonly fromOldest: boolean;

  constructor(args: { maxLen: number; dim: number; fromOldest: boolean; name?: string }) {
    super(args.name ? { name: args.name } : {});
    this.maxLen = args.maxLen;
    this.dim = args.dim;
    this.fromOldest = args.fromOldest;
  }

  override build(): void {
    this.positions = this.addWeight(
      'positions',
      [this.maxLen, this.dim],
      'float32',
      tf.initializers.zeros(),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return (inputShape as Shape[])[0] as Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [items, ids] = inputs as [tf.Tensor3D, tf.Tensor2D];
      const length = ids.shape[1];
      // 'from-oldest': the first real item is 0; 'from-latest': the latest is 0.
      const positionIds = this.fromOldest
        ? tf.cumsum(ids.notEqual(0).cast('int32'), 1).sub(1).maximum(0)
        : tf.range(length - 1, -1, -1, 'int32').expandDims(0);
      const table = (this.positions as tf.LayerVariable).read();
      return items.mul(Math.sqrt(this.dim)).add(tf.gather(table, positionIds.cast('int32')));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      maxLen: this.maxLen,
      dim: this.dim,
      fromOldest: this.fromOldest,
    };
  }
}

/** Multi-head causal self-attention over h [batch, length, d], keys masked where ids = 0. */
export class CausalSelfAttention extends tf.layers.Layer {
  static className = 'CausalSelfAttention';
  private readonly dim: number;
  private readonly heads: number;
  /** Per-head query/key and value widths (narrower than dim / heads in a cut encoder). */
  private readonly qk: number;
  private readonly v: number;
  private kernels: tf.LayerVariable[] = [];

  constructor(args: { dim: number; heads: number; qk: number; v: number; name?: string }) {
    super(args.name ? { name: args.name } : {});
    this.dim = args.dim;
    this.heads = args.heads;
    this.qk = args.qk;
    this.v = args.v;
  }

  override build(): void {
    const d = this.dim;
    const widths: [string, number, number][] = [
      ['query', d, this.heads * this.qk],
      ['key', d, this.heads * this.qk],
      ['value', d, this.heads * this.v],
      ['output', this.heads * this.v, d],
    ];
    this.kernels = widths.flatMap(([p, rows, cols]) => [
      this.addWeight(`${p}_kernel`, [rows, cols], 'float32', tf.initializers.glorotUniform({})),
      this.addWeight(`${p}_bias`, [cols], 'float32', tf.initializers.zeros()),
    ]);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return (inputShape as Shape[])[0] as Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [h, ids] = inputs as [tf.Tensor3D, tf.Tensor2D];
      const [batch, length, d] = h.shape;
      const w = this.kernels.map((v) => v.read());
      const flat = h.reshape([batch * length, d]);
      const project = (i: number, width: number) =>
        tf
          .matMul(flat, w[2 * i] as tf.Tensor2D)
          .add(w[2 * i + 1] as tf.Tensor)
          .reshape([batch, length, this.heads, width])
          .transpose([0, 2, 1, 3]);
      const q = project(0, this.qk);
      const k = project(1, this.qk);
      const v = project(2, this.v);
      const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
      const keep = ids.notEqual(0).cast('float32').reshape([batch, 1, 1, length]);
      const bias = causal.reshape([1, 1, length, length]).mul(keep).sub(1).mul(1e9);
      const scores = tf
        .matMul(q, k, false, true)
        // The trained scale, whatever width the cut left (src/model/sasrec.ts).
        .mul(1 / Math.sqrt(d / this.heads))
        .add(bias);
      const context = tf
        .matMul(tf.softmax(scores, -1), v)
        .transpose([0, 2, 1, 3])
        .reshape([batch * length, this.heads * this.v]);
      return tf
        .matMul(context, w[6] as tf.Tensor2D)
        .add(w[7] as tf.Tensor)
        .reshape([batch, length, d]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dim: this.dim, heads: this.heads, qk: this.qk, v: this.v };
  }
}

tf.serialization.registerClass(PositionEmbedding);
tf.serialization.registerClass(CausalSelfAttention);

/** The SASRec LayersModel, ids [batch, maxLen] → hidden states [batch, maxLen, d]. */
export function buildLayersSasrec(config: SasrecConfig, numRows: number): tf.LayersModel {
  if (config.readout !== 'last') {
    throw new Error(
      `the tf.layers baseline has only the last-state readout, not '${config.readout}'`,
    );
  }
  const d = config.dim;
  const ids = tf.input({ shape: [config.maxLen], dtype: 'int32', name: 'ids' });
  const items = tf.layers
    .embedding({ inputDim: numRows, outputDim: d, name: 'items' })
    .apply(ids) as tf.SymbolicTensor;
  let x = new PositionEmbedding({
    maxLen: config.maxLen,
    dim: d,
    fromOldest: config.positions === 'from-oldest',
    name: 'positions',
  }).apply([items, ids]) as tf.SymbolicTensor;
  const norm = (name: string, input: tf.SymbolicTensor) =>
    tf.layers
      .layerNormalization({ axis: -1, epsilon: LAYER_NORM_EPSILON, name })
      .apply(input) as tf.SymbolicTensor;
  for (let b = 0; b < config.blocks; b++) {
    const widths = blockWidths(config, b);
    const h = norm(`block${b}_norm1`, x);
    const attention = new CausalSelfAttention({
      dim: d,
      heads: config.heads,
      qk: widths.qk,
      v: widths.v,
      name: `block${b}_attention`,
    }).apply([h, ids]) as tf.SymbolicTensor;
    x = tf.layers.add().apply([x, attention]) as tf.SymbolicTensor;
    const h2 = norm(`block${b}_norm2`, x);
    const inner = tf.layers
      .dense({ units: widths.ffn, activation: 'relu', name: `block${b}_ffn_inner` })
      .apply(h2) as tf.SymbolicTensor;
    const outer = tf.layers
      .dense({ units: d, name: `block${b}_ffn_outer` })
      .apply(inner) as tf.SymbolicTensor;
    x = tf.layers.add().apply([x, outer]) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: ids, outputs: norm('norm', x), name: 'sasrec_layers' });
}

export interface BaselineResult {
  rows: Int32Array;
  scores: Float32Array;
}

/** A package's network as a LayersModel with its item table materialised dense. */
export class LayersBaseline {
  readonly maxLen: number;
  readonly numRows: number;
  readonly dim: number;

  /** The Embedding layer's matrix [numRows, d]: looked up and scored against. */
  private readonly table: tf.Tensor2D;

  private constructor(readonly model: tf.LayersModel) {
    this.table = model.getLayer('items').getWeights()[0] as tf.Tensor2D;
    this.maxLen = model.inputs[0]?.shape[1] as number;
    [this.numRows, this.dim] = this.table.shape;
  }

  /**
   * A model saved with `model.save(...)` and loaded back with `tf.loadLayersModel`, as a
   * developer would keep it (e.g. in `indexeddb://`).
   */
  static fromLayersModel(model: tf.LayersModel): LayersBaseline {
    return new LayersBaseline(model);
  }

  static fromPackage(pkg: ModelPackage): LayersBaseline {
    const source = sequentialFromPackage(pkg);
    const { config, encoder } = source;
    const dense = tf.tidy(() => source.items.materialise());
    const model = buildLayersSasrec(config, dense.shape[0]);
    const e = (name: string) => encoder[name] as tf.Tensor;
    model.getLayer('items').setWeights([dense]);
    model.getLayer('positions').setWeights([e('positions')]);
    for (let b = 0; b < config.blocks; b++) {
      const p = `blocks.${b}`;
      const pair = (name: string) => [e(`${name}.kernel`), e(`${name}.bias`)];
      model.getLayer(`block${b}_norm1`).setWeights([e(`${p}.norm1.gamma`), e(`${p}.norm1.beta`)]);
      model
        .getLayer(`block${b}_attention`)
        .setWeights(
          ['query', 'key', 'value', 'output'].flatMap((n) => pair(`${p}.attention.${n}`)),
        );
      model.getLayer(`block${b}_norm2`).setWeights([e(`${p}.norm2.gamma`), e(`${p}.norm2.beta`)]);
      model.getLayer(`block${b}_ffn_inner`).setWeights(pair(`${p}.ffn.inner`));
      model.getLayer(`block${b}_ffn_outer`).setWeights(pair(`${p}.ffn.outer`));
    }
    model.getLayer('norm').setWeights([e('norm.gamma'), e('norm.beta')]);
    // setWeights copied the values: the package's tensors are no longer needed.
    tf.dispose([dense, ...Object.values(encoder), ...Object.values(source.items.weights)]);
    return new LayersBaseline(model);
  }

  /** The best k rows after `history` (internal ids, oldest first), seen items left out. */
  async recommend(history: Int32Array, k: number): Promise<BaselineResult> {
    const { maxLen, numRows, dim } = this;
    const ids = new Int32Array(maxLen);
    const window = history.subarray(Math.max(0, history.length - maxLen));
    ids.set(window, maxLen - window.length);
    const mask = new Float32Array(numRows);
    mask[0] = Number.NEGATIVE_INFINITY;
    for (const row of history) mask[row] = Number.NEGATIVE_INFINITY;
    const { values, indices } = tf.tidy(() => {
      const hidden = this.model.predict(tf.tensor2d(ids, [1, maxLen], 'int32')) as tf.Tensor3D;
      const last = hidden.slice([0, maxLen - 1, 0], [1, 1, dim]).reshape([1, dim]);
      const scores = tf.matMul(last, this.table, false, true).add(tf.tensor2d(mask, [1, numRows]));
      return tf.topk(scores, k);
    });
    const [scores, rows] = await Promise.all([values.data(), indices.data()]);
    tf.dispose([values, indices]);
    return { rows: rows as Int32Array, scores: scores as Float32Array };
  }

  dispose(): void {
    this.model.dispose();
  }
}
