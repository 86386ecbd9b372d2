/**
 * The structured groups UMEC prunes in a CTR model, and what removing them leaves.
 *
 * Layer 0 is the fields: a field's group is every input row of the first layer after the
 * embeddings that reads the field, and removing it takes the field out of the model
 * altogether: its table, look-ups and whatever else reads its vector. Layer i ≥ 1 is the
 * hidden units of `mlp.<i-1>`: a unit's group is its input row of the next kernel
 * (`mlp.<i>.kernel`, or `output.kernel` after the last), as in the public code, and removing
 * it removes its column, bias and norm entries too. A group's score is its squared norm.
 *
 * - DeepFM: `mlp.0` reads the concatenated field vectors, so a field's rows are its `dim`
 *   rows of `mlp.0.kernel`; removing it also removes its first-order weights and FM terms.
 *   This is the setting of the paper's DLRM with the "cat" interaction.
 * - DLRM: the top MLP reads the interaction (dlrm.ts). With 'cat' a field's rows are its
 *   `dim` rows, as for DeepFM; with 'dot' they are also the row of every dot product
 *   <v_i, v_j> with i or j the field, so fields' groups share rows: the row of <v_i, v_j>
 *   belongs to both i's and j's group, and goes when either field goes. The remaining dot
 *   products keep the i < j row-major order of the remaining fields, which is what the
 *   smaller DLRM's own pairwiseDots computes.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.ts';
import type { DeepFmConfig, DeepFmModel } from '../../model/ctr/deepfm.ts';
import type { DlrmConfig, DlrmModel } from '../../model/ctr/dlrm.ts';
import { fieldLayout } from '../../model/ctr/field-embedding.ts';
import { ctrFlops } from '../../model/ctr/flops.ts';
import type { Weights } from '../../model/ctr/layers.ts';
import type { CtrModel } from '../../model/ctr/model.ts';
import type { CtrSchema } from '../../model/ctr/schema.ts';

/** A prunable layer: its name for display, and the kernel rows of each of its groups. */
export interface GroupLayer {
  name: string;
  /** The kernel whose input rows the groups are. */
  kernel: string;
  /** How many groups: `rows.length`. */
  groups: number;
  /**
   * Each group's rows of `kernel`, ascending. A field's are its `dim` rows, and for DLRM's
   * 'dot' the rows of its dot products, which it shares with the other field of each pair;
   * a unit's is its one row.
   */
  rows: number[][];
}

/** The models UMEC prunes here, narrowed once so no later step needs a cast. */
export type UmecModel = DeepFmModel | DlrmModel;

/** A UmecModel without its weights and schema. */
export type UmecArchitecture =
  | { kind: 'deepfm'; config: DeepFmConfig }
  | { kind: 'dlrm'; config: DlrmConfig };

const KIND_NAMES: Record<UmecModel['kind'], string> = { deepfm: 'DeepFM', dlrm: 'DLRM' };

export function umecModel(model: CtrModel): UmecModel {
  if (model.kind !== 'deepfm' && model.kind !== 'dlrm') {
    throw new UsageError(
      `umec prunes DeepFM and DLRM models with an MLP tower; this is a ${model.kind} model`,
    );
  }
  if (model.config.mlp.length === 0) {
    throw new UsageError(
      `umec prunes DeepFM and DLRM models with an MLP tower; this is a ${KIND_NAMES[model.kind]} without one`,
    );
  }
  // Layer norm's statistics run over every unit of a layer: removing units would change what
  // the kept ones output, so the smaller model would not be the one the search left.
  if (model.config.norm === 'layer') {
    throw new UsageError(
      `umec prunes ${KIND_NAMES[model.kind]}s with batch norm or none; this one uses layer norm`,
    );
  }
  return model;
}

const range = (start: number, end: number): number[] =>
  Array.from({ length: end - start }, (_, k) => start + k);

/**
 * Where the dot product <v_i, v_j> (i ≠ j) of F fields sits among the F(F − 1)/2 of them:
 * pairs i < j, row-major (dlrm.ts upperTrianglePairs).
 */
export function pairIndex(i: number, j: number, numFields: number): number {
  const [a, b] = i < j ? [i, j] : [j, i];
  return (a * (2 * numFields - a - 1)) / 2 + (b - a - 1);
}

