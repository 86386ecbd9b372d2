/**
 * A physically smaller model from the groups UMEC keeps: removed fields lose their table
 * rows and their rows of the first kernel (for DLRM's 'dot', every dot product they are in),
 * and for DeepFM their first-order weights; removed hidden units lose their kernel column,
 * bias and norm entries and their row of the next kernel. Nothing is stored as zeros, so
 * the package's bytes and the request's work fall with what was removed.
 */
import * as tf from '@tensorflow/tfjs';
import { fieldLayout } from '../../model/ctr/field-embedding.ts';
import type { Weights } from '../../model/ctr/layers.ts';
import { type KeptGroups, pairIndex, prunedArchitecture, type UmecModel } from './groups.ts';

function rangeIndices(ranges: readonly [number, number][]): Int32Array {
  const out: number[] = [];
  for (const [start, end] of ranges) for (let i = start; i < end; i++) out.push(i);
  return Int32Array.from(out);
}

function take(t: tf.Tensor, indices: Int32Array, axis: number): tf.Tensor {
  return tf.tidy(() => tf.gather(t, tf.tensor1d(indices, 'int32'), axis));
}

/**
 * The rows of `mlp.0.kernel` the kept fields' model reads, in its own input order: the kept
 * fields' vectors, then (DLRM 'dot') the dot products of kept pairs, i < j row-major over
 * the kept fields, as the smaller DLRM's pairwiseDots orders them.
 */
function inputRows(model: UmecModel, fields: readonly number[]): Int32Array {
  const { dim } = model.config;
  const own = rangeIndices(fields.map((f) => [f * dim, (f + 1) * dim]));
  if (model.kind !== 'dlrm' || model.config.interaction !== 'dot') return own;
  const F = fieldLayout(model.schema).numFields;
  const dots: number[] = [];
  fields.forEach((a, i) => {
    for (const b of fields.slice(i + 1)) dots.push(F * dim + pairIndex(a, b, F));
  });
  return Int32Array.from([...own, ...dots]);
}

/** The model with only `kept` groups (see groups.ts for what a group is), as new tensors. */
export function sliceModel(model: UmecModel, kept: KeptGroups): UmecModel {
  const [fields = [], ...units] = kept;
  const { config, weights } = model;
  const layout = fieldLayout(model.schema);
  const tableRows = rangeIndices(
    fields.map((f) => {
      const start = layout.offsets[f] as number;
      return [start, start + (model.schema.fields[f]?.vocabularySize ?? 0)];
    }),
  );
  const sliced: Weights = {};
  const get = (name: string): tf.Tensor => {
    const w = weights[name];
    if (!w) throw new Error(`CTR weight "${name}" is missing`);
    return w;
  };
  sliced.embedding = take(get('embedding'), tableRows, 0);
  if (model.kind === 'deepfm') {
    sliced.linear = take(get('linear'), tableRows, 0);
    sliced.bias = get('bias').clone();
  }
  config.mlp.forEach((_, i) => {
    const p = `mlp.${i}`;
    const cols = Int32Array.from(units[i] ?? []);
    const rows = i === 0 ? inputRows(model, fields) : Int32Array.from(units[i - 1] ?? []);
    sliced[`${p}.kernel`] = tf.tidy(() => take(take(get(`${p}.kernel`), rows, 0), cols, 1));
    for (const name of Object.keys(weights)) {
      if (name.startsWith(`${p}.`) && name !== `${p}.kernel`) {
        sliced[name] = take(get(name), cols, 0);
      }
    }
  });
  sliced['output.kernel'] = take(get('output.kernel'), Int32Array.from(units.at(-1) ?? []), 0);
  sliced['output.bias'] = get('output.bias').clone();
  return { ...prunedArchitecture(model, kept), weights: sliced };
}
