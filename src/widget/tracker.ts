/**
 * Where behaviour goes: every event (a host-page click, pocketrec.track, a picked
 * recommendation) is stored once per user through a started <pocket-recs>, in the order it
 * happened, and then every element draws its list again.
 *
 * An event needs a model to be checked against, so an event arriving before any element
 * has started starts them (the lazy start waits for visibility or for something to store,
 * whichever comes first). Events tracked before any element is on the page wait for one.
 */
import type { HistoryEvent, Recommender, TrackInput } from '../index.ts';

/** What the tracker needs from an element (implemented by PocketRecsElement). */
export interface TrackTarget {
  readonly user: string;
  /** The element's recommender, starting it if need be; rejects when it cannot start. */
  ensureStarted(): Promise<Recommender>;
  /** The history changed: draw the list again. */
  historyChanged(): void;
  /** Shows a failure to the host page (a pocketrec-error event). */
  reportError(error: unknown, item?: string): void;
}

interface Waiting {
  event: TrackInput;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const targets = new Set<TrackTarget>();
const waiting: Waiting[] = [];
/** Deliveries run one after another so the history keeps the order of the clicks. */
let queue: Promise<void> = Promise.resolve();

export function attachTarget(target: TrackTarget): void {
  targets.add(target);
  for (const w of waiting.splice(0)) enqueue(w.event).then(w.resolve, w.reject);
}

export function detachTarget(target: TrackTarget): void {
  targets.delete(target);
}

/** Stores one event; resolves once stored, rejects with the runtime's typed error. */
export function track(input: TrackInput): Promise<void> {
  const event: TrackInput = {
    item: input.item,
    type: input.type ?? 'view',
    // Stamped now, so an event that waits for the model keeps the time it happened.
    ts: input.ts ?? Date.now(),
  };
  if (targets.size === 0) {
    return new Promise((resolve, reject) => waiting.push({ event, resolve, reject }));
  }
  return enqueue(event);
}

function enqueue(event: TrackInput): Promise<void> {
  const run = queue.then(() => deliver(event));
  queue = run.catch(() => {});
  return run;
}

/** The started recommenders, one list per user (a history belongs to a user, not to a model). */
async function recommendersByUser(current: TrackTarget[]): Promise<Map<string, Recommender[]>> {
  const started = await Promise.allSettled(current.map((t) => t.ensureStarted()));
  const byUser = new Map<string, Recommender[]>();
  started.forEach((result, i) => {
    if (result.status !== 'fulfilled') return;
    const user = (current[i] as TrackTarget).user;
    const list = byUser.get(user) ?? [];
    if (!list.includes(result.value)) list.push(result.value);
    byUser.set(user, list);
  });
  if (byUser.size === 0) {
    const failed = started.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    throw failed.reason;
  }
  return byUser;
}

async function deliver(event: TrackInput): Promise<void> {
  const current = [...targets];
  let failure: unknown = null;
  try {
    for (const recommenders of (await recommendersByUser(current)).values()) {
      failure ??= await storeOnce(recommenders, event);
    }
  } catch (error) {
    failure = error;
  }
  for (const target of current) target.historyChanged();
  if (failure !== null) {
    // One report per event, from the first element: the host hears it once.
    current[0]?.reportError(failure, String(event.item));
    throw failure;
  }
}

/** Stores through the first of a user's recommenders whose model knows the item. */
async function storeOnce(recommenders: Recommender[], event: TrackInput): Promise<unknown> {
  let failure: unknown = null;
  for (const recommender of recommenders) {
    try {
      await recommender.track(event);
      return null;
    } catch (error) {
      failure = error;
      if ((error as { code?: unknown }).code !== 'unknown-item') break;
    }
  }
  return failure;
}

/** The history of the first element's user, oldest first ([] with no element on the page). */
export async function history(): Promise<HistoryEvent[]> {
  const first = targets.values().next().value;
  if (!first) return [];
  return (await first.ensureStarted()).history();
}

/** Erases the history of every user shown on this page, on this device. */
export function clear(): Promise<void> {
  for (const w of waiting.splice(0)) w.resolve();
  // On the same queue as the events, so an event tracked before clear() is erased too.
  const run = queue.then(async () => {
    const current = [...targets];
    for (const recommenders of (await recommendersByUser(current)).values()) {
      await (recommenders[0] as Recommender).clear();
    }
    for (const target of current) target.historyChanged();
  });
  queue = run.catch(() => {});
  return run;
}
