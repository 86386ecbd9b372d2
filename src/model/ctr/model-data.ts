/**
 * A CtrModel as plain, structured-cloneable data (typed arrays, no tensors): what crosses to
 * a worker thread, and what a fine-tuning run starts from.
 */
import * as tf from '@tensorflow/tfjs';
import type { Weights } from './layers.ts';
import { type CtrArchitecture, type CtrModel, ctrArchitectureOf, ctrModelOf } from './model.ts';
import type { CtrSchema } from './schema.ts';

export type WeightValues = Record<string, { values: Float32Array; shape: number[] }>;

export interface CtrModelData {
  architecture: CtrArchitecture;
  schema: CtrSchema;
  weights: WeightValues;
}

export function weightValues(weights: Weights): WeightValues {
  const out: WeightValues = {};
  for (const [name, tensor] of Object.entries(weights)) {
    if (tensor.dtype !== 'float32') throw new Error(`weight "${name}" is not float32`);
    out[name] = { values: tensor.dataSync() as Float32Array, shape: tensor.shape };
  }
  return out;
}

export function ctrModelData(model: CtrModel): CtrModelData {
  return {
    architecture: ctrArchitectureOf(model),
    schema: model.schema,
    weights: weightValues(model.weights),
  };
}

export function tensorsOf(values: WeightValues): Weights {
  const weights: Weights = {};
  for (const [name, { values: v, shape }] of Object.entries(values)) {
    weights[name] = tf.tensor(v, shape, 'float32');
  }
  return weights;
}

export function ctrModelFromData(data: CtrModelData): CtrModel {
  return ctrModelOf(data.architecture, data.schema, tensorsOf(data.weights));
}
