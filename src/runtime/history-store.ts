/**
 * The shopper's behaviour, kept on this device only: IndexedDB when it can be used, memory
 * when it cannot (never a failed append because of storage), and a BroadcastChannel so
 * every open tab hears what the others recorded or erased.
 *
 * Each write is one readwrite transaction that adds events and trims the user's oldest
 * events beyond the cap. IndexedDB runs overlapping readwrite transactions one after the
 * other, across tabs too, so tabs appending at the same time lose and duplicate nothing.
 *
 * When an event is durable (`writes`): 'each-event' resolves append() once the event's
 * transaction has committed. 'write-behind' resolves append() at once and writes the events
 * of the next `writeDelayMs` together in one transaction (relaxed durability: it survives
 * a crashed tab or browser, not necessarily a power cut), sooner when the page is hidden or
 * left (`visibilitychange`, `pagehide`), and at once on flush(), events() and close(). A
 * killed tab loses at most the events of its last `writeDelayMs` plus one transaction.
 */
import { type DBSchema, type IDBPDatabase, wrap } from 'idb';
import { RuntimeError } from './errors.ts';
import { abortQuietly, errorSummary, openDatabase } from './idb-open.ts';

export interface HistoryEvent {
  item: string;
  type: string;
  ts: number;
}

export interface TrackInput {
  item: string | number;
  type?: string;
  ts?: number;
}

/** When append() resolves: after the event's own commit, or at once (see the file comment). */
export type HistoryWrites = 'each-event' | 'write-behind';

export type HistoryChange = { kind: 'append'; event: HistoryEvent } | { kind: 'clear' };

export interface HistoryStoreOptions {
  /** From the model's item list: an id the model cannot score is refused at the door. */
  isKnownItem: (id: string) => boolean;
  /** Default 'default'; several profiles on one device keep separate histories. */
  user?: string;
  /** Default 1000; the oldest events are dropped beyond it so storage stays bounded. */
  cap?: number;
  /** Defaults to globalThis.indexedDB; null means none: memory only. */
  indexedDB?: IDBFactory | null;
  /** Default 'pocketrec-history'. */
  dbName?: string;
  /** Default `pocketrec-history:${dbName}:${user}`; null: other tabs are not told. */
  channelName?: string | null;
  /** Default Date.now; tests pin the clock. */
  now?: () => number;
  /** Default 'each-event'; the recommender uses 'write-behind' (its own defaults). */
  writes?: HistoryWrites;
  /** With 'write-behind', how long an event may wait to be written (default 100 ms). */
  writeDelayMs?: number;
}

export interface HistoryStore {
  append(input: TrackInput): Promise<HistoryEvent>;
  /**
   * Resolves once every event appended so far is committed to IndexedDB (or, when history
   * lives in memory only, at once). Never rejects for storage: a failed write moves history
   * to memory with its events, and `warnings` says why.
   */
  flush(): Promise<void>;
  /** In the order they were recorded, oldest first: the sequence the model reads. */
  events(): Promise<HistoryEvent[]>;
  /** Erases this user's events on this device and tells other tabs, which drop theirs too. */
  clear(): Promise<void>;
  /** Changes made by OTHER tabs or connections; returns the unsubscribe function. */
  onChange(listener: (change: HistoryChange) => void): () => void;
  /** False once history lives in memory only (no IndexedDB, blocked, over quota). */
  readonly persistent: boolean;
  readonly warnings: readonly string[];
  close(): void;
}

const DEFAULT_DB_NAME = 'pocketrec-history';
const DEFAULT_CAP = 1000;
const DEFAULT_WRITE_DELAY_MS = 100;
const STORE = 'events';
const USER_INDEX = 'user';
/** Older timestamps are unit mistakes (seconds for milliseconds), not real events. */
const EARLIEST_TS = Date.UTC(2000, 0, 1);
/** Room for a device clock that runs a little fast, not for events dated in the future. */
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;
const MAX_ITEM_LENGTH = 200;
const TYPE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * The event as it will be stored, or a RuntimeError ('unknown-item', 'bad-event') that
 * names the bad value. Checked before anything is written, so a page bug can never fill
 * the history with events the model cannot use.
 */
