import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { sequentialScorer } from '../../../src/eval/sequential-scorer.ts';
import { leaveOneOut } from '../../../src/eval/splits.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import { sha256Hex } from '../../../src/package/digest.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import {
  encodeManifest,
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
} from '../../../src/package/manifest.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { readModelPackage, tensorValues } from '../../../src/package/reader.ts';
import { seededRandom } from '../../../src/random.ts';
import { sequenceBatches, trainingWindows } from '../../../src/train/batches.ts';
import type { EpochRecord } from '../../../src/train/checkpoint.ts';
import { runTrainingLoop } from '../../../src/train/loop.ts';
import { DEFAULT_TRAIN, type TrainConfig, trainSasrec } from '../../../src/train/train-sasrec.ts';

const NUM_ITEMS = 20;

/** 40 users who mostly step to the next item (mod 20), so there is something to learn. */
function syntheticSequences(): Int32Array[] {
  const random = seededRandom(17);
  return Array.from({ length: 40 }, (_, u) => {
    const length = 4 + (u % 6);
    let item = 1 + Math.floor(random() * NUM_ITEMS);
    return Int32Array.from({ length }, () => {
      const current = item;
      item = random() < 0.8 ? (item % NUM_ITEMS) + 1 : 1 + Math.floor(random() * NUM_ITEMS);
      return current;
    });
  });
}

const split = leaveOneOut(syntheticSequences());

const CONFIG: TrainConfig = {
  ...DEFAULT_TRAIN,
  dim: 8,
  maxLen: 5,
  blocks: 1,
  heads: 2,
  dropout: 0.2,
  epochs: 3,
  batchSize: 8,
  lr: 0.01,
  seed: 5,
  loss: 'full',
  negatives: 8,
  patience: 5,
  windows: 'all',
};

const validate = async (model: SequentialModel): Promise<number> => {
  const result = await evaluate(sequentialScorer(model), split.validation, {
    protocol: 'full',
    maskHistory: true,
  });
  return result.metrics['NDCG@10'] as number;
};

/** trainSasrec on the synthetic users with CONFIG changed by `overrides`. */
function trainInto(
  checkpointDir: string | undefined,
  overrides: Partial<TrainConfig> = {},
  hooks: { onEpoch?: (record: EpochRecord) => void } = {},
) {
  return trainSasrec(
    split.train,
    NUM_ITEMS,
    { ...CONFIG, ...overrides },
    {
      validate,
      ...(checkpointDir ? { checkpointDir } : {}),
      ...hooks,
    },
  );
}

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-resume-'));
let dirs = 0;
const newDir = () => join(scratch, `checkpoint-${dirs++}`);

beforeAll(async () => {
  await useWasmBackend();
});
afterEach(() => {
  tf.disposeVariables();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every weight of the model (encoder and item table) as plain arrays. */
async function weightsOf(model: SequentialModel): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries({ ...model.encoder, ...model.items.weights })) {
    out[name] = (await t.data()) as Float32Array;
  }
  return out;
}

/** Epoch records without their timings. */
const withoutTimes = (history: readonly EpochRecord[]) =>
  history.map(({ epoch, loss, validation }) => ({ epoch, loss, validation }));

/**
 * The attention key bias adds q·b to every score of a query, which the softmax ignores: its
 * gradient is rounding noise, which Adam scales up to full-size steps, so it wanders
 * differently on any change of rounding without changing any output. Compared by scores.
 */
const isKeyBias = (name: string) => name.endsWith('.attention.key.bias');

function expectClose(a: Record<string, Float32Array>, b: Record<string, Float32Array>, tol = 0) {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  let worst = 0;
  for (const [name, values] of Object.entries(a)) {
    if (isKeyBias(name)) continue;
    const other = b[name] as Float32Array;
    expect(other.length, name).toBe(values.length);
    for (let i = 0; i < values.length; i++) {
      worst = Math.max(worst, Math.abs((values[i] as number) - (other[i] as number)));
    }
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

async function rejection(run: Promise<unknown>): Promise<Error> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** Batches in one epoch of CONFIG. */
const BATCHES_PER_EPOCH = sequenceBatches(trainingWindows(split.train, CONFIG.maxLen, 'all'), {
  maxLen: CONFIG.maxLen,
  batchSize: CONFIG.batchSize,
  random: seededRandom(0),
}).length;

/** The optimizer's iteration count as stored in a checkpoint. */
async function storedIterations(dir: string): Promise<number> {
  const pkg = await readModelPackage(directorySource(dir));
  const iter = pkg.tensors.get('optimizer/0:iter');
  if (!iter) throw new Error('no iteration count in the checkpoint');
  return tensorValues(iter)[0] as number;
}

/** Rewrites the stored iteration count as its int32 bits, as checkpoints used to hold it. */
async function toLegacyIterations(dir: string): Promise<void> {
  const files = new Map<string, Uint8Array>(
    readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]),
  );
  const manifest = JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
  const entry = manifest.tensors.find((t) => t.name === 'optimizer/0:iter');
  if (!entry) throw new Error('no iteration count in the checkpoint');
  const bytes = files.get(entry.file) as Uint8Array;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(entry.offset, Math.round(view.getFloat32(entry.offset, true)), true);
  const file = manifest.files.find((f) => f.path === entry.file);
  if (!file) throw new Error(`no ${entry.file} in the manifest`);
  file.sha256 = await sha256Hex(bytes);
  files.set(MANIFEST_FILE, encodeManifest(await sealManifest(manifest)));
  await writePackageDirectory(dir, files);
}

