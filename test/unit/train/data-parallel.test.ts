import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DISTILL,
  type DistillConfig,
  distillationTask,
  distillationWorkerTask,
  hotItemMask,
} from '../../../src/compression/distill/distill.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import type { SasrecConfig } from '../../../src/model/sasrec.ts';
import { initTtCores } from '../../../src/model/tt-matrix.ts';
import { seededRandom } from '../../../src/random.ts';
import { type SequenceBatch, sequenceBatches, splitBatch } from '../../../src/train/batches.ts';
import {
  dataParallelStep,
  type GradientTask,
  GradientWorkers,
  sequenceParallel,
  type TrainingTask,
} from '../../../src/train/data-parallel.ts';
import { type SasrecTaskArgs, sasrecTask } from '../../../src/train/train-sasrec.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const modelConfig: SasrecConfig = {
  numItems: 40,
  dim: 8,
  maxLen: 7,
  blocks: 1,
  heads: 2,
  // No dropout: each part draws its own masks, so only then are the two paths equal.
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};

function sequences(count: number, seed: number): Int32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () =>
    Int32Array.from(
      { length: 2 + Math.floor(random() * 9) },
      () => 1 + Math.floor(random() * modelConfig.numItems),
    ),
  );
}

function firstBatch(seqs: Int32Array[], batchSize: number): SequenceBatch {
  return sequenceBatches(seqs, {
    maxLen: modelConfig.maxLen,
    batchSize,
    random: seededRandom(3),
  })[0] as SequenceBatch;
}

function valuesOf(variables: Record<string, tf.Variable>): Record<string, Float32Array> {
  return Object.fromEntries(
    Object.entries(variables).map(([k, v]) => [k, v.dataSync() as Float32Array]),
  );
}

function maxDifference(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let max = 0;
  for (const [name, values] of Object.entries(a)) {
    const other = b[name] as Float32Array;
    values.forEach((v, i) => {
      max = Math.max(max, Math.abs(v - (other[i] as number)));
    });
  }
  return max;
}

/**
 * One SGD step on the whole batch on this thread, and one data-parallel step from the same
 * weights with `workers` worker threads: the weights after each, and the two losses.
 */
async function bothSteps(
  build: () => TrainingTask<SequenceBatch>,
  gradientTask: GradientTask,
  batch: SequenceBatch,
  workers: number,
) {
  const alone = build();
  const shared = build();
  // Weights a worker's own build does not start from: it has to take the main thread's.
  let seed = 11;
  for (const name of Object.keys(alone.variables)) {
    const v = alone.variables[name] as tf.Variable;
    const moved = v.add(tf.randomNormal(v.shape, 0, 0.05, 'float32', seed++));
    v.assign(moved);
    (shared.variables[name] as tf.Variable).assign(moved);
  }
  const before = valuesOf(alone.variables);

  const lossAlone = tf.train.sgd(0.5).minimize(() => alone.loss(batch, 0), true) as tf.Scalar;
  const pool = await GradientWorkers.start(workers, gradientTask);
  try {
    const lossShared = await dataParallelStep(
      sequenceParallel(pool),
      shared.variables,
      tf.train.sgd(0.5),
      shared.loss,
      batch,
      0,
    );
    return {
      alone: valuesOf(alone.variables),
      shared: valuesOf(shared.variables),
      before,
      lossAlone: lossAlone.dataSync()[0] as number,
      lossShared,
    };
  } finally {
    await pool.close();
  }
}

describe('splitBatch', () => {
  it('splits by rows, every target kept once at its own row and column', () => {
    const batch = firstBatch(sequences(7, 1), 7);
    const parts = splitBatch(batch, 3);
    expect(parts.map((p) => p.size)).toEqual([2, 2, 3]);
    expect(parts.flatMap((p) => [...p.users])).toEqual([...batch.users]);
    expect(parts.reduce((n, p) => n + p.targets.length, 0)).toBe(batch.targets.length);
    let row = 0;
    let k = 0;
    for (const part of parts) {
      expect(part.ids).toEqual(
        batch.ids.slice(row * batch.length, (row + part.size) * batch.length),
      );
      part.positions.forEach((p, i) => {
        expect(p + row * batch.length).toBe(batch.positions[k]);
        expect(part.targets[i]).toBe(batch.targets[k]);
        k++;
      });
      row += part.size;
    }
  });

  it('never makes an empty part', () => {
    const batch = firstBatch(sequences(2, 2), 2);
    expect(splitBatch(batch, 5).map((p) => p.size)).toEqual([1, 1]);
  });
});

