/**
 * DeepFM (Guo et al., IJCAI 2017): FM and an MLP reading the same field vectors,
 *   logit = FM(x) + outputᵀ MLP([v_1; …; v_F]) + output bias.
 * Sharing the embedding lets the MLP's high-order signal train the vectors FM pairs.
 *
 * Weights: the field embedding's `embedding`, `linear`, `bias`; `mlp.<i>.kernel|bias` and
 * `mlp.<i>.norm.*` per hidden layer (layers.ts, with how batch norm's moving statistics are
 * kept); `output.kernel` [last width, 1] and `output.bias` [1].
 */
import type * as tf from '@tensorflow/tfjs';
import {
  type CtrBatch,
  embedFields,
  fieldEmbeddingShapes,
  fieldLayout,
  firstOrder,
} from './field-embedding.ts';
import { pairwiseInteractions } from './fm.ts';
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
export { DEFAULT_DEEPFM } from '../defaults.ts';

export interface DeepFmConfig extends MlpConfig {
  /** Embedding width of every field. */
  dim: number;
}

export interface DeepFmModel {
  kind: 'deepfm';
  config: DeepFmConfig;
  schema: CtrSchema;
  weights: Weights;
}

export function deepFmWeightShapes(config: DeepFmConfig, schema: CtrSchema): [string, number[]][] {
  const input = fieldLayout(schema).numFields * config.dim;
  const last = config.mlp.at(-1) ?? input;
  return [
    ...fieldEmbeddingShapes(schema, config.dim, true),
    ...mlpWeightShapes('mlp', input, config),
    ['output.kernel', [last, 1]],
    ['output.bias', [1]],
  ];
}

export function initDeepFmWeights(config: DeepFmConfig, schema: CtrSchema, seed: number): Weights {
  return initByName(deepFmWeightShapes(config, schema), seed);
}

/** Logits [batch]. */
export function ctrLogits(
  model: DeepFmModel,
  batch: CtrBatch,
  options: CtrForwardOptions,
): tf.Tensor1D {
  const { config, weights } = model;
  const fields = embedFields(model.schema, weights, batch, options.embedded);
  const [n, F, d] = fields.shape;
  const hidden = mlp(fields.reshape([n, F * d]), weights, 'mlp', config, forwardContext(options));
  const deep = dense(hidden, weights, 'output').reshape([n]);
  return firstOrder(weights, batch).add(pairwiseInteractions(fields)).add(deep) as tf.Tensor1D;
}
