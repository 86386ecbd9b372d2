/** Model-agnostic next-item evaluation: splits, protocols, metrics, baselines. */
export { markovScorer, mostPopScorer } from './baselines.ts';
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_SEED,
  type EvaluateOptions,
  type EvaluationResult,
  evaluate,
  type Metrics,
  type Protocol,
} from './evaluate.ts';
export { DEFAULT_HOT_FRACTION, hotItems, itemCounts } from './hot-items.ts';
export { NegativeSampler, SAMPLED_NEGATIVES } from './negatives.ts';
export type { Scorer } from './scorer.ts';
export {
  type EvalCases,
  type LeaveOneOutSplit,
  leaveOneOut,
  MIN_LEAVE_ONE_OUT_LENGTH,
  type SessionSplit,
  sessionSplit,
} from './splits.ts';
