import * as tf from '@tensorflow/tfjs';
import type { UmecModel } from '../../../../src/compression/umec/groups.ts';
import {
  DEFAULT_DEEPFM,
  type DeepFmConfig,
  initDeepFmWeights,
} from '../../../../src/model/ctr/deepfm.ts';
import {
  DEFAULT_DLRM,
  type DlrmConfig,
  type DlrmModel,
  initDlrmWeights,
} from '../../../../src/model/ctr/dlrm.ts';
import type { Weights } from '../../../../src/model/ctr/layers.ts';
import type { CtrRows, CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { schema } from '../../model/ctr/fixtures.ts';

/** The fixture schema: user rows 0..4, genres 5..10, age 11..15. */
export const FIELD_ROWS: [number, number][] = [
  [0, 5],
  [5, 11],
  [11, 16],
];
export const DIM = 4;

/** Every weight redrawn so that none keeps its initial zero or one (moving variances > 0). */
function redrawn(initial: Weights, seed: number): Weights {
  const weights: Weights = {};
  let s = seed * 100;
  for (const [name, t] of Object.entries(initial)) {
    weights[name] = name.endsWith('.movingVariance')
      ? tf.randomUniform(t.shape, 0.5, 2, 'float32', s++)
      : tf.randomNormal(t.shape, 0, 0.5, 'float32', s++);
    t.dispose();
  }
  return weights;
}

/**
 * A DeepFM over the fixture schema, mlp [8, 6], every weight redrawn so that none keeps its
 * initial zero or one (batch norm's moving statistics included).
 */
export function tinyDeepFm(over: Partial<DeepFmConfig> = {}, seed = 7): UmecModel {
  const config: DeepFmConfig = { ...DEFAULT_DEEPFM, dim: DIM, mlp: [8, 6], dropout: 0.2, ...over };
  return {
    kind: 'deepfm',
    config,
    schema,
    weights: redrawn(initDeepFmWeights(config, schema, seed), seed),
  };
}

/**
 * A DLRM over the fixture schema (or `modelSchema`), 'dot' unless told, mlp [8, 6], every weight
 * redrawn.
 */
export function tinyDlrm(
  over: Partial<DlrmConfig> = {},
  seed = 7,
  modelSchema: CtrSchema = schema,
): DlrmModel {
  const config: DlrmConfig = {
    ...DEFAULT_DLRM,
    dim: DIM,
    interaction: 'dot',
    mlp: [8, 6],
    dropout: 0.2,
    ...over,
  };
  return {
    kind: 'dlrm',
    config,
    schema: modelSchema,
    weights: redrawn(initDlrmWeights(config, modelSchema, seed), seed),
  };
}

/** A weight's values as nested arrays (a 2-D kernel) or a flat array. */
export function matrix(weights: Weights, name: string): number[][] {
  const t = weights[name];
  if (!t) throw new Error(`no weight ${name}`);
  return t.arraySync() as number[][];
}

export function vector(weights: Weights, name: string): number[] {
  const t = weights[name];
  if (!t) throw new Error(`no weight ${name}`);
  return Array.from(t.dataSync());
}

/** Squared norm of rows from..to of a matrix, in float64. */
export function rowsSquaredNorm(m: number[][], from: number, to: number): number {
  let sum = 0;
  for (let r = from; r < to; r++) for (const v of m[r] as number[]) sum += v * v;
  return sum;
}

/** The fixture rows with only some fields' columns, for a model whose schema is those fields. */
export function rowsOfFields(rows: CtrRows, fields: readonly number[]): CtrRows {
  return {
    numRows: rows.numRows,
    ids: fields.map((f) => rows.ids[f] as Int32Array),
    labels: rows.labels,
  };
}

export function schemaOfFields(full: CtrSchema, fields: readonly number[]): CtrSchema {
  return { fields: fields.map((f) => full.fields[f] as CtrSchema['fields'][number]) };
}

export { randomRows } from '../../model/ctr/fixtures.ts';
