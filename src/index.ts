// pocketrec's public surface for pages and apps: the browser client API and the model
// package format. The Node toolkit (training, the CLI) is deliberately not exported here.

export { PocketrecError } from './errors.ts';
export type { RecommendationReason } from './model/popularity.ts';
export * from './package/index.ts';
export { BUDGET_DEFAULTS, type BudgetOption, type PrefixInfo } from './runtime/budget.ts';
export {
  createRecommender,
  HISTORY_DEFAULTS,
  type RankedCandidate,
  type RankerInfo,
  type Ranking,
  type RankOptions,
  type Recommendation,
  type RecommendationRanking,
  type Recommender,
  type RecommenderInfo,
  type RecommenderOptions,
  type RecommendOptions,
} from './runtime/client.ts';
export type { CtrFieldValues, CtrValue } from './runtime/ctr-request.ts';
export type { BackendPreference } from './runtime/engine/backend.ts';
export type { StageTiming } from './runtime/engine/engine.ts';
export { type EraseOptions, type EraseResult, eraseLocalData } from './runtime/erase.ts';
export { RuntimeError, type RuntimeProblem } from './runtime/errors.ts';
export type { HistoryEvent, HistoryWrites, TrackInput } from './runtime/history-store.ts';
export {
  CONTEXT_LIMITS,
  type ContextValue,
  type DeviceClass,
  deviceClass,
  type LocalContext,
  localContext,
  type RecommendContext,
  type Weekday,
} from './runtime/local-context.ts';
export type { Refusal } from './runtime/worker-connection.ts';
