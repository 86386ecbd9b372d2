/**
 * CTR models in the model package format. A `ctr-dense` package holds every weight in
 * float32 under its name in the model's weight record, and in `architecture` the model
 * kind, its configuration and the field schema (keys: structure.ts), so the model can be
 * rebuilt without the data it was trained on.
 *
 * The field embedding table carries `role: 'item-embedding'`: the format's embedding size
 * figures count the tensors so marked, and this table is what CTR compression (Shaver)
 * prunes and reports against. It is not an item table (items.count is 0: a CTR model
 * scores rows of fields, not internal item ids).
 */
import type * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../../errors.ts';
import { ModelPackageError } from '../../package/errors.ts';
import type { ArchitectureValue } from '../../package/manifest.ts';
import { type ModelPackage, tensorValues } from '../../package/reader.ts';
import { type DenseEquivalent, elementCount } from '../../package/size.ts';
import type { PackageSpec, TensorSpec } from '../../package/writer.ts';
import { packageTensor } from '../sequential-package.ts';
import { type Weights, weight } from './layers.ts';
import type { CtrModel } from './model.ts';
import { idsPerRow } from './schema.ts';
import {
  CTR_EMBEDDING,
  type CtrStructure,
  checkCtrStructure,
  ctrWeightShapes,
} from './structure.ts';
import {
  encodeVocabulary,
  VOCABULARY_FILE,
  VOCABULARY_KEY,
  withPackagedVocabulary,
} from './vocabulary.ts';

export interface CtrPackageMeta {
  name: string;
  dataset: string;
  metrics?: Record<string, number>;
  notes?: string;
  /**
   * For a model cut down from a larger one (UMEC removes fields and units): that model's
   * FLOPs per row, recorded as the architecture's `unprunedFlops`, and its size, the
   * package's dense equivalent (absent: the package's own, as for a Shaver-pruned copy of a
   * cut-down model, whose bytes are set against the cut-down one).
   */
  unpruned?: { denseEquivalent?: DenseEquivalent; flops: number };
}

/** Where a package's FLOPs ratio is measured from: the unpruned model's, when it was cut down. */
export const UNPRUNED_FLOPS_KEY = 'unprunedFlops';

/** The architecture entries of a CTR model: its kind, configuration and schema. */
export function ctrArchitecture(structure: CtrStructure): Record<string, ArchitectureValue> {
  const { fields } = structure.schema;
  const numeric = (f: (typeof fields)[number]): number[] =>
    f.kind === 'numeric' ? (f.boundaries ?? []) : [];
  const schema: Record<string, ArchitectureValue> = {
    fieldNames: fields.map((f) => f.name),
    fieldKinds: fields.map((f) => f.kind),
    vocabularySizes: fields.map((f) => f.vocabularySize),
    maxValues: fields.map(idsPerRow),
    boundaryCounts: fields.map((f) => numeric(f).length),
    boundaries: fields.flatMap(numeric),
  };
  let config: Record<string, ArchitectureValue>;
  switch (structure.kind) {
    case 'fm':
      config = { dim: structure.config.dim };
      break;
    case 'deepfm': {
      const { dim, mlp, norm, dropout } = structure.config;
      config = { dim, mlp: [...mlp], norm, dropout };
      break;
    }
    case 'dcnv2': {
      const { dim, mlp, norm, dropout, crossLayers, cross, structure: stacking } = structure.config;
      config = {
        dim,
        mlp: [...mlp],
        norm,
        dropout,
        crossLayers,
        cross: cross.kind,
        ...(cross.kind === 'mixture' ? { crossRank: cross.rank, crossExperts: cross.experts } : {}),
        structure: stacking,
      };
      break;
    }
    case 'dlrm': {
      const { dim, mlp, norm, dropout, interaction } = structure.config;
      config = { dim, mlp: [...mlp], norm, dropout, interaction };
      break;
    }
  }
  return { model: structure.kind, ...config, ...schema };
}

/**
 * The package of a trained model. Its weight record must hold exactly the weights its kind
 * and configuration call for: a package that would not load again is refused here.
 * Synchronous: packages are written by the Node toolkit, whose WASM backend keeps weights in
 * CPU memory, so reading them blocks on no device.
 */
