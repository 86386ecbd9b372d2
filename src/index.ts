// pocketrec's public surface for pages and apps: the browser client API and the model
// package format. The Node toolkit (training, the CLI) is deliberately not exported here.

export { PocketrecError } from './errors.ts';
export type { BackendPreference } from './runtime/engine/backend.ts';
export {
  createRecommender,
  type Recommendation,
  type RecommendOptions,
  type Recommender,
  type RecommenderInfo,
  type RecommenderOptions,
} from './runtime/client.ts';
export { RuntimeError, type RuntimeProblem } from './runtime/errors.ts';
export type { HistoryEvent, TrackInput } from './runtime/history-store.ts';
export * from './package/index.ts';
