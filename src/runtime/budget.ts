/**
 * Download budgets: how many bytes of a model package a page lets this device fetch.
 *
 * Only a progressive ctr-pruned package can honour one (docs/model-package.md): its weight
 * files hold the dense weights first and then the kept embedding elements in chunks of
 * descending importance, so any prefix that ends on a chunk is a complete model, pruned
 * harder. A budget picks the longest such prefix that fits. Every other package is
 * downloaded whole whatever the budget (model-store.ts warns when that goes over it).
 *
 * The bytes counted are those of the package's files, manifest.json excluded, the same
 * bytes `onProgress` counts: the manifest is what says how large everything else is, so it
 * is fetched before anything can be weighed against a budget (and is capped at 1 MiB).
 */
import { RuntimeError } from './errors.ts';

/** What createRecommender's `budget` may be: bytes, or 'auto' (resolveBudget). */
export type BudgetOption = number | 'auto';

/** A budget as the worker gets it. */
export interface DownloadBudget {
  /** The most bytes of the package's files (manifest.json excluded) to download. */
  bytes: number;
  /**
   * Whether it came from 'auto'. A budget the page gave is a limit: a package whose dense
   * weights alone are larger is refused ('budget-too-small'). An automatic one is a guess
   * about the device: such a package gets its dense weights and first chunk instead.
   */
  auto: boolean;
}

/** The part of a progressive package a budget took (model-store.ts; info().model.prefix). */
export interface PrefixInfo {
  /** Chunks in the model, of the package's `totalChunks`. */
  chunks: number;
  totalChunks: number;
  /** Bytes of those chunks' prefix and of the whole package's files (manifest.json excluded). */
  bytes: number;
  totalBytes: number;
}

const MiB = 2 ** 20;

/**
 * The rule behind `budget: 'auto'`. navigator.deviceMemory (GiB, rounded down to a power of
 * two, capped at 8 by browsers) stands for the device's class: a phone with 1 GiB is likely
 * on a slow or metered network too. Data Saver (navigator.connection.saveData) is the
 * user's own request to fetch less, and wins over memory. With neither signal (Firefox and
 * Safari expose neither), the whole package is fetched, as without a budget.
 */
export const BUDGET_DEFAULTS = {
  /** Data Saver on. */
  saveDataBytes: 1 * MiB,
  /** deviceMemory at most lowMemoryGiB. */
  lowMemoryGiB: 1,
  lowMemoryBytes: 2 * MiB,
  /** deviceMemory at most midMemoryGiB (and above lowMemoryGiB). */
  midMemoryGiB: 2,
  midMemoryBytes: 8 * MiB,
} as const;

/** The parts of `navigator` the automatic rule reads (a worker's navigator has them too). */
export interface BudgetSignals {
  deviceMemory?: number;
  connection?: { saveData?: boolean } | null;
}

/**
 * The budget for createRecommender's option: null for none (the whole package). A number
 * must be a positive whole count of bytes; 'auto' follows BUDGET_DEFAULTS and gives null
 * when no signal asks for less.
 */
export function resolveBudget(
  option: unknown,
  signals: BudgetSignals | undefined = globalThis.navigator as BudgetSignals | undefined,
): DownloadBudget | null {
  if (option === undefined) return null;
  if (option === 'auto') {
    const bytes = autoBudgetBytes(signals ?? {});
    return bytes === null ? null : { bytes, auto: true };
  }
  if (typeof option === 'number' && Number.isSafeInteger(option) && option > 0) {
    return { bytes: option, auto: false };
  }
  throw new RuntimeError(
    'bad-request',
    `budget must be a positive whole number of bytes or 'auto', got ${JSON.stringify(option)}`,
  );
}

/** BUDGET_DEFAULTS applied to the signals: the smallest budget any of them asks for. */
export function autoBudgetBytes(signals: BudgetSignals): number | null {
  const asked: number[] = [];
  if (signals.connection?.saveData === true) asked.push(BUDGET_DEFAULTS.saveDataBytes);
  const memory = signals.deviceMemory;
  if (typeof memory === 'number' && memory > 0) {
    if (memory <= BUDGET_DEFAULTS.lowMemoryGiB) asked.push(BUDGET_DEFAULTS.lowMemoryBytes);
    else if (memory <= BUDGET_DEFAULTS.midMemoryGiB) asked.push(BUDGET_DEFAULTS.midMemoryBytes);
  }
  return asked.length === 0 ? null : Math.min(...asked);
}

/**
 * How many chunks of a progressive package a budget allows: the largest c whose prefix
 * (`prefixBytes[c]`, from prunedPrefixLayout: the dense weights and chunks 0..c-1) fits.
 * A budget below prefixBytes[0] is RuntimeError('budget-too-small') naming the minimum,
 * unless it is automatic (then the dense weights and the first chunk, if there is one).
 */
export function chunksWithinBudget(
  prefixBytes: readonly number[],
  budget: DownloadBudget,
  model: string,
): number {
  const head = prefixBytes[0] ?? 0;
  if (head > budget.bytes) {
    if (budget.auto) return Math.min(1, prefixBytes.length - 1);
    throw new RuntimeError(
      'budget-too-small',
      `model ${model} needs at least ${head} bytes (its dense weights, before any embedding chunk), the budget is ${budget.bytes}`,
    );
  }
  // prefixBytes grows with c: the first prefix past the budget ends the search.
  let chunks = 0;
  while (chunks + 1 < prefixBytes.length && (prefixBytes[chunks + 1] as number) <= budget.bytes) {
    chunks++;
  }
  return chunks;
}
