import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PocketrecError } from '../../../src/errors.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { runTrainingLoop } from '../../../src/train/loop.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-loop-'));
beforeAll(async () => {
  await useWasmBackend();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * A one-variable loop whose validation scores are scripted, so that which epochs gain is
 * known; returns the learning rate the optimizer holds after each epoch.
 */
async function scripted(
  scores: number[],
  options: { lrDecay?: number; epochs?: number; checkpointDir?: string } = {},
) {
  const w = tf.variable(tf.scalar(1));
  const optimizer = tf.train.adam(0.1);
  const rates: number[] = [];
  let evaluation = 0;
  const result = await runTrainingLoop<number>({
    variables: { w },
    optimizer,
    epochs: options.epochs ?? scores.length,
    patience: 10,
    ...(options.lrDecay === undefined ? {} : { lrDecay: options.lrDecay }),
    batches: () => [1, 2],
    loss: (x) => w.mul(x).square().sum() as tf.Scalar,
    validate: async () => scores[evaluation++] as number,
    config: { lrDecay: options.lrDecay },
    ...(options.checkpointDir ? { checkpointDir: options.checkpointDir } : {}),
    onEpoch: () => rates.push((optimizer as unknown as { learningRate: number }).learningRate),
  });
  w.dispose();
  return { rates, result };
}

describe('learning-rate decay on a plateau', () => {
  it('multiplies the rate after each epoch without a better validation score', async () => {
    const { rates } = await scripted([0.1, 0.2, 0.15, 0.3, 0.25, 0.2], { lrDecay: 0.5 });
    expect(rates).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
  });

  it('keeps the rate without lrDecay or with 1', async () => {
    expect((await scripted([0.2, 0.1, 0.1])).rates).toEqual([0.1, 0.1, 0.1]);
    expect((await scripted([0.2, 0.1, 0.1], { lrDecay: 1 })).rates).toEqual([0.1, 0.1, 0.1]);
  });

  it('a resumed run goes on at the decayed rate', async () => {
    const dir = join(scratch, 'decayed');
    await scripted([0.3, 0.2, 0.1], { lrDecay: 0.5, checkpointDir: dir });
    // Epochs 4 and 5 evaluate 0.4 (a gain) and 0.1 (none): the rate goes on from 0.025.
    const { rates, result } = await scripted([0.4, 0.1], {
      lrDecay: 0.5,
      epochs: 5,
      checkpointDir: dir,
    });
    expect(result.resumed).toBe(true);
    expect(rates).toEqual([0.025, 0.0125]);
  });

  it('a checkpoint with more epochs than asked for is refused', async () => {
    const dir = join(scratch, 'longer');
    await scripted([0.1, 0.2, 0.3], { checkpointDir: dir });
    const error = await scripted([], { epochs: 2, checkpointDir: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as Error).message).toContain('has 3 epochs, more than --epochs 2');
    expect((await scripted([], { epochs: 3, checkpointDir: dir })).result.resumed).toBe(true);
  });

  it('a decay may be added on resume where the run so far would have been the same', async () => {
    const rising = join(scratch, 'rising');
    await scripted([0.1, 0.2], { checkpointDir: rising });
    const { result } = await scripted([0.3], { lrDecay: 0.5, epochs: 3, checkpointDir: rising });
    expect(result.resumed).toBe(true);

    // Only the last epoch did not gain: the decay it would have made is made on resume.
    const lastFlat = join(scratch, 'last-flat');
    await scripted([0.1, 0.2, 0.15], { checkpointDir: lastFlat });
    const resumed = await scripted([0.3], { lrDecay: 0.5, epochs: 4, checkpointDir: lastFlat });
    expect(resumed.rates).toEqual([0.05]);
    // ... and a decay changed on resume gives the rate the new decay would have given.
    const changed = join(scratch, 'changed');
    await scripted([0.1, 0.2, 0.15], { lrDecay: 0.5, checkpointDir: changed });
    const again = await scripted([0.3], { lrDecay: 0.25, epochs: 4, checkpointDir: changed });
    expect(again.rates).toEqual([0.025]);

    const plateau = join(scratch, 'plateau');
    await scripted([0.2, 0.1, 0.3], { checkpointDir: plateau });
    const error = await scripted([0.3], { lrDecay: 0.5, epochs: 4, checkpointDir: plateau }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as Error).message).toContain('lrDecay undefined (now 0.5)');
  });
});