describe('an interrupted training run resumes from its checkpoint', () => {
  let straight: Awaited<ReturnType<typeof trainSasrec>>;
  let straightWeights: Record<string, Float32Array>;
  let straightScores: Float32Array[];

  beforeAll(async () => {
    straight = await trainInto(newDir());
    straightWeights = await weightsOf(straight.model);
    straightScores = await scoreHistories(straight.model, split.validation.inputs);
    tf.disposeVariables();
  });

  /** Trains CONFIG into a new directory, stopping after epoch 1 as a killed run would. */
  async function interruptedRun(): Promise<string> {
    const dir = newDir();
    const interrupted = trainInto(
      dir,
      {},
      {
        onEpoch: (record) => {
          if (record.epoch === 1) throw new Error('interrupted after epoch 1');
        },
      },
    );
    expect((await rejection(interrupted)).message).toBe('interrupted after epoch 1');
    tf.disposeVariables();
    return dir;
  }

  async function expectSameAsStraight(dir: string): Promise<void> {
    const epochsSeen: number[] = [];
    const resumed = await trainInto(
      dir,
      {},
      { onEpoch: (record) => epochsSeen.push(record.epoch) },
    );
    expect(resumed.resumed).toBe(true);
    expect(epochsSeen).toEqual([2, 3]);
    // Not bitwise: tfjs's Adam.setWeights recomputes beta^t with pow, where an unbroken run
    // has multiplied beta in t times (float32), so the bias correction differs in the last bit.
    const history = withoutTimes(resumed.state.history);
    const expected = withoutTimes(straight.state.history);
    expect(history.map((r) => r.epoch)).toEqual(expected.map((r) => r.epoch));
    history.forEach((r, i) => {
      const e = expected[i] as (typeof expected)[number];
      expect(Math.abs(r.loss - e.loss)).toBeLessThanOrEqual(1e-6 * e.loss);
      expect(Math.abs(r.validation - e.validation)).toBeLessThanOrEqual(1e-6);
    });
    expect(resumed.state.bestEpoch).toBe(straight.state.bestEpoch);
    expect(resumed.state.bestScore).toBeCloseTo(straight.state.bestScore, 6);
    expectClose(resumed.best, straight.best, 1e-6);
    expectClose(await weightsOf(resumed.model), straightWeights, 1e-6);
    const scores = await scoreHistories(resumed.model, split.validation.inputs);
    let worst = 0;
    scores.forEach((row, r) => {
      const other = straightScores[r] as Float32Array;
      for (let i = 1; i < row.length; i++) {
        worst = Math.max(worst, Math.abs((row[i] as number) - (other[i] as number)));
      }
    });
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(await storedIterations(dir)).toBe(3 * BATCHES_PER_EPOCH);
  }

  it('ends with the same weights and history as a run that was never interrupted', async () => {
    expect(straight.resumed).toBe(false);
    expect(straight.state.epoch).toBe(3);
    const dir = await interruptedRun();
    // Adam's step count, which its bias correction depends on, is stored as a number.
    expect(await storedIterations(dir)).toBe(BATCHES_PER_EPOCH);
    await expectSameAsStraight(dir);
  });

  it('also from a checkpoint that holds the step count as int32 bits', async () => {
    const dir = await interruptedRun();
    await toLegacyIterations(dir);
    expect(await storedIterations(dir)).toBeLessThan(1e-30);
    await expectSameAsStraight(dir);
  });

  it('a finished run rerun with the same settings trains no more', async () => {
    const dir = newDir();
    const first = await trainInto(dir, { epochs: 1 });
    const firstWeights = await weightsOf(first.model);
    tf.disposeVariables();
    let epochs = 0;
    const again = await trainInto(dir, { epochs: 1 }, { onEpoch: () => epochs++ });
    expect(again.resumed).toBe(true);
    expect(epochs).toBe(0);
    expect(withoutTimes(again.state.history)).toEqual(withoutTimes(first.state.history));
    expectClose(await weightsOf(again.model), firstWeights);
  });
});

