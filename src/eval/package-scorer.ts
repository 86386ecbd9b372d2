/**
 * A next-item model package as a Scorer, whatever its kind, so `pocketrec eval` and
 * `report` rank a Markov or a popularity package through the same code as a SASRec one.
 * Each is scored as the browser runtime serves it: a package's popularity prior answers an
 * empty history (runtime/engine/engine.ts), a Markov package scores from its transitions,
 * a popularity package ranks every history by its prior.
 *
 * A prior stores counts on 255 log levels, so items tie far more often than exact counts
 * do, and the evaluator counts a tie in the target's favour: ranked by its levels, the
 * prior would score better than the counts it was made from (ML-1M validation HR@10 0.0464
 * against MostPop's 0.0435). It is ranked instead in the order the runtime serves it, ties
 * to the lower row (servedOrder), so its figures are those of the list a shopper sees.
 */
import { markovFromPackage } from '../model/markov.ts';
import {
  POPULARITY_KIND,
  type PopularityPrior,
  popularityFromPackage,
  popularityPriorOf,
} from '../model/popularity.ts';
import { sequentialFromPackage } from '../model/sequential-package.ts';
import { isSequentialKind } from '../model/sequential-structure.ts';
import { ModelPackageError } from '../package/errors.ts';
import type { ModelPackage } from '../package/reader.ts';
import { fixedScorer, markovModelScorer } from './baselines.ts';
import type { Scorer } from './scorer.ts';
import { sequentialScorer } from './sequential-scorer.ts';

/** The package's model as a Scorer; a SASRec kind needs a tfjs backend set first. */
export function packageScorer(pkg: ModelPackage): Scorer {
  const { kind, name } = pkg.manifest;
  if (isSequentialKind(kind)) {
    const prior = popularityPriorOf(pkg);
    const scorer = sequentialScorer(sequentialFromPackage(pkg));
    return prior ? withEmptyHistoryScores(scorer, servedOrder(prior)) : scorer;
  }
  if (kind === 'sequential-markov') return markovModelScorer(markovFromPackage(pkg));
  if (kind === POPULARITY_KIND) return fixedScorer(servedOrder(popularityFromPackage(pkg)));
  throw new ModelPackageError(
    'bad-manifest',
    name,
    `kind "${kind}" is not a next-item model (a sequential, sequential-markov or ${POPULARITY_KIND} package)`,
  );
}

/**
 * Scores in which no two seen items tie, ordered as the runtime's top-k orders the prior:
 * by level, ties to the lower row. Unseen items stay -Infinity (never served as popular).
 * Exact in float32 for any item count a package may have (MAX_ITEMS < 2^24).
 */
export function servedOrder(prior: PopularityPrior): Float32Array {
  const { scores } = prior;
  const rows: number[] = [];
  for (let row = 1; row < scores.length; row++) {
    if (Number.isFinite(scores[row])) rows.push(row);
  }
  rows.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const order = new Float32Array(scores.length).fill(Number.NEGATIVE_INFINITY);
  rows.forEach((row, position) => {
    order[row] = rows.length - position;
  });
  return order;
}

/** Empty histories scored by `prior`, the rest by the model, as the runtime answers them. */
function withEmptyHistoryScores(scorer: Scorer, prior: Float32Array): Scorer {
  return {
    numItems: scorer.numItems,
    score: async (histories) => {
      const encoded = histories.filter((history) => history.length > 0);
      const scored = encoded.length > 0 ? await scorer.score(encoded) : [];
      let next = 0;
      return histories.map((history) =>
        history.length === 0 ? prior : (scored[next++] as Float32Array),
      );
    },
  };
}
