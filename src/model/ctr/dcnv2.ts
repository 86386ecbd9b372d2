/**
 * DCNv2 (Wang et al., WWW 2021): a cross network of explicit feature crosses beside an MLP.
 * Input x₀ = [v_1; …; v_F] (D = fields · dim). Cross layer l:
 *   full rank:  x_{l+1} = x₀ ⊙ (W_l x_l + b_l) + x_l
 *   mixture:    x_{l+1} = Σ_i g_i(x_l) · x₀ ⊙ (U_i tanh(C_i tanh(V_iᵀ x_l)) + b_l) + x_l,
 *               g = softmax over the experts of G_lᵀ x_l (DCN-Mix, the paper's low-rank mixture)
 * 'parallel' (the default, as in the paper's main configuration) reads x₀ with the cross
 * network and the MLP side by side and concatenates their outputs; 'stacked' runs the MLP
 * on the cross network's output. Either ends in one dense unit.
 *
 * Weights: `embedding` (field-embedding.ts; DCNv2 has no first-order part); per cross layer
 * `cross.<l>.kernel` [D, D] (row-vector convention: x_l · kernel = W_l x_l) and
 * `cross.<l>.bias` [D], or for the mixture `cross.<l>.expert.<i>.v` [D, r], `.c` [r, r],
 * `.u` [r, D], `cross.<l>.gate.kernel` [D, experts] and `cross.<l>.bias` [D];
 * `mlp.<i>.*` (layers.ts); `output.kernel` [width, 1], `output.bias` [1].
 */
import * as tf from '@tensorflow/tfjs';
import {
  type CtrBatch,
  embedFields,
  fieldEmbeddingShapes,
  fieldLayout,
} from './field-embedding.ts';
import {
  type CtrForwardOptions,
  dense,
  forwardContext,
  initByName,
  type MlpConfig,
  mlp,
  mlpWeightShapes,
  type Weights,
  weight,
} from './layers.ts';
import type { CtrSchema } from './schema.ts';

// In ../defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_DCNV2 } from '../defaults.ts';

export type CrossKind = { kind: 'full' } | { kind: 'mixture'; rank: number; experts: number };

export interface Dcnv2Config extends MlpConfig {
  /** Embedding width of every field. */
  dim: number;
  crossLayers: number;
  cross: CrossKind;
  structure: 'parallel' | 'stacked';
}

export interface Dcnv2Model {
  kind: 'dcnv2';
  config: Dcnv2Config;
  schema: CtrSchema;
  weights: Weights;
}

function crossShapes(config: Dcnv2Config, D: number): [string, number[]][] {
  const shapes: [string, number[]][] = [];
  const { cross } = config;
  for (let l = 0; l < config.crossLayers; l++) {
    const p = `cross.${l}`;
    if (cross.kind === 'full') shapes.push([`${p}.kernel`, [D, D]]);
    else {
      for (let i = 0; i < cross.experts; i++) {
        const e = `${p}.expert.${i}`;
        const r = cross.rank;
        shapes.push([`${e}.v`, [D, r]], [`${e}.c`, [r, r]], [`${e}.u`, [r, D]]);
      }
      shapes.push([`${p}.gate.kernel`, [D, cross.experts]]);
    }
    shapes.push([`${p}.bias`, [D]]);
  }
  return shapes;
}

export function dcnv2WeightShapes(config: Dcnv2Config, schema: CtrSchema): [string, number[]][] {
  const D = fieldLayout(schema).numFields * config.dim;
  const deep = config.mlp.at(-1) ?? D;
  const width = config.structure === 'parallel' && config.mlp.length > 0 ? D + deep : deep;
  return [
    ...fieldEmbeddingShapes(schema, config.dim, false),
    ...crossShapes(config, D),
    ...mlpWeightShapes('mlp', D, config),
    ['output.kernel', [width, 1]],
    ['output.bias', [1]],
  ];
}

export function initDcnv2Weights(config: Dcnv2Config, schema: CtrSchema, seed: number): Weights {
  return initByName(dcnv2WeightShapes(config, schema), seed);
}

/** W_l x_l for the mixture: the gate-weighted sum of the experts' low-rank maps, [rows, D]. */
function mixtureMap(
  x: tf.Tensor2D,
  weights: Weights,
  p: string,
  experts: number,
  x0: tf.Tensor2D,
): tf.Tensor2D {
  const gates = tf.softmax(x.matMul(weight(weights, `${p}.gate.kernel`) as tf.Tensor2D), -1);
  const bias = weight(weights, `${p}.bias`);
  let sum: tf.Tensor2D | null = null;
  for (let i = 0; i < experts; i++) {
    const e = `${p}.expert.${i}`;
    const low = x.matMul(weight(weights, `${e}.v`) as tf.Tensor2D).tanh();
    const mixed = low.matMul(weight(weights, `${e}.c`) as tf.Tensor2D).tanh();
    const out = x0.mul(mixed.matMul(weight(weights, `${e}.u`) as tf.Tensor2D).add(bias));
    const gated = out.mul(gates.slice([0, i], [-1, 1])) as tf.Tensor2D;
    sum = sum ? (sum.add(gated) as tf.Tensor2D) : gated;
  }
  return sum ?? tf.zerosLike(x);
}

/** The cross network over x₀ [rows, D]. */
function crossNetwork(x0: tf.Tensor2D, weights: Weights, config: Dcnv2Config): tf.Tensor2D {
  let x = x0;
  for (let l = 0; l < config.crossLayers; l++) {
    const p = `cross.${l}`;
    const crossed =
      config.cross.kind === 'full'
        ? x0.mul(dense(x, weights, p))
        : mixtureMap(x, weights, p, config.cross.experts, x0);
    x = crossed.add(x) as tf.Tensor2D;
  }
  return x;
}

/** Logits [batch]. */
export function ctrLogits(
  model: Dcnv2Model,
  batch: CtrBatch,
  options: CtrForwardOptions,
): tf.Tensor1D {
  const { config, weights } = model;
  const fields = embedFields(model.schema, weights, batch, options.embedded);
  const [n, F, d] = fields.shape;
  const x0 = fields.reshape([n, F * d]) as tf.Tensor2D;
  const ctx = forwardContext(options);
  const crossed = crossNetwork(x0, weights, config);
  let top: tf.Tensor2D;
  if (config.structure === 'stacked') top = mlp(crossed, weights, 'mlp', config, ctx);
  else if (config.mlp.length === 0) top = crossed;
  else top = tf.concat([crossed, mlp(x0, weights, 'mlp', config, ctx)], 1) as tf.Tensor2D;
  return dense(top, weights, 'output').reshape([n]) as tf.Tensor1D;
}
