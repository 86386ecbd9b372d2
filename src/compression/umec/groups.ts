/**
 * The structured groups UMEC prunes in a CTR model, and what removing them leaves.
 *
 * Layer 0 is the fields: a field's group is every input row of the first layer after the
 * embeddings that reads the field (its `dim` rows of `mlp.0.kernel`), and removing it takes
 * the field out of the model altogether: its table, first-order weights, look-ups and FM
 * terms. Layer i ≥ 1 is the hidden units of `mlp.<i-1>`: a unit's group is its input row of
 * the next kernel (`mlp.<i>.kernel`, or `output.kernel` after the last), as in the public
 * code, and removing it removes its column, bias and norm entries too. A group's score is
 * its squared norm.
 *
 * DeepFM only: its MLP tower reads the concatenated field vectors, which is the setting of
 * the paper's DLRM with the "cat" interaction.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.ts';
import type { DeepFmConfig, DeepFmModel } from '../../model/ctr/deepfm.ts';
import { fieldLayout } from '../../model/ctr/field-embedding.ts';
import { ctrFlops } from '../../model/ctr/flops.ts';
import type { Weights } from '../../model/ctr/layers.ts';
import type { CtrModel } from '../../model/ctr/model.ts';
import type { CtrSchema } from '../../model/ctr/schema.ts';

/** A prunable layer: its name for display, group count, and the kernel rows of each group. */
export interface GroupLayer {
  name: string;
  /** The kernel whose input rows the groups are. */
  kernel: string;
  groups: number;
  /** Rows of `kernel` per group (dim for the fields, 1 for units). */
  rowsPerGroup: number;
}

/** The models UMEC prunes here, narrowed once so no later step needs a cast. */
export type UmecModel = DeepFmModel;

export function umecModel(model: CtrModel): UmecModel {
  if (model.kind !== 'deepfm' || model.config.mlp.length === 0) {
    throw new UsageError(
      `umec prunes DeepFM models with an MLP tower; this is ${model.kind === 'deepfm' ? 'a DeepFM without one' : `a ${model.kind} model`}`,
    );
  }
  // Layer norm's statistics run over every unit of a layer: removing units would change what
  // the kept ones output, so the smaller model would not be the one the search left.
  if (model.config.norm === 'layer') {
    throw new UsageError('umec prunes DeepFMs with batch norm or none; this one uses layer norm');
  }
  return model;
}

export function groupLayers(model: UmecModel): GroupLayer[] {
  const { config } = model;
  const F = fieldLayout(model.schema).numFields;
  const layers: GroupLayer[] = [
    { name: 'fields', kernel: 'mlp.0.kernel', groups: F, rowsPerGroup: config.dim },
  ];
  config.mlp.forEach((units, i) => {
    const next = i + 1 < config.mlp.length ? `mlp.${i + 1}.kernel` : 'output.kernel';
    layers.push({ name: `mlp.${i}`, kernel: next, groups: units, rowsPerGroup: 1 });
  });
  return layers;
}

/** Each group's squared norm, per layer. */
export function groupScores(weights: Weights, layers: readonly GroupLayer[]): Float32Array[] {
  return layers.map((layer) =>
    tf.tidy(() => {
      const kernel = weights[layer.kernel] as tf.Tensor2D;
      const rows = kernel.square().sum(1);
      return rows.reshape([layer.groups, layer.rowsPerGroup]).sum(1).dataSync() as Float32Array;
    }),
  );
}

/** Scales each group's kernel rows by its factor (1 leaves it): the proximal step. */
export function scaleGroups(
  weights: Record<string, tf.Variable>,
  layer: GroupLayer,
  factors: Float32Array,
): void {
  const kernel = weights[layer.kernel];
  if (!kernel) throw new Error(`no weight "${layer.kernel}"`);
  const rowFactors = new Float32Array(layer.groups * layer.rowsPerGroup);
  for (let g = 0; g < layer.groups; g++) {
    rowFactors.fill(factors[g] as number, g * layer.rowsPerGroup, (g + 1) * layer.rowsPerGroup);
  }
  kernel.assign(tf.tidy(() => kernel.mul(tf.tensor2d(rowFactors, [rowFactors.length, 1]))));
}

/** Which groups of each layer stay: index lists, ascending. */
export type KeptGroups = number[][];

/** Keeps all but the `counts[l]` lowest-score groups of each layer. */
export function keepHighest(
  scores: readonly ArrayLike<number>[],
  counts: readonly number[],
): KeptGroups {
  return scores.map((layerScores, l) => {
    const order = Array.from({ length: layerScores.length }, (_, i) => i).sort(
      (a, b) => (layerScores[a] as number) - (layerScores[b] as number) || a - b,
    );
    return order.slice(counts[l] as number).sort((a, b) => a - b);
  });
}

/** The schema and architecture a model has once only `kept` groups remain. */
export function prunedArchitecture(
  model: UmecModel,
  kept: KeptGroups,
): { config: DeepFmConfig; schema: CtrSchema } {
  const [fields, ...units] = kept;
  const schema: CtrSchema = {
    fields: (fields ?? []).map((f) => model.schema.fields[f] as CtrSchema['fields'][number]),
  };
  return { config: { ...model.config, mlp: units.map((u) => u.length) }, schema };
}

/** FLOPs of the model with `kept` groups, over the dense model's. */
export function flopsRatio(model: UmecModel, kept: KeptGroups): number {
  const { config, schema } = prunedArchitecture(model, kept);
  const dense = ctrFlops({ kind: 'deepfm', config: model.config }, model.schema);
  return ctrFlops({ kind: 'deepfm', config }, schema) / dense;
}