describe('checkpoints that cannot be resumed', () => {
  let dir: string;

  /** A fresh one-epoch checkpoint. */
  async function checkpoint(): Promise<string> {
    const out = newDir();
    await trainInto(out, { epochs: 1 });
    tf.disposeVariables();
    return out;
  }

  beforeAll(async () => {
    dir = await checkpoint();
  });

  it('other settings are refused, naming the setting that differs', async () => {
    const error = await rejection(trainInto(dir, { epochs: 1, lr: 0.02 }));
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('bad-checkpoint');
    expect(error.message).toBe(
      `checkpoint ${dir} was made with other settings: lr 0.01 (now 0.02); ` +
        'remove it or use the same settings',
    );
  });

  it('a larger --epochs or --patience is not other settings: training goes on', async () => {
    const out = await checkpoint();
    const epochsSeen: number[] = [];
    const more = await trainInto(
      out,
      { epochs: 2, patience: 9 },
      { onEpoch: (record) => epochsSeen.push(record.epoch) },
    );
    expect(more.resumed).toBe(true);
    expect(epochsSeen).toEqual([2]);
    const error = await rejection(trainInto(out, { epochs: 3, windows: 'latest' }));
    expect(error.message).toContain('other settings: windows "all" (now "latest"); remove it');
  });

  it('another model shape is refused, naming a variable', async () => {
    const error = await rejection(trainInto(dir, { epochs: 1, dim: 4 }));
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('bad-checkpoint');
    expect(error.message).toMatch(/does not match this model \(variable "positions"\)/);
  });

  it('a corrupted weights file is a ModelPackageError naming the file', async () => {
    const copy = await checkpoint();
    const weights = join(copy, 'weights-0.bin');
    const bytes = readFileSync(weights);
    bytes[100] = (bytes[100] as number) ^ 0x10;
    writeFileSync(weights, bytes);
    const error = await rejection(trainInto(copy, { epochs: 1 }));
    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('hash-mismatch');
    expect((error as ModelPackageError).file).toBe(weights);
    expect(error.message).toContain('the file is corrupt');
  });

  it('a truncated manifest is a ModelPackageError naming the manifest', async () => {
    const copy = await checkpoint();
    const manifest = join(copy, 'manifest.json');
    writeFileSync(manifest, readFileSync(manifest).subarray(0, 200));
    const error = await rejection(trainInto(copy, { epochs: 1 }));
    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('bad-manifest');
    expect((error as ModelPackageError).file).toBe(manifest);
  });
});

/** A three-weight model whose loss turns NaN at step `badStep` (never, by default). */
function quadratic(options: { dir?: string; badStep?: number; config?: Record<string, unknown> }) {
  const x = tf.variable(tf.tensor1d([1, -2, 3]), true, `x#${Math.random()}`);
  return runTrainingLoop<number>({
    variables: { x },
    optimizer: tf.train.adam(0.1),
    epochs: 4,
    patience: 10,
    batches: () => [0, 1, 2],
    loss: (_batch, step) =>
      tf.tidy(() => {
        const loss = x.square().sum();
        return (step === options.badStep ? loss.mul(Number.NaN) : loss) as tf.Scalar;
      }),
    validate: async () => -((await x.square().sum().data())[0] as number),
    config: options.config ?? { kind: 'quadratic' },
    ...(options.dir ? { checkpointDir: options.dir } : {}),
  });
}

describe('runTrainingLoop settings', () => {
  it('compares settings key by key, not by their order', async () => {
    const dir = newDir();
    await quadratic({ dir, config: { a: 1, b: [2, 3] } });
    const again = await quadratic({ dir, config: { b: [2, 3], a: 1 } });
    expect(again.resumed).toBe(true);
    const error = await rejection(quadratic({ dir, config: { b: [3, 2], c: true } }));
    expect(error.message).toContain('settings: a 1 (now undefined), b [2,3] (now [3,2]), c ');
  });
});

describe('a diverging run stops with a clear error', () => {
  it('a NaN loss names the epoch and batch, and leaves the last checkpoint as it was', async () => {
    const dir = newDir();
    const error = await rejection(quadratic({ dir, badStep: 4 }));
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('diverged');
    expect(error.message).toBe('training diverged: loss NaN at epoch 2, batch 2');
    // The checkpoint still holds epoch 1: fix the settings and rerun.
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
    const notes = JSON.parse(manifest.training.notes ?? '{}') as { state: { epoch: number } };
    expect(notes.state.epoch).toBe(1);
  });

  it('SASRec with a huge learning rate', async () => {
    // (lr 1e6 does not do it: LayerNorm keeps the loss finite, near 66.)
    const error = await rejection(trainInto(undefined, { lr: 1e20 }));
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('diverged');
    expect(error.message).toBe('training diverged: loss NaN at epoch 1, batch 2');
  });
});
