/**
 * Choosing a sequential model's repeat bonus (see SequentialModel.repeatBonus): every
 * candidate bonus is tried on the same cases from one model pass per batch, since adding a
 * constant to the window's items only changes which items beat the target.
 */
import { type SequentialModel, scoreHistories, windowItems } from '../model/sequential.ts';
import type { EvalCases } from './splits.ts';

/** Candidate bonuses: from none to one that puts every session item above the rest. */
export const REPEAT_BONUS_GRID: readonly number[] = [0, 0.5, 1, 2, 4, 8, 16, 32];

export interface RepeatBonusScore {
  bonus: number;
  /** HR@20, which the session literature calls P@20. */
  'HR@20': number;
  'MRR@20': number;
}

const K = 20;
const BATCH = 200;

/**
 * HR@20 and MRR@20 of the model with each bonus of `grid` on `cases`, every item ranked and
 * nothing masked (the session protocol). Ties count in the target's favour, as in evaluate().
 */
export async function sweepRepeatBonus(
  model: SequentialModel,
  cases: EvalCases,
  grid: readonly number[] = REPEAT_BONUS_GRID,
): Promise<RepeatBonusScore[]> {
  const plain: SequentialModel = { ...model, repeatBonus: 0 };
  const numRows = model.config.numItems + 1;
  const inWindow = new Uint8Array(numRows);
  const hits = new Float64Array(grid.length);
  const reciprocal = new Float64Array(grid.length);
  for (let start = 0; start < cases.inputs.length; start += BATCH) {
    const histories = cases.inputs.slice(start, start + BATCH);
    const scores = await scoreHistories(plain, histories, { materialise: true });
    histories.forEach((history, b) => {
      const s = scores[b] as Float32Array;
      const target = cases.targets[start + b] as number;
      const items = windowItems(history, model.config.maxLen);
      for (const item of items) inWindow[item] = 1;
      grid.forEach((bonus, g) => {
        const mine = (s[target] as number) + bonus * (inWindow[target] as number);
        let above = 0;
        for (let j = 1; j < numRows && above < K; j++) {
          if ((s[j] as number) + bonus * (inWindow[j] as number) > mine) above++;
        }
        if (above < K) {
          hits[g] = (hits[g] as number) + 1;
          reciprocal[g] = (reciprocal[g] as number) + 1 / (above + 1);
        }
      });
      for (const item of items) inWindow[item] = 0;
    });
  }
  const n = cases.inputs.length;
  return grid.map((bonus, g) => ({
    bonus,
    'HR@20': (hits[g] as number) / n,
    'MRR@20': (reciprocal[g] as number) / n,
  }));
}

/** The swept bonus with the best HR@20 (P@20); the smaller bonus on a tie. */
export function bestRepeatBonus(scores: readonly RepeatBonusScore[]): RepeatBonusScore {
  return scores.reduce((best, s) => (s['HR@20'] > best['HR@20'] ? s : best));
}