/** Each field's rows of `mlp.0.kernel`, ascending (see the header). */
export function fieldRows(model: UmecModel): number[][] {
  const F = fieldLayout(model.schema).numFields;
  const { dim } = model.config;
  const dots = model.kind === 'dlrm' && model.config.interaction === 'dot';
  return range(0, F).map((f) => {
    const own = range(f * dim, (f + 1) * dim);
    if (!dots) return own;
    // Pairs (i, f) for i < f come before (f, j) for j > f in row-major order.
    const partners = range(0, F).filter((g) => g !== f);
    return [...own, ...partners.map((g) => F * dim + pairIndex(f, g, F))];
  });
}

export function groupLayers(model: UmecModel): GroupLayer[] {
  const { config } = model;
  const fields = fieldRows(model);
  const layers: GroupLayer[] = [
    { name: 'fields', kernel: 'mlp.0.kernel', groups: fields.length, rows: fields },
  ];
  config.mlp.forEach((units, i) => {
    const next = i + 1 < config.mlp.length ? `mlp.${i + 1}.kernel` : 'output.kernel';
    layers.push({
      name: `mlp.${i}`,
      kernel: next,
      groups: units,
      rows: range(0, units).map((u) => [u]),
    });
  });
  return layers;
}

/** Each group's weight count, per layer: its rows of the layer's kernel times its columns. */
export function groupElements(model: UmecModel, layers: readonly GroupLayer[]): Float32Array[] {
  return layers.map((layer) => {
    const kernel = model.weights[layer.kernel];
    if (!kernel) throw new Error(`no weight "${layer.kernel}"`);
    const columns = kernel.shape[1] as number;
    return Float32Array.from(layer.rows, (rows) => rows.length * columns);
  });
}

/** Each group's squared norm, per layer. */
export function groupScores(weights: Weights, layers: readonly GroupLayer[]): Float32Array[] {
  return layers.map((layer) => {
    const kernel = weights[layer.kernel];
    if (!kernel) throw new Error(`no weight "${layer.kernel}"`);
    const rowNorms = tf.tidy(() => kernel.square().sum(1).dataSync());
    return Float32Array.from(layer.rows, (rows) => {
      let sum = 0;
      for (const r of rows) sum += rowNorms[r] as number;
      return sum;
    });
  });
}

/**
 * Scales each group's kernel rows by its factor (1 leaves it): the proximal step. A row in
 * several groups (a DLRM dot product) is scaled by each of their factors in turn, their
 * product, so a row of a group scaled to zero is zero.
 */
export function scaleGroups(
  weights: Record<string, tf.Variable>,
  layer: GroupLayer,
  factors: Float32Array,
): void {
  const kernel = weights[layer.kernel];
  if (!kernel) throw new Error(`no weight "${layer.kernel}"`);
  const rowFactors = new Float32Array(kernel.shape[0] ?? 0).fill(1);
  layer.rows.forEach((rows, g) => {
    for (const r of rows) rowFactors[r] = (rowFactors[r] as number) * (factors[g] as number);
  });
  // Inside tidy, so the product assign copies from is freed (assign takes its own reference).
  tf.tidy(() => kernel.assign(kernel.mul(tf.tensor2d(rowFactors, [rowFactors.length, 1]))));
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

/** The model's kind, architecture and schema once only `kept` groups remain. */
export function prunedArchitecture(
  model: UmecModel,
  kept: KeptGroups,
): UmecArchitecture & { schema: CtrSchema } {
  const [fields, ...units] = kept;
  const schema: CtrSchema = {
    fields: (fields ?? []).map((f) => model.schema.fields[f] as CtrSchema['fields'][number]),
  };
  const mlp = units.map((u) => u.length);
  return model.kind === 'deepfm'
    ? { kind: 'deepfm', config: { ...model.config, mlp }, schema }
    : { kind: 'dlrm', config: { ...model.config, mlp }, schema };
}

/** FLOPs of the model with `kept` groups, over the dense model's. */
export function flopsRatio(model: UmecModel, kept: KeptGroups): number {
  const pruned = prunedArchitecture(model, kept);
  return ctrFlops(pruned, pruned.schema) / ctrFlops(model, model.schema);
}