describe('data-parallel training step', () => {
  const args: SasrecTaskArgs = { modelConfig, loss: 'full', negatives: 0, seed: 5 };
  const teacherTask: GradientTask = {
    module: new URL('../../../src/train/train-sasrec.ts', import.meta.url).href,
    builder: 'sasrecTask',
    args,
  };

  it.each([1, 2])('with %i worker(s) takes the whole batch step of one thread', async (n) => {
    const batch = firstBatch(sequences(9, 4), 9);
    const r = await bothSteps(() => sasrecTask(args), teacherTask, batch, n);
    // The step moved the weights, and both paths moved them alike.
    expect(maxDifference(r.alone, r.before)).toBeGreaterThan(1e-3);
    expect(maxDifference(r.alone, r.shared)).toBeLessThan(1e-5);
    expect(r.lossShared).toBeCloseTo(r.lossAlone, 5);
  });

  it('distils in parallel with the loss of one thread (KL and cross-entropy)', async () => {
    const teacher = sasrecTask(args).model;
    const train = sequences(12, 6);
    const config: DistillConfig = {
      ...DEFAULT_DISTILL,
      shape: { rows: [6, 7], cols: [2, 4], rank: 4, stp: 2 },
      // InfoNCE and the views' prediction compare a batch's sessions with each other, so
      // a part sees other negatives than the whole batch: they are off here.
      beta: 0,
      gamma: 0,
    };
    const hot = hotItemMask(train, modelConfig.numItems, config.hotFraction);
    const cores = initTtCores(config.shape, { seed: 1, std: 0.3 });
    const gradientTask: GradientTask = {
      module: new URL('../../../src/compression/distill/distill.ts', import.meta.url).href,
      builder: 'distillationWorkerTask',
      args: {
        teacher: {
          config: modelConfig,
          encoder: valuesOf(teacher.encoder as Record<string, tf.Variable>),
          table: teacher.items.materialise().dataSync() as Float32Array,
        },
        hot,
        config,
      },
    };
    // The worker's own builder, here on this thread, gives the same variables by name.
    expect(
      Object.keys(distillationWorkerTask(gradientTask.args as never).variables).sort(),
    ).toEqual(
      Object.keys(
        distillationTask(teacher, hot, config, { encoder: teacher.encoder, cores }).variables,
      ).sort(),
    );
    const batch = firstBatch(train, 12);
    const r = await bothSteps(
      () => distillationTask(teacher, hot, config, { encoder: teacher.encoder, cores }),
      gradientTask,
      batch,
      1,
    );
    expect(maxDifference(r.alone, r.before)).toBeGreaterThan(1e-3);
    expect(maxDifference(r.alone, r.shared)).toBeLessThan(1e-5);
    expect(r.lossShared).toBeCloseTo(r.lossAlone, 5);
  });
});

describe('a failing worker', () => {
  const fixtures = new URL('./gradient-tasks.ts', import.meta.url).href;
  const step = async (builder: string, args: unknown) => {
    const pool = await GradientWorkers.start(1, { module: fixtures, builder, args });
    try {
      return await pool.gradients([0], 0, { w: new Float32Array([1]) });
    } finally {
      await pool.close();
    }
  };
  const failure = async (promise: Promise<unknown>): Promise<PocketrecError> => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('worker-failed');
    return error as PocketrecError;
  };

  it('that cannot build its task fails the start, naming why', async () => {
    const error = await failure(step('failingBuilder', null));
    expect(error.message).toMatch(/this task cannot be built/);
  });

  it('that names no exported builder fails the start', async () => {
    const error = await failure(step('noSuchBuilder', null));
    expect(error.message).toMatch(/exports no function "noSuchBuilder"/);
  });

  it('whose loss throws fails the step with its message', async () => {
    const error = await failure(step('throwingLossTask', { message: 'loss went wrong' }));
    expect(error.message).toMatch(/loss went wrong/);
  });

  it('whose thread exits fails the step with the exit code', async () => {
    const error = await failure(step('exitingLossTask', { code: 3 }));
    expect(error.message).toMatch(/exited with code 3/);
  });
});
