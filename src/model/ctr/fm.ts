/**
 * FM: the factorization machine (Rendle, ICDM 2010) over fields: a row's logit is
 *   bias + Σ_f w_f + Σ_{f<g} <v_f, v_g>,
 * w_f and v_f being field f's mean-pooled first-order weight and embedding vector.
 * Weights: the field embedding's `embedding`, `linear` and `bias` (field-embedding.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { type CtrBatch, embedFields, fieldEmbeddingShapes, firstOrder } from './field-embedding.ts';
import { type CtrForwardOptions, initByName, type Weights } from './layers.ts';
import type { CtrSchema } from './schema.ts';

export interface FmConfig {
  /** Embedding width of every field. */
  dim: number;
}

export const DEFAULT_FM: FmConfig = { dim: 16 };

export interface FmModel {
  kind: 'fm';
  config: FmConfig;
  schema: CtrSchema;
  weights: Weights;
}

export function fmWeightShapes(config: FmConfig, schema: CtrSchema): [string, number[]][] {
  return fieldEmbeddingShapes(schema, config.dim, true);
}

export function initFmWeights(config: FmConfig, schema: CtrSchema, seed: number): Weights {
  return initByName(fmWeightShapes(config, schema), seed);
}

/**
 * Σ_{f<g} <v_f, v_g> of field vectors [batch, fields, dim] in O(fields · dim):
 * ½ Σ_k [(Σ_f v_fk)² − Σ_f v_fk²]. Returns [batch].
 */
export function pairwiseInteractions(fields: tf.Tensor3D): tf.Tensor1D {
  const sumSquared = fields.sum(1).square();
  const squaredSum = fields.square().sum(1);
  return sumSquared.sub(squaredSum).sum(1).mul(0.5) as tf.Tensor1D;
}

/** Logits [batch]; FM has neither dropout nor batch norm, so `training` changes nothing. */
export function ctrLogits(
  model: FmModel,
  batch: CtrBatch,
  options: CtrForwardOptions,
): tf.Tensor1D {
  const fields = embedFields(model.schema, model.weights, batch, options.embedded);
  return firstOrder(model.weights, batch).add(pairwiseInteractions(fields)) as tf.Tensor1D;
}
