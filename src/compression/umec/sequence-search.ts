/**
 * UMEC's per-step method for a SASRec encoder (sequence-groups.ts), the sequence trainer's
 * counterpart of search.ts umecMethod: after each optimiser step, the proximal shrink
 * 1 / (1 + 2 η y_l) (η = rates.proxLr) of the ⌈s_l⌉ lowest-scored groups of each layer, then
 * the s and dual steps of minimax.ts on the scores after the shrink, with the encoder's
 * FLOPs ratio (encoderFlopsRatio) as the resource. s, y and z are non-trainable variables,
 * checkpointed with the weights; the loop keeps the last epoch.
 */
import type { SasrecConfig, Weights } from '../../model/sasrec.ts';
import type { SequenceTrainingMethod } from '../../train/train-sasrec.ts';
import { keepHighest } from './groups.ts';
import type { MinimaxRates, MinimaxState } from './minimax.ts';
import { minimaxSearch, type ScoreScale, type SearchProgress } from './search.ts';
import {
  encoderFlopsRatio,
  type SequenceGroupLayer,
  scaleSequenceGroups,
  sequenceGroupElements,
  sequenceGroupScores,
} from './sequence-groups.ts';

/**
 * The method for an encoder of `config` (the search's variables carry the encoder's weight
 * names) to an encoder FLOPs `budget`; `minimax()` reads its state, also after a resumed
 * search that had no step left to run.
 */
export function sequenceUmecMethod(
  config: SasrecConfig,
  layers: readonly SequenceGroupLayer[],
  budget: number,
  rates: MinimaxRates,
  onStep?: (progress: SearchProgress) => void,
  scale: ScoreScale = 'raw',
): { method: SequenceTrainingMethod; minimax: () => MinimaxState } {
  const search = minimaxSearch(
    {
      groups: layers.map((l) => l.groups),
      scores: (variables) => sequenceGroupScores(variables as Weights, config, layers),
      elements: sequenceGroupElements(config, layers),
      scale: (variables, l, factors) =>
        scaleSequenceGroups(variables, config, layers[l] as SequenceGroupLayer, factors),
      ratio: (scores, counts) => encoderFlopsRatio(config, layers, keepHighest(scores, counts)),
    },
    budget,
    rates,
    onStep,
    scale,
  );
  const method: SequenceTrainingMethod = (variables) => ({
    stateVariables: search.stateVariables,
    keep: 'last',
    afterStep: search.afterStep(variables),
  });
  return { method, minimax: search.minimax };
}
