/**
 * DLRM (Naumov et al. 2019, facebookresearch/dlrm), as UMEC (Shen et al., ICLR 2021)
 * compresses it: field vectors, an interaction op, and a top MLP ending in one logit unit.
 * DLRM also runs its dense features through a bottom MLP into one more vector; here every
 * numeric field is already bucketised into an embedding by the schema, so there is no dense
 * input and no bottom MLP: the field vectors v_1 … v_F are all the op sees.
 *
 *   'dot' (DLRM's default): z = [v_1; …; v_F; <v_1, v_2>, <v_1, v_3>, …, <v_1, v_F>,
 *         <v_2, v_3>, …, <v_{F−1}, v_F>]: the Gram matrix's upper triangle, every pair i < j
 *         once, row-major (by i, then j), the diagonal left out; F · dim + F(F − 1)/2 wide.
 *         (DLRM reads the lower triangle; the Gram matrix is symmetric, so only the order
 *         differs.)
 *   'cat' (UMEC's public scripts, `--arch-interaction-op cat`): z = [v_1; …; v_F], F · dim wide.
 *   logit = outputᵀ MLP(z) + output bias.
 *
 * Weights: `embedding` (field-embedding.ts; DLRM has no first-order part); `mlp.<i>.kernel|bias`
 * and `mlp.<i>.norm.*` per hidden layer of the top MLP (layers.ts, with how batch norm's moving
 * statistics are kept); `output.kernel` [last width, 1] and `output.bias` [1].
 */
import * as tf from '@tensorflow/tfjs';
import { gatherRows } from '../ops/gather-rows.ts';
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
} from './layers.ts';
import type { CtrSchema } from './schema.ts';

// In ../defaults.ts, which the command line's help reads without loading tfjs.
export { DEFAULT_DLRM } from '../defaults.ts';

export type DlrmInteraction = 'dot' | 'cat';
export const DLRM_INTERACTIONS: readonly DlrmInteraction[] = ['dot', 'cat'];

export interface DlrmConfig extends MlpConfig {
  /** Embedding width of every field. */
  dim: number;
  interaction: DlrmInteraction;
}

export interface DlrmModel {
  kind: 'dlrm';
  config: DlrmConfig;
  schema: CtrSchema;
  weights: Weights;
}

/** The top MLP's input width: F · dim, plus F(F − 1)/2 dot products for 'dot'. */
export function dlrmInteractionWidth(config: DlrmConfig, numFields: number): number {
  const pairs = config.interaction === 'dot' ? (numFields * (numFields - 1)) / 2 : 0;
  return numFields * config.dim + pairs;
}

export function dlrmWeightShapes(config: DlrmConfig, schema: CtrSchema): [string, number[]][] {
  const input = dlrmInteractionWidth(config, fieldLayout(schema).numFields);
  const last = config.mlp.at(-1) ?? input;
  return [
    ...fieldEmbeddingShapes(schema, config.dim, false),
    ...mlpWeightShapes('mlp', input, config),
    ['output.kernel', [last, 1]],
    ['output.bias', [1]],
  ];
}

export function initDlrmWeights(config: DlrmConfig, schema: CtrSchema, seed: number): Weights {
  return initByName(dlrmWeightShapes(config, schema), seed);
}

/** Entries i · F + j of an F x F matrix for every i < j, row-major: the 'dot' order above. */
export function upperTrianglePairs(numFields: number): Int32Array {
  const at: number[] = [];
  for (let i = 0; i < numFields; i++) {
    for (let j = i + 1; j < numFields; j++) at.push(i * numFields + j);
  }
  return Int32Array.from(at);
}

/**
 * <v_i, v_j> for every i < j of field vectors [batch, fields, dim], in the order of
 * upperTrianglePairs: [batch, F(F − 1)/2]. The Gram matrix is one batched product; its
 * entries are picked with gatherRows (tf.gather's gradient does not run on WASM).
 */
export function pairwiseDots(fields: tf.Tensor3D): tf.Tensor2D {
  const [n, F] = fields.shape;
  const gram = tf.matMul(fields, fields, false, true).reshape([n, F * F]);
  const pairs = tf.tensor1d(upperTrianglePairs(F), 'int32');
  return gatherRows(gram.transpose() as tf.Tensor2D, pairs).transpose() as tf.Tensor2D;
}

/** Logits [batch]. */
export function ctrLogits(
  model: DlrmModel,
  batch: CtrBatch,
  options: CtrForwardOptions,
): tf.Tensor1D {
  const { config, weights } = model;
  const fields = embedFields(model.schema, weights, batch, options.embedded);
  const [n, F, d] = fields.shape;
  const flat = fields.reshape([n, F * d]) as tf.Tensor2D;
  const z =
    config.interaction === 'dot' && F > 1
      ? (tf.concat([flat, pairwiseDots(fields)], 1) as tf.Tensor2D)
      : flat;
  const hidden = mlp(z, weights, 'mlp', config, forwardContext(options));
  return dense(hidden, weights, 'output').reshape([n]) as tf.Tensor1D;
}
