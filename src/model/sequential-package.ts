/**
 * Sequential models in the model package format: the SASRec encoder's tensors under their
 * own names, the item table's tensors marked `role: 'item-embedding'` (a RecJPQ table's
 * uint8 codes among them: they are part of what the table costs), and the
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
  JPQ_CODEBOOKS,
  JPQ_CODES,
  jpqItemTable,
  QR_QUOTIENT,
  QR_REMAINDER,
  qrItemTable,
  ttCoreName,
  ttItemTable,
} from './item-table.ts';
import type { JpqShape } from './jpq-codes.ts';
import { type QrShape, qrQuotientRows } from './qr-partition.ts';
import {
  encoderParamCount,
  encoderVariantProblem,
  encoderWeightShapes,
  innerWidthsProblem,
  type SasrecConfig,
  variantOf,
} from './sasrec.ts';
import type { SequentialModel } from './sequential.ts';
import { decodePrunedItemTable } from './sequential-pruned.ts';
import {
  checkJpqCodes,
  checkSequentialStructure,
  innerArchitecture,
  JPQ_CODES_DTYPE,
  JPQ_KEYS,
  QR_KEYS,
  repeatBonusOf,
  type SequentialItemTable,
} from './sequential-structure.ts';
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

/** A RecJPQ table's codes as the package stores them: one byte each, part of the table. */
export async function jpqCodesSpec(codes: tf.Tensor2D): Promise<TensorSpec> {
  return {
    name: JPQ_CODES,
    dtype: JPQ_CODES_DTYPE,
    shape: codes.shape,
    data: Uint8Array.from(await codes.data()),
    role: 'item-embedding',
  };
}

/** The package kind of each item table kind. */
const PACKAGE_KINDS = {
  dense: 'sequential-dense',
  tt: 'sequential-tt',
  jpq: 'sequential-jpq',
  qr: 'sequential-qr',
} as const satisfies Record<ItemTable['kind'], string>;

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
  const innerProblem = innerWidthsProblem(config) ?? encoderVariantProblem(config);
  if (innerProblem) throw new Error(`cannot write ${meta.name}: ${innerProblem}`);
  const tensors: TensorSpec[] = [];
  for (const [name] of encoderWeightShapes(config)) {
    tensors.push(await specOf(name, model.encoder[name] as tf.Tensor));
  }
  for (const [name, t] of Object.entries(items.weights)) {
    tensors.push(await specOf(name, t, 'item-embedding'));
  }
  if (items.jpq) tensors.push(await jpqCodesSpec(items.jpq.codes));
  const denseEmbedding = (config.numItems + 1) * config.dim;
  return {
    kind: PACKAGE_KINDS[items.kind],
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
      // How an imported teacher's encoder differs from pocketrec's (VARIANT_KEYS), if it does.
      ...(variantOf(config) as Record<string, ArchitectureValue>),
      // The blocks' inner widths, only when some block was narrowed (innerQk, innerV, innerFfn).
      ...innerArchitecture(config),
      ...(model.repeatBonus ? { repeatBonus: model.repeatBonus } : {}),
      ...itemTableArchitecture(items),
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

/** The architecture entries that describe a RecJPQ item table. */
export function jpqArchitecture(shape: JpqShape): Record<string, ArchitectureValue> {
  return { [JPQ_KEYS.splits]: shape.splits, [JPQ_KEYS.centroids]: shape.centroids };
}

/** The architecture entries that describe a quotient-remainder item table. */
export function qrArchitecture(shape: QrShape): Record<string, ArchitectureValue> {
  return { [QR_KEYS.buckets]: shape.buckets, [QR_KEYS.operation]: shape.operation };
}

/** The architecture entries of the table's own hyper-parameters (none for a dense table). */
export function itemTableArchitecture(items: ItemTable): Record<string, ArchitectureValue> {
  if (items.tt) return ttArchitecture(items.tt.shape);
  if (items.jpq) return jpqArchitecture(items.jpq);
  if (items.qr) return qrArchitecture(items.qr);
  return {};
}

/** What the structure check would say of the table `items` is (its kind and shape). */
export function itemTableStructure(items: ItemTable): SequentialItemTable {
  if (items.tt) return { kind: 'tt', shape: items.tt.shape };
  if (items.jpq) return { kind: 'jpq', splits: items.jpq.splits, centroids: items.jpq.centroids };
  if (items.qr) return { kind: 'qr', buckets: items.qr.buckets, operation: items.qr.operation };
  return { kind: 'dense' };
}

/**
 * A RecJPQ package's codes [numItems + 1, splits], each checked against its codebook's
 * rows (checkJpqCodes): the structure check has tied their shape and dtype to the manifest.
 */
export function jpqPackageCodes(pkg: ModelPackage, shape: JpqShape): Uint8Array {
  const codes = pkg.tensors.get(JPQ_CODES);
  if (!codes || codes.dtype !== JPQ_CODES_DTYPE) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `${pkg.manifest.kind}: tensor "${JPQ_CODES}" is missing or not ${JPQ_CODES_DTYPE}`,
    );
  }
  checkJpqCodes(pkg.manifest, codes.data, shape);
  return codes.data as Uint8Array;
}

/**
 * Builds a model from a verified package. The manifest's structure is checked first
 * (sequential-structure.ts), so no tensor is built for a package that does not fit.
 */
export function sequentialFromPackage(pkg: ModelPackage): SequentialModel {
  const { config, table, pruned } = checkSequentialStructure(pkg.manifest);
  const repeatBonus = repeatBonusOf(pkg);
  // The table first: a RecJPQ table's codes, or a pruned table's positions, are read, and so
  // checked, before any tensor is built. A pruned table is rebuilt dense once, here.
  const items = pruned
    ? denseItemTable(tf.tensor2d(decodePrunedItemTable(pkg, pruned), [pruned.rows, pruned.dim]))
    : itemTableFromPackage(pkg, config, table);
  const encoder: Record<string, tf.Tensor> = {};
  for (const [name, shape] of encoderWeightShapes(config)) {
    encoder[name] = packageTensor(pkg, name, shape);
  }
  return { config, encoder, items, ...(repeatBonus > 0 ? { repeatBonus } : {}) };
}

function itemTableFromPackage(
  pkg: ModelPackage,
  config: SasrecConfig,
  table: SequentialItemTable,
): ItemTable {
  const numRows = config.numItems + 1;
  switch (table.kind) {
    case 'dense':
      return denseItemTable(packageTensor(pkg, DENSE_TABLE, [numRows, config.dim]) as tf.Tensor2D);
    case 'tt': {
      const cores = ttCoreShapes(table.shape).map((shape, k) =>
        packageTensor(pkg, ttCoreName(k), shape),
      );
      return ttItemTable(cores, table.shape, numRows);
    }
    case 'jpq': {
      const codes = jpqPackageCodes(pkg, table);
      const { splits, centroids } = table;
      return jpqItemTable(
        packageTensor(pkg, JPQ_CODEBOOKS, [splits, centroids, config.dim / splits]) as tf.Tensor3D,
        tf.tensor2d(Int32Array.from(codes), [numRows, splits], 'int32'),
        numRows,
      );
    }
    case 'qr': {
      const { buckets, operation } = table;
      return qrItemTable(
        packageTensor(pkg, QR_QUOTIENT, [
          qrQuotientRows(numRows, buckets),
          config.dim,
        ]) as tf.Tensor2D,
        packageTensor(pkg, QR_REMAINDER, [buckets, config.dim]) as tf.Tensor2D,
        numRows,
        operation,
      );
    }
  }
}

export { repeatBonusOf };
