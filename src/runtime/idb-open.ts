/**
 * Opening an IndexedDB database the way both runtime stores need it.
 *
 * It opens at whatever version exists, so an older or newer build's database is used as
 * is; only when `hasSchema` says something is missing does it ask for one version more,
 * whose upgrade adds it. A blocked upgrade (another tab holds the database open and does
 * not let go) fails at once instead of waiting for that tab to close, which may be never;
 * if it does close later, the late connection is closed unused. Our own connections close
 * on `versionchange`, so they never block another tab's upgrade.
 */
export async function openDatabase(
  factory: IDBFactory,
  name: string,
  hasSchema: (db: IDBDatabase) => boolean,
  upgrade: (db: IDBDatabase, tx: IDBTransaction) => void,
): Promise<IDBDatabase> {
  const db = await openRequest(factory, name, undefined, upgrade);
  if (hasSchema(db)) return db;
  const next = db.version + 1;
  db.close();
  return openRequest(factory, name, next, upgrade);
}

function openRequest(
  factory: IDBFactory,
  name: string,
  version: number | undefined,
  upgrade: (db: IDBDatabase, tx: IDBTransaction) => void,
): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let gaveUp = false;
    const request = version === undefined ? factory.open(name) : factory.open(name, version);
    request.onupgradeneeded = () => upgrade(request.result, request.transaction as IDBTransaction);
    request.onblocked = () => {
      gaveUp = true;
      reject(
        new DOMException(
          `upgrade to version ${version} blocked: another tab holds the database open`,
          'BlockedError',
        ),
      );
    };
    request.onsuccess = () => {
      const db = request.result;
      if (gaveUp) {
        db.close();
        return;
      }
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () =>
      reject(request.error ?? new DOMException('open failed', 'UnknownError'));
  });
}

export function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already aborted by the failed request: nothing was written.
  }
}

/** Name and message: enough for a warning to say what failed without a stack. */
export function errorSummary(error: unknown): string {
  if (error instanceof Error || error instanceof DOMException)
    return `${error.name}: ${error.message}`;
  return String(error);
}
