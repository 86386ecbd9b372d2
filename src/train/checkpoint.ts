/**
 * Training checkpoints: the variables, the optimizer's moments and the loop's state, written
 * as one model package (kind "training-checkpoint") so a checkpoint is hashed and replaced
 * atomically like any package, and an interrupted run resumes from the last whole epoch.
 * Beside them, the tensors a model reads but never trains that were drawn for the run (a
 * RecJPQ table's codes), so that a resumed run reads them back instead of drawing them again.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PocketrecError } from '../errors.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { type PackageTensor, readModelPackage, tensorValues } from '../package/reader.ts';
import { buildModelPackage, type TensorSpec } from '../package/writer.ts';

export interface LoopState {
  /** Epochs finished. */
  epoch: number;
  bestScore: number;
  bestEpoch: number;
  evaluationsWithoutGain: number;
  history: EpochRecord[];
  trainSeconds: number;
  /** The learning rate after the last decay, where one has happened. */
  lr?: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  validation: number;
  seconds: number;
}

const KIND = 'training-checkpoint';
const FIXED = 'fixed/';

async function tensorSpecs(
  prefix: string,
  tensors: Record<string, tf.Tensor>,
): Promise<TensorSpec[]> {
  const specs: TensorSpec[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const data = await t.data();
    specs.push({
      name: `${prefix}${name}`,
      dtype: 'float32',
      shape: t.shape,
      // Adam's iteration count is an int32 scalar: stored as is, its bits would read back as
      // a tiny float and reset the bias correction on resume.
      data: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>),
    });
  }
  return specs;
}

export async function saveCheckpoint(
  dir: string,
  parts: {
    variables: Record<string, tf.Variable>;
    best: Record<string, Float32Array>;
    optimizer: tf.Optimizer;
    state: LoopState;
    config: Record<string, unknown>;
    /** Tensors the model reads but does not train, fixed for the run (LoopOptions.fixed). */
    fixed?: readonly TensorSpec[];
  },
): Promise<void> {
  const optimizerWeights = await parts.optimizer.getWeights();
  const tensors = [
    ...(parts.fixed ?? []).map((t) => ({ ...t, name: `${FIXED}${t.name}` })),
    ...(await tensorSpecs('current/', parts.variables)),
    ...Object.entries(parts.best).map(([name, data]) => ({
      name: `best/${name}`,
      dtype: 'float32' as const,
      shape: (parts.variables[name] as tf.Variable).shape,
      data,
    })),
    ...(await tensorSpecs(
      'optimizer/',
      Object.fromEntries(optimizerWeights.map((w, i) => [`${i}:${w.name}`, w.tensor])),
    )),
  ];
  const built = await buildModelPackage({
    kind: KIND,
    name: 'checkpoint',
    architecture: {},
    items: { count: 0 },
    training: { dataset: '', notes: JSON.stringify({ state: parts.state, config: parts.config }) },
    denseEquivalent: { params: tensors.reduce((n, t) => n + t.data.length, 0), embeddingParams: 0 },
    tensors,
  });
  await writePackageDirectory(dir, built.files);
}

export interface RestoredCheckpoint {
  state: LoopState;
  config: Record<string, unknown>;
  best: Record<string, Float32Array>;
}

/** Loads a checkpoint into the variables and optimizer; undefined when there is none. */
export async function loadCheckpoint(
  dir: string,
  variables: Record<string, tf.Variable>,
  optimizer: tf.Optimizer,
): Promise<RestoredCheckpoint | undefined> {
  if (!existsSync(join(dir, 'manifest.json'))) return undefined;
  const pkg = await readModelPackage(directorySource(dir));
  if (pkg.manifest.kind !== KIND) {
    throw new PocketrecError(
      'bad-checkpoint',
      `${dir} is a ${pkg.manifest.kind} package, not a checkpoint`,
    );
  }
  const { state, config } = JSON.parse(pkg.manifest.training.notes ?? '{}') as {
    state: LoopState;
    config: Record<string, unknown>;
  };
  const best: Record<string, Float32Array> = {};
  for (const [name, variable] of Object.entries(variables)) {
    const current = pkg.tensors.get(`current/${name}`);
    const bestTensor = pkg.tensors.get(`best/${name}`);
    if (!current || !bestTensor || current.shape.join() !== variable.shape.join()) {
      throw new PocketrecError(
        'bad-checkpoint',
        `checkpoint ${dir} does not match this model (variable "${name}"): train into a new --out`,
      );
    }
    variable.assign(tf.tensor(tensorValues(current), variable.shape));
    best[name] = tensorValues(bestTensor);
  }
  const optimizerWeights = [...pkg.tensors.values()]
    .filter((t) => t.name.startsWith('optimizer/'))
    .map((t) => {
      const [index, ...rest] = t.name.slice('optimizer/'.length).split(':');
      let values = tensorValues(t);
      // Checkpoints written before the fix above hold the iteration count's int32 bits.
      if (rest.join(':') === 'iter' && values.length === 1 && !Number.isInteger(values[0])) {
        values = Float32Array.from(new Int32Array(Float32Array.from(values).buffer));
      }
      return {
        index: Number(index),
        name: rest.join(':'),
        tensor: tf.tensor(values, t.shape),
      };
    })
    .sort((a, b) => a.index - b.index);
  await optimizer.setWeights(optimizerWeights.map(({ name, tensor }) => ({ name, tensor })));
  return { state, config, best };
}

/**
 * A tensor saved with `fixed` by the checkpoint in `dir`, as stored; undefined when there is
 * no checkpoint or it holds no such tensor.
 */
export async function loadFixedTensor(
  dir: string,
  name: string,
): Promise<PackageTensor | undefined> {
  if (!existsSync(join(dir, 'manifest.json'))) return undefined;
  const pkg = await readModelPackage(directorySource(dir));
  if (pkg.manifest.kind !== KIND) return undefined;
  return pkg.tensors.get(`${FIXED}${name}`);
}
