// Distilled fine-tuning of a cut SASRec encoder (src/compression/umec/sequence-finetune.ts):
// its loss is (1 − α)·CE + α·KL(uncut ‖ cut). Against the model itself as the uncut one the
// KL is 0, so the loss is (1 − α) times plain fine-tuning's full-softmax loss; against a
// different model it is more; at α = 0 it is plain fine-tuning's loss.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { teacherArrays } from '../../../src/compression/distill/distill.ts';
import {
  type LogitDistillationArgs,
  logitDistillationTask,
} from '../../../src/compression/distill/logit-distillation.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { seededRandom } from '../../../src/random.ts';
import { sequenceBatches } from '../../../src/train/batches.ts';
import { nextItemLoss, type SasrecTaskArgs } from '../../../src/train/train-sasrec.ts';

const CONFIG: SasrecConfig = {
  numItems: 30,
  dim: 8,
  maxLen: 5,
  blocks: 1,
  heads: 2,
  dropout: 0,
  positions: 'from-latest',
  readout: 'last',
  inner: [{ qk: 3, v: 2, ffn: 6 }],
};

function model(config: SasrecConfig, seed: number): SequentialModel {
  return {
    config,
    encoder: initEncoderWeights(config, seed),
    items: denseItemTable(
      tf.randomNormal([config.numItems + 1, config.dim], 0, 0.5, 'float32', seed),
    ),
  };
}

const sequences = [
  Int32Array.from([1, 4, 9, 16, 25, 3]),
  Int32Array.from([2, 3, 5, 7, 11, 13, 17]),
  Int32Array.from([30, 29, 28]),
];
const [batch] = sequenceBatches(sequences, { maxLen: 5, batchSize: 3, random: seededRandom(1) });
const student: SasrecTaskArgs = { modelConfig: CONFIG, loss: 'full', negatives: 8, seed: 3 };

async function lossOf(cut: SequentialModel, uncut: SequentialModel, alpha: number) {
  const args: LogitDistillationArgs = {
    student,
    teacher: teacherArrays(uncut),
    alpha,
    temperature: 1,
  };
  const task = logitDistillationTask(args, cut);
  const value = tf.tidy(() => task.loss(batch as never, 0).dataSync()[0] as number);
  return value;
}

describe('distilled fine-tuning of a cut encoder', () => {
  let cut: SequentialModel;
  beforeAll(async () => {
    await useWasmBackend();
    cut = model(CONFIG, 5);
  });
  const plain = () =>
    tf.tidy(
      () =>
        nextItemLoss(cut, batch as never, {
          loss: 'full',
          negatives: 8,
          seed: 0,
        }).dataSync()[0] as number,
    );

  it('against itself the KL is 0: (1 − α) times the full-softmax loss', async () => {
    expect(await lossOf(cut, cut, 0.8)).toBeCloseTo(0.2 * plain(), 4);
  });

  it('at α = 0 it is the full-softmax loss, whatever the uncut model', async () => {
    const uncut = model({ ...CONFIG, inner: undefined }, 9);
    expect(await lossOf(cut, uncut, 0)).toBeCloseTo(plain(), 4);
  });

  it('against a different (full-width) model the KL adds to the loss', async () => {
    const uncut = model({ ...CONFIG, inner: undefined }, 9);
    expect(await lossOf(cut, uncut, 0.8)).toBeGreaterThan(0.2 * plain() + 1e-3);
  });

  it('refuses the sampled loss: the KL is over every item', () => {
    expect(() =>
      logitDistillationTask(
        {
          student: { ...student, loss: 'sampled' },
          teacher: teacherArrays(cut),
          alpha: 0.5,
          temperature: 1,
        },
        cut,
      ),
    ).toThrow(/full softmax/);
  });
});
