/**
 * The two calibration baselines of ../shared/reference/baselines.md as Scorers, so they run
 * through exactly the evaluation code the neural models do.
 */
import { fitMarkov, type MarkovModel, scoreMarkov } from '../model/markov.ts';
import { itemCounts } from './hot-items.ts';
import type { Scorer } from './scorer.ts';

/** Scores every item by its training count, whatever the history. */
export function mostPopScorer(trainSequences: readonly Int32Array[], numItems: number): Scorer {
  const scores = Float32Array.from(itemCounts(trainSequences, numItems));
  scores[0] = Number.NEGATIVE_INFINITY;
  return fixedScorer(scores);
}

/** The same scores (index 0 unused) for every history: a popularity prior's, MostPop's. */
export function fixedScorer(scores: Float32Array): Scorer {
  return {
    numItems: scores.length - 1,
    // Nobody writes to score arrays, so one shared array serves every history.
    score: async (histories) => histories.map(() => scores),
  };
}

/**
 * First-order Markov chain on the last item, ties by popularity (src/model/markov.ts).
 *
 * Gives the same float32 scores as scoreMarkov (a test holds it to that, bit for bit), but
 * takes the popularity prior from scoreMarkov once instead of per history: scoreMarkov
 * rebuilds it on every call, which made Tmall's 25,898 cases over 40,727 items cost about
 * 17 s of scoring instead of under one.
 */
export function markovScorer(trainSequences: readonly Int32Array[], numItems: number): Scorer {
  return markovModelScorer(fitMarkov(trainSequences, numItems));
}

/** A fitted Markov model (markovScorer's, or a sequential-markov package's) as a Scorer. */
export function markovModelScorer(model: MarkovModel): Scorer {
  const { numItems } = model;
  const prior = scoreMarkov(model, []);
  const { indptr, indices, counts } = model;
  // The evaluator is done with one batch before it asks for the next, so buffers are reused.
  const buffers: Float32Array[] = [];
  return {
    numItems,
    score: async (histories) =>
      histories.map((history, k) => {
        buffers[k] ??= new Float32Array(numItems + 1);
        const scores = buffers[k];
        scores.set(prior);
        const last = history.length > 0 ? (history[history.length - 1] as number) : 0;
        if (last > 0 && last <= numItems) {
          for (let p = indptr[last] as number; p < (indptr[last + 1] as number); p++) {
            const j = indices[p] as number;
            scores[j] = (scores[j] as number) + (counts[p] as number);
          }
        }
        return scores;
      }),
  };
}