export function ctrPackageSpec(model: CtrModel, meta: CtrPackageMeta): PackageSpec {
  const shapes = ctrWeightShapes(model);
  const expected = new Set(shapes.map(([name]) => name));
  const stray = Object.keys(model.weights).find((name) => !expected.has(name));
  if (stray !== undefined) {
    throw new PocketrecError('bad-tensor', `weight "${stray}" is not part of this ${model.kind}`);
  }
  const tensors: TensorSpec[] = [];
  let params = 0;
  for (const [name, shape] of shapes) {
    const t: tf.Tensor = weight(model.weights, name);
    if (t.shape.join('x') !== shape.join('x')) {
      throw new PocketrecError(
        'bad-tensor',
        `weight "${name}" has shape [${t.shape}], this ${model.kind} needs [${shape}]`,
      );
    }
    tensors.push({
      name,
      dtype: 'float32',
      shape,
      data: t.dataSync<'float32'>(),
      ...(name === CTR_EMBEDDING ? { role: 'item-embedding' as const } : {}),
    });
    params += elementCount(shape);
  }
  const table = shapes.find(([name]) => name === CTR_EMBEDDING)?.[1] ?? [0];
  const vocabulary = encodeVocabulary(model.schema);
  return {
    kind: 'ctr-dense',
    name: meta.name,
    architecture: {
      ...ctrArchitecture(model),
      ...(vocabulary ? { [VOCABULARY_KEY]: VOCABULARY_FILE } : {}),
      ...(meta.unpruned ? { [UNPRUNED_FLOPS_KEY]: meta.unpruned.flops } : {}),
    },
    ...(vocabulary ? { attachments: new Map([[VOCABULARY_FILE, vocabulary]]) } : {}),
    items: { count: 0 },
    training: {
      dataset: meta.dataset,
      metrics: meta.metrics ?? {},
      ...(meta.notes ? { notes: meta.notes } : {}),
    },
    // A dense package is its own dense equivalent, unless it was cut down from another.
    denseEquivalent: meta.unpruned?.denseEquivalent ?? {
      params,
      embeddingParams: elementCount(table),
    },
    tensors,
  };
}

/**
 * The structure check (structure.ts), the vocabulary (vocabulary.ts: its values join the
 * schema) and the one check of values a CTR model needs: batch norm divides by
 * √(moving variance + ε), so a negative variance would turn every logit to NaN rather than
 * fail. What `pocketrec verify` runs; decodes only the moving variances.
 */
export function checkCtrPackage(pkg: ModelPackage): CtrStructure {
  const structure = checkCtrStructure(pkg.manifest);
  checkMovingVariances(pkg, structure);
  return { ...structure, schema: withPackagedVocabulary(pkg, structure.schema) };
}

/** Batch norm's moving variances, the one weight a finite value can still break (NaN logits). */
export function checkMovingVariances(pkg: ModelPackage, structure: CtrStructure): void {
  for (const [name] of ctrWeightShapes(structure)) {
    if (!name.endsWith('.movingVariance')) continue;
    const stored = pkg.tensors.get(name);
    const values = stored ? tensorValues(stored) : new Float32Array(0);
    const at = values.findIndex((v) => !(v >= 0));
    if (at >= 0) {
      throw new ModelPackageError(
        'bad-shape',
        pkg.manifest.name,
        `${pkg.manifest.kind}: tensor "${name}" holds the negative variance ${values[at]} at element ${at}`,
      );
    }
  }
}

/**
 * Builds a model from a verified package, checked first (checkCtrPackage), so no tensor is
 * built for a package that does not fit. Batch norm's moving statistics come back as plain
 * tensors like every other weight, which is what inference reads; a trainer that goes on
 * updating them wraps them in non-trainable variables (layers.ts).
 */
export function ctrFromPackage(pkg: ModelPackage): CtrModel {
  const structure = checkCtrPackage(pkg);
  const weights: Weights = {};
  for (const [name, shape] of ctrWeightShapes(structure)) {
    weights[name] = packageTensor(pkg, name, shape);
  }
  return { ...structure, weights };
}
