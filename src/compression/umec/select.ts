/**
 * Which groups stay, to a FLOPs budget. UMEC's search ends with ⌈s_l⌉ groups to prune per
 * layer, its lowest-scored; magnitude pruning and Group Lasso have only scores. Both end
 * here: keep the highest-scored groups, then, while the counted FLOPs exceed the budget,
 * prune the group whose score is lowest relative to its layer's mean score (scores of a
 * field block and of a unit's row differ in scale, so they are compared within the layer
 * first), never a layer's last group.
 *
 * selectToBudget counts a CTR model's FLOPs (groups.ts flopsRatio); selectToBudgetBy takes
 * any ratio of kept groups (a SASRec encoder's: sequence-groups.ts encoderFlopsRatio).
 */
import { PocketrecError } from '../../errors.ts';
import { flopsRatio, type KeptGroups, keepHighest, type UmecModel } from './groups.ts';

export interface Selection {
  kept: KeptGroups;
  /** FLOPs of the kept groups over the dense model's. */
  flopsRatio: number;
  /** Groups pruned past the search's counts to meet the budget. */
  repaired: number;
}

export function selectToBudget(
  model: UmecModel,
  scores: readonly Float32Array[],
  budget: number,
  counts: readonly number[] = scores.map(() => 0),
): Selection {
  return selectToBudgetBy((kept) => flopsRatio(model, kept), scores, budget, counts);
}

/** selectToBudget with the FLOPs ratio of kept groups given as `ratioOf`. */
export function selectToBudgetBy(
  ratioOf: (kept: KeptGroups) => number,
  scores: readonly Float32Array[],
  budget: number,
  counts: readonly number[] = scores.map(() => 0),
): Selection {
  const kept = keepHighest(scores, counts);
  const means = scores.map((s) =>
    Math.max(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), 1e-30),
  );
  let ratio = ratioOf(kept);
  let repaired = 0;
  while (ratio > budget) {
    let best: { layer: number; at: number; relative: number } | null = null;
    kept.forEach((groups, l) => {
      if (groups.length <= 1) return;
      const layerScores = scores[l] as Float32Array;
      groups.forEach((g, at) => {
        const relative = (layerScores[g] as number) / (means[l] as number);
        if (!best || relative < best.relative) best = { layer: l, at, relative };
      });
    });
    if (!best) {
      throw new PocketrecError(
        'budget-unreachable',
        `pruning groups lowest score first down to one a layer leaves ${ratio.toFixed(4)} of the dense model's FLOPs, above the budget ${budget}: give a larger --flops-budget`,
      );
    }
    const { layer, at } = best as { layer: number; at: number };
    (kept[layer] as number[]).splice(at, 1);
    ratio = ratioOf(kept);
    repaired++;
  }
  return { kept, flopsRatio: ratio, repaired };
}
