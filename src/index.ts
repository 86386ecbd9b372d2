// pocketrec's public surface for pages and apps: the browser client API and the model
// package format. The Node toolkit (training, the CLI) is deliberately not exported here.

export { PocketrecError } from './errors.ts';
export * from './package/index.ts';
export {
  createRecommender,
  type Recommendation,
  type Recommender,
  type RecommenderInfo,
  type RecommenderOptions,
  type RecommendOptions,
} from './runtime/client.ts';
export type { BackendPreference } from './runtime/engine/backend.ts';
export { type EraseOptions, type EraseResult, eraseLocalData } from './runtime/erase.ts';
export { RuntimeError, type RuntimeProblem } from './runtime/errors.ts';
export type { HistoryEvent, TrackInput } from './runtime/history-store.ts';
export type { Refusal } from './runtime/worker-connection.ts';
