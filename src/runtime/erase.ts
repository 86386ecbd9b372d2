/**
 * Erasing everything pocketrec keeps in this browser: the shopper's history and the stored
 * model packages. Whole IndexedDB databases are deleted, not just emptied, so that nothing
 * named pocketrec is left for `indexedDB.databases()` to list.
 *
 *   await eraseLocalData({ recommenders: [rec] });   // rec is disposed; make a new one to go on
 */
import type { Recommender } from './client.ts';
import { RuntimeError } from './errors.ts';
import { errorSummary } from './idb-open.ts';

/** The stores' default database names (history-store.ts, model-store.ts); erase.test.ts checks they match. */
export const DEFAULT_DATABASES = ['pocketrec-history', 'pocketrec-models'] as const;

/** Databases with this prefix are pocketrec's whatever options made them. */
const PREFIX = 'pocketrec-';

export interface EraseOptions {
  /**
   * Recommenders of this page to stop first: each one's history is cleared (which also tells
   * the other tabs) and it is disposed, so its connections cannot hold the deletion up.
   */
  recommenders?: readonly Recommender[];
  /** Names given to createRecommender's `databases`, when not the defaults. */
  databases?: { models?: string; history?: string };
  /** Defaults to globalThis.indexedDB; null: nothing was ever stored, nothing to delete. */
  indexedDB?: IDBFactory | null;
  /**
   * How long a deletion may wait on a connection that does not let go (another tab of an
   * older build, devtools) before this rejects (default 5 s).
   */
  blockedTimeoutMs?: number;
}

export interface EraseResult {
  /** The databases deleted (those that did not exist count too: deleting them is a no-op). */
  deleted: string[];
}

/**
 * Deletes pocketrec's IndexedDB databases: the defaults, those named in `databases`, and
 * any other whose name starts with `pocketrec-`. Rejects with RuntimeError
 * 'storage-unavailable' naming the database when one cannot be deleted; a deletion that
 * was only blocked still happens once the connection holding it closes.
 */
export async function eraseLocalData(options: EraseOptions = {}): Promise<EraseResult> {
  for (const rec of options.recommenders ?? []) {
    // An already-disposed recommender has nothing to clear; its data goes with the database.
    await rec.clear().catch(() => undefined);
    rec.dispose();
  }
  const factory = options.indexedDB === undefined ? globalThis.indexedDB : options.indexedDB;
  if (!factory) return { deleted: [] };

  const names = new Set<string>(DEFAULT_DATABASES);
  if (options.databases?.models) names.add(options.databases.models);
  if (options.databases?.history) names.add(options.databases.history);
  for (const name of await listedNames(factory)) {
    if (name.startsWith(PREFIX)) names.add(name);
  }
  const timeout = options.blockedTimeoutMs ?? 5_000;
  const deleted = [...names];
  await Promise.all(deleted.map((name) => deleteDatabase(factory, name, timeout)));
  return { deleted };
}

/** indexedDB.databases() where it exists (not in every browser's older versions). */
async function listedNames(factory: IDBFactory): Promise<string[]> {
  if (typeof factory.databases !== 'function') return [];
  try {
    const listed = await factory.databases();
    return listed.flatMap((db) => (db.name ? [db.name] : []));
  } catch {
    return [];
  }
}

function deleteDatabase(factory: IDBFactory, name: string, blockedTimeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const request = factory.deleteDatabase(name);
    request.onsuccess = () => {
      clearTimeout(timer);
      resolve();
    };
    request.onerror = () => {
      clearTimeout(timer);
      reject(
        new RuntimeError(
          'storage-unavailable',
          `IndexedDB database "${name}" could not be deleted (${errorSummary(request.error)})`,
          { cause: request.error },
        ),
      );
    };
    // pocketrec's own connections close on versionchange, so only a connection that
    // ignores it blocks; the request stays queued and completes when that one closes.
    request.onblocked = () => {
      timer ??= setTimeout(
        () =>
          reject(
            new RuntimeError(
              'storage-unavailable',
              `IndexedDB database "${name}" is held open by another tab or connection: it will be deleted once that closes`,
            ),
          ),
        blockedTimeoutMs,
      );
    };
  });
}
