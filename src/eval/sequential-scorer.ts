import { type SequentialModel, scoreHistories } from '../model/sequential.ts';
import type { Scorer } from './scorer.ts';

/**
 * A sequential model (dense teacher or tensor-train student) as a Scorer. Evaluation
 * scores batches of hundreds of histories, so the item table is built once per batch.
 */
export function sequentialScorer(model: SequentialModel): Scorer {
  return {
    numItems: model.config.numItems,
    score: (histories) => scoreHistories(model, histories, { materialise: true }),
  };
}
