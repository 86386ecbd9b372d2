// trainCtr on the Criteo sample: the run is reproducible from its seed, resumes from its
// checkpoint as if never stopped, and keeps the batch-norm moving statistics with the weights.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CtrFieldData, loadCtrFields } from '../../../src/data/ctr/index.ts';
import { auc } from '../../../src/eval/ctr-metrics.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { weight } from '../../../src/model/ctr/layers.ts';
import { withEmbedding } from '../../../src/model/ctr/model.ts';
import { weightValues } from '../../../src/model/ctr/model-data.ts';
import { ctrProbabilities } from '../../../src/model/ctr/score.ts';
import {
  type CtrTrainConfig,
  configOfModel,
  DEFAULT_CTR_TRAIN,
  trainCtr,
} from '../../../src/train/train-ctr.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-train-ctr-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CONFIG: CtrTrainConfig = {
  ...DEFAULT_CTR_TRAIN,
  model: 'deepfm',
  dim: 4,
  mlp: [8],
  norm: 'batch',
  batchSize: 32,
  epochs: 2,
  patience: 5,
};

let data: CtrFieldData;
beforeAll(async () => {
  await useWasmBackend();
  data = await loadCtrFields('criteo-sample');
});

async function run(config: CtrTrainConfig, checkpointDir?: string) {
  const result = await trainCtr(data, config, checkpointDir ? { checkpointDir } : {});
  const scores = await ctrProbabilities(result.model, data.test);
  const moving = result.model.weights['mlp.0.norm.movingMean'];
  const movingMean = moving ? Array.from(await moving.data()) : [];
  tf.disposeVariables();
  return { result, scores, movingMean };
}

describe('trainCtr', () => {
  it('gives the same model from the same seed', async () => {
    const a = await run(CONFIG);
    const b = await run(CONFIG);
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    expect(b.result.state.history.map((h) => h.loss)).toEqual(
      a.result.state.history.map((h) => h.loss),
    );
  });

  it('moves the batch-norm statistics away from their start (mean 0) and keeps them', async () => {
    const { movingMean } = await run(CONFIG);
    expect(movingMean.length).toBe(8);
    expect(movingMean.some((m) => Math.abs(m) > 1e-4)).toBe(true);
  });

  it('on two threads (a worker takes half of each batch) trains the same model', async () => {
    // Without dropout and batch norm, a split batch's combined gradient is the whole batch's.
    const exact: CtrTrainConfig = { ...CONFIG, dropout: 0, norm: 'none' };
    const single = await trainCtr(data, exact, {});
    const singleScores = await ctrProbabilities(single.model, data.test);
    tf.disposeVariables();
    const split = await trainCtr(data, exact, { workers: 1 });
    const splitScores = await ctrProbabilities(split.model, data.test);
    tf.disposeVariables();
    splitScores.forEach((s, i) => {
      expect(s).toBeCloseTo(singleScores[i] ?? Number.NaN, 4);
    });
  });

  it('resumes from its checkpoint: 1 epoch, then 2, equals 2 at once (to float32 rounding)', async () => {
    const whole = await run(CONFIG);
    const dir = join(scratch, 'checkpoint');
    const first = await run({ ...CONFIG, epochs: 1 }, dir);
    expect(first.result.resumed).toBe(false);
    const second = await run(CONFIG, dir);
    expect(second.result.resumed).toBe(true);
    expect(second.result.state.epoch).toBe(2);
    // The same run up to float32 rounding (a restored optimizer state is not bit-identical).
    second.result.state.history.forEach((h, i) => {
      expect(h.loss).toBeCloseTo(whole.result.state.history[i]?.loss ?? Number.NaN, 5);
    });
    second.scores.forEach((s, i) => {
      expect(s).toBeCloseTo(whole.scores[i] ?? Number.NaN, 5);
    });
  });
});

describe('fine-tuning with a frozen pruning mask', () => {
  it('never changes a pruned element, reads it at its fill, and trains the kept ones', async () => {
    const dense = await trainCtr(data, { ...CONFIG, epochs: 1 }, {});
    const table = (await weight(dense.model.weights, 'embedding').data()) as Float32Array;
    const mask = Uint8Array.from(table, (_, i) => (i % 3 === 0 ? 1 : 0));
    const fill = Float32Array.from(table, (_, i) => (mask[i] ? 0 : 0.25));
    const start = { weights: weightValues(dense.model.weights), frozen: { mask, fill } };
    tf.disposeVariables();
    const tuned = await trainCtr(
      data,
      configOfModel(dense.model, { ...CONFIG, epochs: 1, lr: 1e-2 }),
      {},
      start,
    );
    const after = (await weight(tuned.model.weights, 'embedding').data()) as Float32Array;
    let keptMoved = 0;
    after.forEach((v, i) => {
      if (mask[i]) keptMoved += v !== table[i] ? 1 : 0;
      else expect(v).toBe(table[i]);
    });
    expect(keptMoved).toBeGreaterThan(0);
    // Its validation AUC is the pruned model's: the same weights with the fill written in.
    const filled = tf.tensor2d(
      Float32Array.from(after, (v, i) => (mask[i] ? v : 0.25)),
      weight(tuned.model.weights, 'embedding').shape as [number, number],
    );
    const scores = await ctrProbabilities(withEmbedding(tuned.model, filled), data.validation);
    expect(auc(scores, data.validation.labels)).toBeCloseTo(tuned.state.bestScore, 6);
    tf.disposeVariables();
    filled.dispose();
  });
});