export function validateEvent(
  input: unknown,
  isKnownItem: (id: string) => boolean,
  now: number,
): HistoryEvent {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw badEvent(`an event must be an object like { item: 'sku-1' }, got ${show(input)}`);
  }
  const fields = input as Record<string, unknown>;
  const item = itemId(fields.item);
  const type = fields.type === undefined ? 'view' : fields.type;
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw badEvent(
      `event type ${show(type)} must be a short lower-case word such as "view" or "add_to_cart"`,
    );
  }
  const ts = fields.ts === undefined ? now : fields.ts;
  if (
    typeof ts !== 'number' ||
    !Number.isSafeInteger(ts) ||
    ts < EARLIEST_TS ||
    ts > now + MAX_FUTURE_MS
  ) {
    throw badEvent(
      `event timestamp ${show(ts)} must be whole milliseconds since 1970 between 2000-01-01 and a day from now`,
    );
  }
  if (!isKnownItem(item)) {
    throw new RuntimeError(
      'unknown-item',
      `item ${JSON.stringify(item)} is not one the model knows`,
    );
  }
  return { item, type, ts };
}

function itemId(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_ITEM_LENGTH)
    return value;
  throw badEvent(
    `event item ${show(value)} must be a non-empty string of at most ${MAX_ITEM_LENGTH} characters or a finite number`,
  );
}

function badEvent(message: string): RuntimeError {
  return new RuntimeError('bad-event', message);
}

