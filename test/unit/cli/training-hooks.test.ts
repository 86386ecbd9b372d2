import { beforeAll, describe, expect, it } from 'vitest';
import { trainingData } from '../../../src/cli/training-data.ts';
import { trainingHooks } from '../../../src/cli/training-hooks.ts';
import { repeatShare } from '../../../src/data/sessions.ts';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { sequentialScorer } from '../../../src/eval/sequential-scorer.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { useGeneratedDataDir } from '../fixtures-gen/data-dir.ts';
import { tinyModel } from './helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const quiet = { out: () => {}, err: () => {} };
// Generated ML-1M and Tmall (test/unit/fixtures-gen): half of its sessions end on an earlier item.
const dataDir = useGeneratedDataDir();

describe('training validation protocol', () => {
  it('masks the history on ML-1M and not on Tmall, whose next clicks often repeat', async () => {
    const users = await trainingData('ml-1m', { dataDir, users: '50' });
    expect(users.maskHistory).toBe(true);
    const sessions = await trainingData('tmall', { dataDir });
    expect(sessions.maskHistory).toBe(false);
    const { inputs, targets } = sessions.validation;
    expect(repeatShare(inputs, targets)).toBeGreaterThan(0.2);
  });

  it('validates with the masking it is given', async () => {
    const numItems = 30;
    const model = tinyModel(numItems, 3, 1);
    // Sessions that click around and come back: the target is an earlier item each time.
    const inputs = Array.from({ length: 40 }, (_, k) =>
      Int32Array.from({ length: 5 }, (_, j) => 1 + ((k * 7 + j * 3) % numItems)),
    );
    const cases = { inputs, targets: Int32Array.from(inputs, (s) => s[1] as number) };
    const scores = await Promise.all(
      [true, false].map(async (maskHistory) => {
        const hooks = trainingHooks('t', { cases, maskHistory }, { json: true }, quiet);
        const direct = await evaluate(sequentialScorer(model), cases, {
          protocol: 'full',
          maskHistory,
        });
        const validated = await hooks.validate(model);
        hooks.stop();
        expect(validated).toBeCloseTo(direct.metrics['NDCG@10'] as number, 10);
        return validated;
      }),
    );
    // Masking takes the other history items out of the target's way.
    expect(scores[0]).toBeGreaterThan(scores[1] as number);
  });
});
