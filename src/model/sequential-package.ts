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
import {
  encoderParamCount,
  encoderWeightShapes,
  POSITION_SCHEMES,
  type PositionScheme,
  READOUTS,
  type Readout,
  type SasrecConfig,
} from './sasrec.ts';
import type { SequentialModel } from './sequential.ts';
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

/** Reads the encoder configuration from a package's architecture. */
export function sasrecConfigOf(pkg: ModelPackage): SasrecConfig {
  const arch = pkg.manifest.architecture;
  const int = (key: string, min: number): number => {
    const v = arch[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new ModelPackageError(
        'bad-shape',
        pkg.manifest.name,
        `${pkg.manifest.kind}: architecture.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const config: SasrecConfig = {
    numItems: int('numItems', 1),
    dim: int('dim', 1),
    maxLen: int('maxLen', 1),
    blocks: int('blocks', 0),
    heads: int('heads', 1),
    dropout: typeof arch.dropout === 'number' ? arch.dropout : 0,
    // Packages from before the option were all trained right-aligned.
    positions: (arch.positions ?? 'from-latest') as PositionScheme,
    // And scored from the last position.
    readout: (arch.readout ?? 'last') as Readout,
  };
  if (!POSITION_SCHEMES.includes(config.positions)) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `architecture.positions must be one of ${POSITION_SCHEMES.join(', ')}, got ${JSON.stringify(arch.positions)}`,
    );
  }
  if (!READOUTS.includes(config.readout)) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `architecture.readout must be one of ${READOUTS.join(', ')}, got ${JSON.stringify(arch.readout)}`,
    );
  }
  if (config.numItems !== pkg.manifest.items.count) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `architecture.numItems ${config.numItems} differs from items.count ${pkg.manifest.items.count}`,
    );
  }
  if (config.dim % config.heads !== 0) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `dim ${config.dim} is not divisible by heads ${config.heads}`,
    );
  }
  return config;
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

function ttTableFromPackage(pkg: ModelPackage, config: SasrecConfig): ItemTable {
  const arch = pkg.manifest.architecture;
  const fail = (problem: string): never => {
    throw new ModelPackageError('bad-shape', pkg.manifest.name, `sequential-tt: ${problem}`);
  };
  const ints = (key: string): number[] => {
    const v = arch[key];
    if (
      !Array.isArray(v) ||
      v.length < 2 ||
      v.length > 3 ||
      !v.every((x) => Number.isInteger(x) && (x as number) > 0)
    ) {
      return fail(
        `architecture.${key} must list 2 or 3 positive integers, got ${JSON.stringify(v)}`,
      );
    }
    return v as number[];
  };
  let shape: TtShape;
  try {
    shape = {
      rows: ints('ttRows'),
      cols: ints('ttCols'),
      rank: Number(arch.ttRank),
      stp: Number(arch.ttStp),
    };
    const coreShapes = ttCoreShapes(shape);
    if (shape.cols.reduce((a, b) => a * b, 1) !== config.dim)
      fail(`ttCols multiply to ${shape.cols.reduce((a, b) => a * b, 1)}, not dim ${config.dim}`);
    const cores = coreShapes.map((coreShape, k) => packageTensor(pkg, ttCoreName(k), coreShape));
    return ttItemTable(cores, shape, config.numItems + 1);
  } catch (error) {
    if (error instanceof ModelPackageError) throw error;
    // An impossible shape (rank, STP factor, too few rows) is a package problem here.
    return fail((error as Error).message);
  }
}

/** Builds a model from a verified package, checking every tensor the kind needs. */
export function sequentialFromPackage(pkg: ModelPackage): SequentialModel {
  const config = sasrecConfigOf(pkg);
  const encoder: Record<string, tf.Tensor> = {};
  for (const [name, shape] of encoderWeightShapes(config)) {
    encoder[name] = packageTensor(pkg, name, shape);
  }
  let items: ItemTable;
  if (pkg.manifest.kind === 'sequential-dense') {
    items = denseItemTable(
      packageTensor(pkg, DENSE_TABLE, [config.numItems + 1, config.dim]) as tf.Tensor2D,
    );
  } else if (pkg.manifest.kind === 'sequential-tt') {
    items = ttTableFromPackage(pkg, config);
  } else {
    throw new ModelPackageError(
      'bad-manifest',
      pkg.manifest.name,
      `kind "${pkg.manifest.kind}" is not a sequential model this reader knows`,
    );
  }
  const repeatBonus = repeatBonusOf(pkg);
  return { config, encoder, items, ...(repeatBonus > 0 ? { repeatBonus } : {}) };
}

/** architecture.repeatBonus: absent (packages before it, or never tuned) is 0. */
function repeatBonusOf(pkg: ModelPackage): number {
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
