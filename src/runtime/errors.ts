/**
 * The browser runtime's errors. Every failure a page can meet is a RuntimeError with a
 * stable `code` (or a ModelPackageError for a package that must not be used), and both
 * survive the trip across the worker boundary (see protocol.ts), so a page branches on
 * `error.code` whichever thread the failure happened in.
 */
import { PocketrecError } from '../errors.ts';

export type RuntimeProblem =
  /** An event names an item the model does not know. */
  | 'unknown-item'
  /** An event that is not an event: a missing or non-string/number id, a bad type or timestamp. */
  | 'bad-event'
  /** A request the engine cannot serve as asked (bad k, unknown backend name, ...). */
  | 'bad-request'
  /**
   * A rank request's field the model cannot read: one it does not have, one missing or
   * given twice, or a value of the wrong type (the message names the field and candidate).
   */
  | 'bad-field'
  /** IndexedDB cannot be used (absent, blocked, over quota): the runtime runs from memory. */
  | 'storage-unavailable'
  /** The asked-for backend has no usable device here (e.g. WebGPU without an adapter). */
  | 'backend-unavailable'
  /** The model could not be loaded (network, or no verified copy anywhere). */
  | 'model-unavailable'
  /**
   * The download budget is below the least the package can be fetched in (a progressive
   * package's dense weights); the message names that minimum (budget.ts).
   */
  | 'budget-too-small'
  /** The worker died while the call was in flight; the client has started a new one. */
  | 'worker-crashed'
  /**
   * A package version crashed the worker twice while being loaded or built (out of memory,
   * say): it is not tried again by this recommender, which keeps its last good model.
   */
  | 'model-refused'
  /** The call got no answer in time; the worker is treated as dead and replaced. */
  | 'timeout'
  /**
   * The package given as a ranker is not one: a next-item package, or a CTR package
   * without a ranker file (src/model/ctr/ranker.ts). The message names its URL.
   */
  | 'not-a-ranker'
  /** The recommender was disposed. */
  | 'disposed'
  /**
   * Between the page and its worker only (history-sync.ts): the worker does not hold the
   * history copy a request's changes apply to; the page sends the whole history again.
   */
  | 'history-out-of-sync';

export class RuntimeError extends PocketrecError {
  declare readonly code: RuntimeProblem;

  constructor(code: RuntimeProblem, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
