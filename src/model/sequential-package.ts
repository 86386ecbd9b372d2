/**
 * Sequential models in the model package format: the SASRec encoder's tensors under their
 * own names, the item table's tensors marked `role: 'item-embedding'`, and the
 * hyper-parameters in `architecture`. Reading checks every tensor the kind needs against
 * the shapes its architecture implies, so a package that verifies but does not fit the
 * model is refused before any inference.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelPackageError } from '../package/errors.ts';
import type { ArchitectureValue } from '../package/manifest.ts';
import { type ModelPackage, tensorValues } from '../package/reader.ts';
import type { PackageSpec, TensorSpec } from '../package/writer.ts';
import {
  DENSE_TABLE,
  denseItemTable,
  type ItemTable,
  ttCoreName,
  ttItemTable,
} from './item-table.ts';
import { encoderParamCount, encoderWeightShapes, innerWidthsProblem } from './sasrec.ts';
import type { SequentialModel } from './sequential.ts';
import { checkSequentialStructure, innerArchitecture } from './sequential-structure.ts';
import { type TtShape, ttCoreShapes } from './tt-matrix.ts';

export interface SequentialPackageMeta {
  name: string;
  dataset: string;
  itemIds?: readonly string[];
  metrics?: Record<string, number>;
  notes?: string;
  /** Extra architecture entries (the item table's own hyper-parameters). */
  architecture?: Record<string, ArchitectureValue>;
}

async function specOf(name: string, t: tf.Tensor, role?: 'item-embedding'): Promise<TensorSpec> {
  return {
    name,
    dtype: 'float32',
    shape: t.shape,
    data: (await t.data()) as Float32Array,
    ...(role ? { role } : {}),
  };
}

export async function sequentialPackageSpec(
  model: SequentialModel,
  meta: SequentialPackageMeta,
): Promise<PackageSpec> {
  const { config, items } = model;
  const innerProblem = innerWidthsProblem(config);
  if (innerProblem) throw new Error(`cannot write ${meta.name}: ${innerProblem}`);
  const tensors: TensorSpec[] = [];
  for (const [name] of encoderWeightShapes(config)) {
    tensors.push(await specOf(name, model.encoder[name] as tf.Tensor));
  }
  for (const [name, t] of Object.entries(items.weights)) {
    tensors.push(await specOf(name, t, 'item-embedding'));
  }
  const denseEmbedding = (config.numItems + 1) * config.dim;
  return {
    kind: items.kind === 'tt' ? 'sequential-tt' : 'sequential-dense',
    name: meta.name,
    architecture: {
      numItems: config.numItems,
      dim: config.dim,
      maxLen: config.maxLen,
      blocks: config.blocks,
      heads: config.heads,
      dropout: config.dropout,
      positions: config.positions,
      readout: config.readout,
      // The blocks' inner widths, only when some block was narrowed (innerQk, innerV, innerFfn).
      ...innerArchitecture(config),
      ...(model.repeatBonus ? { repeatBonus: model.repeatBonus } : {}),
      ...meta.architecture,
    },
    items: { count: config.numItems, ...(meta.itemIds ? { ids: meta.itemIds } : {}) },
    training: {
      dataset: meta.dataset,
      metrics: meta.metrics ?? {},
      ...(meta.notes ? { notes: meta.notes } : {}),
    },
    denseEquivalent: {
      params: encoderParamCount(config) + denseEmbedding,
      embeddingParams: denseEmbedding,
    },
    tensors,
  };
}

/** A tensor of the package with exactly the expected shape, as a float32 tf tensor. */
export function packageTensor(
  pkg: ModelPackage,
  name: string,
  shape: readonly number[],
): tf.Tensor {
  const t = pkg.tensors.get(name);
  if (!t) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `${pkg.manifest.kind}: tensor "${name}" is missing`,
    );
  }
  if (t.shape.join('x') !== shape.join('x')) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `${pkg.manifest.kind}: tensor "${name}" has shape [${t.shape}], expected [${shape}]`,
    );
  }
  return tf.tensor(tensorValues(t), [...shape], 'float32');
}

/** The architecture entries that describe a tensor-train item table. */
export function ttArchitecture(shape: TtShape): Record<string, ArchitectureValue> {
  return { ttRows: shape.rows, ttCols: shape.cols, ttRank: shape.rank, ttStp: shape.stp };
}

/**
 * Builds a model from a verified package. The manifest's structure is checked first
 * (sequential-structure.ts), so no tensor is built for a package that does not fit.
 */
export function sequentialFromPackage(pkg: ModelPackage): SequentialModel {
  const { config, table } = checkSequentialStructure(pkg.manifest);
  const repeatBonus = repeatBonusOf(pkg);
  const encoder: Record<string, tf.Tensor> = {};
  for (const [name, shape] of encoderWeightShapes(config)) {
    encoder[name] = packageTensor(pkg, name, shape);
  }
  let items: ItemTable;
  if (table.kind === 'dense') {
    items = denseItemTable(
      packageTensor(pkg, DENSE_TABLE, [config.numItems + 1, config.dim]) as tf.Tensor2D,
    );
  } else {
    const cores = ttCoreShapes(table.shape).map((shape, k) =>
      packageTensor(pkg, ttCoreName(k), shape),
    );
    items = ttItemTable(cores, table.shape, config.numItems + 1);
  }
  return { config, encoder, items, ...(repeatBonus > 0 ? { repeatBonus } : {}) };
}

/** architecture.repeatBonus: absent (packages before it, or never tuned) is 0. */
export function repeatBonusOf(pkg: ModelPackage): number {
  const v = pkg.manifest.architecture.repeatBonus ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `architecture.repeatBonus must be a number >= 0, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}
