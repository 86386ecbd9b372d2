// trainCtr on the Criteo sample: the run is reproducible from its seed, resumes from its
// checkpoint as if never stopped, and keeps the batch-norm moving statistics with the weights.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CtrFieldData, loadCtrFields } from '../../../src/data/ctr/index.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import {
  type CtrTrainConfig,
  DEFAULT_CTR_TRAIN,
  scoreRows,
  trainCtr,
} from '../../../src/train/train-ctr.ts';

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
  const scores = await scoreRows(result.model, data.test);
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
    const singleScores = await scoreRows(single.model, data.test);
    tf.disposeVariables();
    const split = await trainCtr(data, exact, { workers: 1 });
    const splitScores = await scoreRows(split.model, data.test);
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
