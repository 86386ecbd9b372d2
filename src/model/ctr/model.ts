/**
 * One type for every CTR model, and one forward pass that dispatches on its kind, so that
 * training, evaluation, the package and the runtime handle FM, DeepFM, DCNv2 and DLRM alike.
 */
import type * as tf from '@tensorflow/tfjs';
import * as dcnv2 from './dcnv2.ts';
import * as deepfm from './deepfm.ts';
import * as dlrm from './dlrm.ts';
import type { CtrBatch } from './field-embedding.ts';
import * as fm from './fm.ts';
import type { CtrForwardOptions } from './layers.ts';
import type { CtrSchema } from './schema.ts';

export type CtrModel = fm.FmModel | deepfm.DeepFmModel | dcnv2.Dcnv2Model | dlrm.DlrmModel;
export type CtrModelKind = CtrModel['kind'];
export const CTR_MODEL_KINDS: readonly CtrModelKind[] = ['fm', 'deepfm', 'dcnv2', 'dlrm'];

/** Logits [batch] of any CTR model. */
export function ctrForward(
  model: CtrModel,
  batch: CtrBatch,
  options: CtrForwardOptions,
): tf.Tensor1D {
  switch (model.kind) {
    case 'fm':
      return fm.ctrLogits(model, batch, options);
    case 'deepfm':
      return deepfm.ctrLogits(model, batch, options);
    case 'dcnv2':
      return dcnv2.ctrLogits(model, batch, options);
    case 'dlrm':
      return dlrm.ctrLogits(model, batch, options);
  }
}

/**
 * The same model reading another embedding table (a pruned, masked or codebook-filled one,
 * [totalRows, dim]): a shallow copy sharing every other tensor.
 */
export function withEmbedding<M extends CtrModel>(model: M, table: tf.Tensor2D): M {
  return { ...model, weights: { ...model.weights, embedding: table } };
}

/** Which model and its architecture: a CtrModel without its weights. */
export type CtrArchitecture =
  | { kind: 'fm'; config: fm.FmConfig }
  | { kind: 'deepfm'; config: deepfm.DeepFmConfig }
  | { kind: 'dcnv2'; config: dcnv2.Dcnv2Config }
  | { kind: 'dlrm'; config: dlrm.DlrmConfig };

export function ctrArchitectureOf(model: CtrModel): CtrArchitecture {
  switch (model.kind) {
    case 'fm':
      return { kind: model.kind, config: model.config };
    case 'deepfm':
      return { kind: model.kind, config: model.config };
    case 'dcnv2':
      return { kind: model.kind, config: model.config };
    case 'dlrm':
      return { kind: model.kind, config: model.config };
  }
}

/** A model of `architecture` for `schema` with the given weights. */
export function ctrModelOf(
  architecture: CtrArchitecture,
  schema: CtrSchema,
  weights: CtrModel['weights'],
): CtrModel {
  switch (architecture.kind) {
    case 'fm':
      return { ...architecture, schema, weights };
    case 'deepfm':
      return { ...architecture, schema, weights };
    case 'dcnv2':
      return { ...architecture, schema, weights };
    case 'dlrm':
      return { ...architecture, schema, weights };
  }
}

/** A model of `architecture` for `schema`, with fresh weights from `seed`. */
export function initCtrModel(
  architecture: CtrArchitecture,
  schema: CtrSchema,
  seed: number,
): CtrModel {
  switch (architecture.kind) {
    case 'fm':
      return {
        ...architecture,
        schema,
        weights: fm.initFmWeights(architecture.config, schema, seed),
      };
    case 'deepfm':
      return {
        ...architecture,
        schema,
        weights: deepfm.initDeepFmWeights(architecture.config, schema, seed),
      };
    case 'dcnv2':
      return {
        ...architecture,
        schema,
        weights: dcnv2.initDcnv2Weights(architecture.config, schema, seed),
      };
    case 'dlrm':
      return {
        ...architecture,
        schema,
        weights: dlrm.initDlrmWeights(architecture.config, schema, seed),
      };
  }
}