/** A value for an error message: short, and never "[object Object]". */
function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (value === null || ['number', 'bigint', 'boolean', 'undefined'].includes(typeof value)) {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  const kind = typeof value;
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

// ---------------------------------------------------------------------------------------------
// The store

interface StoredEvent extends HistoryEvent {
  user: string;
}

interface HistoryDb extends DBSchema {
  events: { key: number; value: StoredEvent; indexes: { user: string } };
}

type HistoryDatabase = IDBPDatabase<HistoryDb>;

/** What travels on the channel; `user` guards against a channel name shared by several users. */
interface ChangeMessage {
  source: 'pocketrec-history';
  user: string;
  change: HistoryChange;
}

/**
 * Opens the user's history. Never rejects because of storage: without a usable IndexedDB
 * the store works from memory, `persistent` is false and `warnings` says why. Rejects only
 * for a cap that is not a positive integer (RuntimeError 'bad-request').
 */
export async function openHistoryStore(options: HistoryStoreOptions): Promise<HistoryStore> {
  const dbName = options.dbName ?? DEFAULT_DB_NAME;
  const user = options.user ?? 'default';
  const cap = options.cap ?? DEFAULT_CAP;
  if (!Number.isSafeInteger(cap) || cap < 1) {
    throw new RuntimeError(
      'bad-request',
      `history cap must be a positive integer, got ${show(cap)}`,
    );
  }
  const writeDelayMs = options.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS;
  if (!Number.isFinite(writeDelayMs) || writeDelayMs < 0 || writeDelayMs > 60_000) {
    throw new RuntimeError(
      'bad-request',
      `history writeDelayMs must be from 0 to 60000 ms, got ${show(writeDelayMs)}`,
    );
  }
  const warnings: string[] = [];
  const factory = options.indexedDB === null ? null : (options.indexedDB ?? globalThis.indexedDB);
  let db: HistoryDatabase | null = null;
  if (options.indexedDB === null) {
    warnings.push('IndexedDB is turned off (indexedDB: null): history is kept in memory only');
  } else if (!factory) {
    warnings.push('IndexedDB is not available here: history is kept in memory only');
  } else {
    try {
      db = await openHistoryDatabase(factory, dbName);
    } catch (error) {
      warnings.push(
        `IndexedDB database "${dbName}" could not be opened (${errorSummary(error)}): history is kept in memory only`,
      );
    }
  }
  const channelName =
    options.channelName === undefined ? `pocketrec-history:${dbName}:${user}` : options.channelName;
  return new LocalHistoryStore({
    factory,
    dbName,
    db,
    user,
    cap,
    isKnownItem: options.isKnownItem,
    now: options.now ?? Date.now,
    channelName,
    warnings,
    writes: options.writes ?? 'each-event',
    writeDelayMs,
  });
}

interface StoreSetup {
  factory: IDBFactory | null;
  dbName: string;
  db: HistoryDatabase | null;
  user: string;
  cap: number;
  isKnownItem: (id: string) => boolean;
  now: () => number;
  channelName: string | null;
  warnings: string[];
  writes: HistoryWrites;
  writeDelayMs: number;
}

class LocalHistoryStore implements HistoryStore {
  private db: HistoryDatabase | null;
  /** Non-null once history lives in memory; seeded with what IndexedDB held at that moment. */
  private memory: HistoryEvent[] | null;
  private switchingToMemory: Promise<HistoryEvent[]> | null = null;
  private readonly channel: BroadcastChannel | null;
  private readonly listeners = new Set<(change: HistoryChange) => void>();
  private readonly warningList: string[];
  private closed = false;
  /** Write-behind: appended, not yet handed to a transaction. */
  private pending: HistoryEvent[] = [];
  private writeTimer: ReturnType<typeof setTimeout> | null = null;
  /** Write-behind transactions not yet settled; each settles without rejecting. */
  private readonly writing = new Set<Promise<void>>();
  private readonly leaving = () => {
    if (!this.closed) this.writePending(true);
  };

  constructor(private readonly setup: StoreSetup) {
    this.warningList = setup.warnings;
    this.db = setup.db;
    this.memory = setup.db ? null : [];
    if (this.db) this.watchConnection(this.db);
    this.channel = this.openChannel(setup.channelName);
    if (setup.writes === 'write-behind') this.watchPage('add');
  }

  get persistent(): boolean {
    return this.memory === null;
  }

  get warnings(): readonly string[] {
    return this.warningList;
  }

  async append(input: TrackInput): Promise<HistoryEvent> {
    this.assertOpen();
    const event = validateEvent(input, this.setup.isKnownItem, this.setup.now());
    let memory = this.memory;
    if (memory === null && this.setup.writes === 'write-behind') {
      this.pending.push(event);
      this.writeTimer ??= setTimeout(() => void this.flush(), this.setup.writeDelayMs);
      return event;
    }
    if (memory === null) {
      try {
        await appendEvent(await this.connection(), this.setup.user, event, this.setup.cap);
        this.post({ kind: 'append', event });
        return event;
      } catch (error) {
        memory = await this.switchToMemory('an event could not be saved to IndexedDB', error);
      }
    }
    memory.push(event);
    if (memory.length > this.setup.cap) memory.splice(0, memory.length - this.setup.cap);
    return event;
  }

  async flush(): Promise<void> {
    this.assertOpen();
    this.writePending();
    // Including transactions started before this call: they hold earlier events.
    while (this.writing.size > 0) await Promise.all([...this.writing]);
  }

  async events(): Promise<HistoryEvent[]> {
    this.assertOpen();
    await this.flush();
    let memory = this.memory;
    if (memory === null) {
      try {
        return await readEvents(await this.connection(), this.setup.user);
      } catch (error) {
        memory = await this.switchToMemory('history could not be read from IndexedDB', error);
      }
    }
    return [...memory];
  }

  async clear(): Promise<void> {
    this.assertOpen();
    this.cancelWrite();
    this.pending.length = 0;
    // A transaction already under way would otherwise land its events after the erase.
    while (this.writing.size > 0) await Promise.all([...this.writing]);
    if (this.memory === null) {
      try {
        await deleteEvents(await this.connection(), this.setup.user);
      } catch (error) {
        const memory = await this.switchToMemory(
          'history could not be erased from IndexedDB',
          error,
        );
        memory.length = 0;
      }
    } else {
      this.memory.length = 0;
      // Also what was saved before storage failed: a shopper who clears their history
      // must not find it again on the next visit.
      if (this.db) {
        await deleteEvents(this.db, this.setup.user).catch((error: unknown) => {
          this.warningList.push(
            `history saved earlier could not be erased from IndexedDB (${errorSummary(error)})`,
          );
        });
      }
    }
    this.post({ kind: 'clear' });
  }

  onChange(listener: (change: HistoryChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Starts writing any pending events first: IndexedDB finishes a connection's transactions
   * before it closes it, so they are not lost with the store.
   */
  close(): void {
    if (this.closed) return;
    this.writePending();
    this.watchPage('remove');
    this.closed = true;
    this.db?.close();
    this.db = null;
    this.channel?.close();
    this.listeners.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new RuntimeError('disposed', 'the history store was closed');
  }

  private cancelWrite(): void {
    if (this.writeTimer !== null) clearTimeout(this.writeTimer);
    this.writeTimer = null;
  }

  /**
   * Hands the pending events to one transaction. It is created now, before any await, when
   * the connection is open, so a later write (or close) queues behind it in IndexedDB.
   */
  private writePending(leaving = false): void {
    this.cancelWrite();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const { user, cap } = this.setup;
    const write = (async () => {
      try {
        const db = this.db ?? (await this.connection());
        await appendEvents(db, user, batch, cap, 'relaxed', leaving);
        for (const event of batch) this.post({ kind: 'append', event });
      } catch (error) {
        const memory = await this.switchToMemory('events could not be saved to IndexedDB', error);
        // Behind what the switch read back: these events were never committed.
        memory.push(...batch, ...this.pending.splice(0));
        if (memory.length > cap) memory.splice(0, memory.length - cap);
      }
    })();
    this.writing.add(write);
    void write.finally(() => this.writing.delete(write));
  }

  /** Write-behind: a page that is hidden or left writes what it holds at once. */
  private watchPage(action: 'add' | 'remove'): void {
    // A page only: a worker or Node has neither event.
    if (typeof document === 'undefined' || typeof window === 'undefined') return;
    if (action === 'add') {
      window.addEventListener('pagehide', this.leaving);
      document.addEventListener('visibilitychange', this.onVisibility);
    } else {
      window.removeEventListener('pagehide', this.leaving);
      document.removeEventListener('visibilitychange', this.onVisibility);
    }
  }

  private readonly onVisibility = () => {
    if (document.visibilityState === 'hidden') this.leaving();
  };

  /**
   * The open connection, or a new one when another tab's upgrade made us let go of the
   * old one (we close on `versionchange` so we never block it).
   */
  private async connection(): Promise<HistoryDatabase> {
    if (this.db) return this.db;
    if (!this.setup.factory) throw new DOMException('no IndexedDB', 'InvalidStateError');
    const db = await openHistoryDatabase(this.setup.factory, this.setup.dbName);
    if (this.closed) {
      db.close();
      throw new RuntimeError('disposed', 'the history store was closed');
    }
    this.db = db;
    this.watchConnection(db);
    return db;
  }

  private watchConnection(db: HistoryDatabase): void {
    db.addEventListener('versionchange', () => {
      db.close();
      if (this.db === db) this.db = null;
    });
  }

  /**
   * From now on history lives in memory, starting from what IndexedDB still gives back.
   * Concurrent failures share one switch, so the copy is seeded once.
   */
  private switchToMemory(reason: string, error: unknown): Promise<HistoryEvent[]> {
    this.switchingToMemory ??= (async () => {
      let seed: HistoryEvent[] = [];
      try {
        if (this.db) seed = await readEvents(this.db, this.setup.user);
      } catch {
        // Unreadable as well: start empty rather than fail the caller.
      }
      const memory = seed.slice(-this.setup.cap);
      this.memory = memory;
      this.warningList.push(`${reason} (${errorSummary(error)}): history is kept in memory only`);
      return memory;
    })();
    return this.switchingToMemory;
  }

  private openChannel(name: string | null): BroadcastChannel | null {
    if (name === null) return null;
    if (typeof BroadcastChannel === 'undefined') {
      this.warningList.push(
        'BroadcastChannel is not available: other tabs are not told of changes',
      );
      return null;
    }
    const channel = new BroadcastChannel(name);
    channel.addEventListener('message', (event: MessageEvent) => this.receive(event.data));
    return channel;
  }

  /**
   * Appends are announced only when saved: a memory-only event is not in what other tabs
   * read, so telling them would make their view disagree with their events().
   */
  private post(change: HistoryChange): void {
    if (!this.channel || (change.kind === 'append' && this.memory !== null)) return;
    const message: ChangeMessage = { source: 'pocketrec-history', user: this.setup.user, change };
    this.channel.postMessage(message);
  }

  private receive(data: unknown): void {
    const change = changeFrom(data, this.setup.user);
    if (!change || this.closed) return;
    if (change.kind === 'clear' && this.memory !== null) this.memory.length = 0;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        // One faulty listener must not starve the others; the error still surfaces.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** The change a message carries for `user`, or null for anything else on the channel. */
function changeFrom(data: unknown, user: string): HistoryChange | null {
  if (data === null || typeof data !== 'object') return null;
  const message = data as Partial<ChangeMessage>;
  if (message.source !== 'pocketrec-history' || message.user !== user) return null;
  const change = message.change as Partial<{ kind: string; event: Partial<HistoryEvent> }>;
  if (change?.kind === 'clear') return { kind: 'clear' };
  const event = change?.event;
  if (
    change?.kind === 'append' &&
    typeof event?.item === 'string' &&
    typeof event.type === 'string' &&
    typeof event.ts === 'number'
  ) {
    return { kind: 'append', event: { item: event.item, type: event.type, ts: event.ts } };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// IndexedDB transactions

/** Adds the event and trims the user's oldest beyond `cap`, all in one transaction. */
function appendEvent(
  db: HistoryDatabase,
  user: string,
  event: HistoryEvent,
  cap: number,
): Promise<void> {
  return appendEvents(db, user, [event], cap, 'default');
}

/**
 * Adds the events in order and trims the user's oldest beyond `cap`, in one transaction.
 * The transaction and every add are issued before the first await. A write-behind batch
 * asks for relaxed durability, which skips the flush to disk: it survives a crashed tab or
 * browser, not a power cut. `leaving`: the page is going away and will run no more of our
 * code, so the transaction commits right after the adds; the next write trims.
 */
async function appendEvents(
  db: HistoryDatabase,
  user: string,
  events: readonly HistoryEvent[],
  cap: number,
  durability: IDBTransactionDurability,
  leaving = false,
): Promise<void> {
  const tx = db.transaction(STORE, 'readwrite', { durability });
  const committed = tx.done;
  try {
    const added = events.map((event) => tx.store.add({ user, ...event }));
    if (leaving) {
      tx.commit();
      await Promise.all(added);
      await committed;
      return;
    }
    await Promise.all(added);
    const index = tx.store.index(USER_INDEX);
    let excess = (await index.count(user)) - cap;
    // Records under one index key come in primary-key order: oldest recorded first.
    let cursor = excess > 0 ? await index.openKeyCursor(user) : null;
    while (cursor && excess > 0) {
      await tx.store.delete(cursor.primaryKey);
      excess -= 1;
      cursor = await cursor.continue();
    }
  } catch (error) {
    committed.catch(() => {});
    abortQuietly(tx);
    throw error;
  }
  await committed;
}

async function readEvents(db: HistoryDatabase, user: string): Promise<HistoryEvent[]> {
  const records = await db.getAllFromIndex(STORE, USER_INDEX, user);
  return records.map(({ item, type, ts }) => ({ item, type, ts }));
}

async function deleteEvents(db: HistoryDatabase, user: string): Promise<void> {
  const tx = db.transaction(STORE, 'readwrite');
  const keys = await tx.store.index(USER_INDEX).getAllKeys(user);
  await Promise.all(keys.map((key) => tx.store.delete(key)));
  await tx.done;
}

// ---------------------------------------------------------------------------------------------
// Opening the database

/**
 * Opens at whatever version exists, so an older or newer build's database is used as is;
 * only when the store or its index is missing does it ask for one version more.
 */
async function openHistoryDatabase(factory: IDBFactory, name: string): Promise<HistoryDatabase> {
  const db = await openDatabase(factory, name, hasSchema, (upgrading, tx) => {
    const store = upgrading.objectStoreNames.contains(STORE)
      ? tx.objectStore(STORE)
      : upgrading.createObjectStore(STORE, { autoIncrement: true });
    if (!store.indexNames.contains(USER_INDEX)) store.createIndex(USER_INDEX, 'user');
  });
  return wrap(db) as unknown as HistoryDatabase;
}

function hasSchema(db: IDBDatabase): boolean {
  if (!db.objectStoreNames.contains(STORE)) return false;
  const tx = db.transaction(STORE, 'readonly');
  return tx.objectStore(STORE).indexNames.contains(USER_INDEX);
}
