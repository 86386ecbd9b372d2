import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { bestRepeatBonus, sweepRepeatBonus } from '../../../src/eval/repeat-bonus.ts';
import { sequentialScorer } from '../../../src/eval/sequential-scorer.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { seededRandom } from '../../../src/random.ts';
import { tinyModel } from '../cli/helpers.ts';

const NUM_ITEMS = 60;

beforeAll(async () => {
  await useWasmBackend();
});

/** Sessions that often come back to an item, like the session data sets' clicks. */
function sessionCases(count: number, seed: number) {
  const random = seededRandom(seed);
  const inputs: Int32Array[] = [];
  const targets = new Int32Array(count);
  for (let c = 0; c < count; c++) {
    // Longer than the model's window of 6, so that only the window's items get the bonus.
    const length = 1 + Math.floor(random() * 10);
    const session = Int32Array.from({ length }, () => 1 + Math.floor(random() * NUM_ITEMS));
    inputs.push(session);
    targets[c] =
      random() < 0.5
        ? (session[Math.floor(random() * length)] as number)
        : 1 + Math.floor(random() * NUM_ITEMS);
  }
  return { inputs, targets };
}

describe('sweepRepeatBonus', () => {
  it('scores each bonus as evaluate() scores the model with that bonus', async () => {
    const model = tinyModel(NUM_ITEMS, 3, 0.5);
    const cases = sessionCases(300, 7);
    const grid = [0, 0.3, 1, 4, 32];
    const sweep = await sweepRepeatBonus(model, cases, grid);
    for (const [g, bonus] of grid.entries()) {
      const { metrics } = await evaluate(
        sequentialScorer({ ...model, repeatBonus: bonus }),
        cases,
        { protocol: 'full', maskHistory: false },
      );
      expect(sweep[g]?.bonus).toBe(bonus);
      expect(sweep[g]?.['HR@20']).toBeCloseTo(metrics['HR@20'] as number, 12);
      expect(sweep[g]?.['MRR@20']).toBeCloseTo(metrics['MRR@20'] as number, 12);
    }
    // A bonus that lifts the window over everything else finds every target in a window
    // of at most 6 items: those cases are all hits.
    const inWindow = cases.inputs.filter((input, c) =>
      input.slice(-6).includes(cases.targets[c] as number),
    ).length;
    expect(sweep[4]?.['HR@20']).toBeGreaterThanOrEqual(inWindow / cases.inputs.length);
    expect(sweep[0]?.['HR@20']).toBeLessThan(sweep[4]?.['HR@20'] as number);
  });

  it("ignores a model's own bonus: the sweep starts from the plain scores", async () => {
    const model = tinyModel(NUM_ITEMS, 3, 0.5);
    const cases = sessionCases(100, 8);
    const plain = await sweepRepeatBonus(model, cases, [0, 2]);
    const already = await sweepRepeatBonus({ ...model, repeatBonus: 5 }, cases, [0, 2]);
    expect(already).toEqual(plain);
  });

  it('bestRepeatBonus takes the best HR@20, the smaller bonus on a tie', () => {
    const at = (bonus: number, hr: number) => ({ bonus, 'HR@20': hr, 'MRR@20': 0 });
    expect(bestRepeatBonus([at(0, 0.1), at(1, 0.3), at(2, 0.3), at(4, 0.2)]).bonus).toBe(1);
  });
});
