// The history store against fake-indexeddb (a fresh IDBFactory per test) and Node's own
// BroadcastChannel, which delivers between channel objects in one process as between tabs.
// fake-indexeddb/auto defines the IDB* globals that idb's wrappers test values against.
import 'fake-indexeddb/auto';
import { IDBObjectStore as FakeObjectStore, IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import {
  type HistoryChange,
  type HistoryStore,
  type HistoryStoreOptions,
  openHistoryStore,
  validateEvent,
} from '../../../src/runtime/history-store.ts';

const NOW = Date.UTC(2026, 0, 1, 12);
const DAY = 24 * 60 * 60 * 1000;
const Y2K = Date.UTC(2000, 0, 1);

const isKnownItem = (id: string) => /^(item-\d+|a|b|c|42)$/.test(id);

const opened: HistoryStore[] = [];
let databases = 0;

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

/** A unique database name per test, so no test hears another's channel. */
function freshDbName(): string {
  databases += 1;
  return `history-test-${databases}`;
}

async function open(options: Partial<HistoryStoreOptions> = {}): Promise<HistoryStore> {
  const store = await openHistoryStore({ isKnownItem, now: () => NOW, ...options });
  opened.push(store);
  return store;
}

function recorder(store: HistoryStore): HistoryChange[] {
  const changes: HistoryChange[] = [];
  store.onChange((change) => changes.push(change));
  return changes;
}

function items(events: { item: string }[]): string[] {
  return events.map((e) => e.item);
}

async function rejectionOf(run: Promise<unknown>): Promise<RuntimeError> {
  const error = await run.then(
    () => expect.unreachable('expected a rejection'),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RuntimeError);
  return error as RuntimeError;
}

const refusingFactory = {
  open() {
    throw new DOMException('storage is disabled', 'SecurityError');
  },
} as unknown as IDBFactory;

describe('validateEvent', () => {
  it('fills in the type and the time, and turns a numeric id into a string', () => {
    expect(validateEvent({ item: 'a' }, isKnownItem, NOW)).toEqual({
      item: 'a',
      type: 'view',
      ts: NOW,
    });
    expect(validateEvent({ item: 42, type: 'add_to_cart', ts: NOW - 5 }, isKnownItem, NOW)).toEqual(
      { item: '42', type: 'add_to_cart', ts: NOW - 5 },
    );
  });

  it('accepts the edges: 200-character ids, 32-character types, 2000-01-01 and a day ahead', () => {
    const anything = () => true;
    const longId = 'x'.repeat(200);
    expect(validateEvent({ item: longId }, anything, NOW).item).toBe(longId);
    expect(
      validateEvent({ item: 'a', type: `t${'-'.repeat(31)}` }, anything, NOW).type,
    ).toHaveLength(32);
    expect(validateEvent({ item: 'a', ts: Y2K }, anything, NOW).ts).toBe(Y2K);
    expect(validateEvent({ item: 'a', ts: NOW + DAY }, anything, NOW).ts).toBe(NOW + DAY);
  });
});

/** Each bad input, the code it must raise and what the message must name. */
const BAD_INPUTS: [string, unknown, 'bad-event' | 'unknown-item', RegExp][] = [
  ['null', null, 'bad-event', /got null/],
  ['a bare string', 'a', 'bad-event', /object/],
  ['an array', [{ item: 'a' }], 'bad-event', /an array/],
  ['no item', { type: 'view' }, 'bad-event', /item undefined/],
  ['an empty id', { item: '' }, 'bad-event', /item ""/],
  ['a 201-character id', { item: 'x'.repeat(201) }, 'bad-event', /at most 200/],
  ['a NaN id', { item: Number.NaN }, 'bad-event', /item NaN/],
  ['an infinite id', { item: Number.POSITIVE_INFINITY }, 'bad-event', /item Infinity/],
  ['an object id', { item: { id: 'a' } }, 'bad-event', /item an object/],
  ['an unknown id', { item: 'zzz' }, 'unknown-item', /"zzz"/],
  ['an unknown numeric id', { item: 7 }, 'unknown-item', /"7"/],
  ['an upper-case type', { item: 'a', type: 'View' }, 'bad-event', /type "View"/],
  ['an empty type', { item: 'a', type: '' }, 'bad-event', /type ""/],
  ['a 33-character type', { item: 'a', type: 't'.repeat(33) }, 'bad-event', /type "t{33}"/],
  ['a numeric type', { item: 'a', type: 3 }, 'bad-event', /type 3/],
  [
    'a fractional ts',
    { item: 'a', ts: NOW - 0.5 },
    'bad-event',
    new RegExp(`timestamp ${NOW - 0.5}`),
  ],
  ['a ts in seconds', { item: 'a', ts: 1_700_000_000 }, 'bad-event', /timestamp 1700000000/],
  ['a ts just before 2000', { item: 'a', ts: Y2K - 1 }, 'bad-event', /timestamp 946684799999/],
  [
    'a ts over a day ahead',
    { item: 'a', ts: NOW + DAY + 1 },
    'bad-event',
    new RegExp(`timestamp ${NOW + DAY + 1}`),
  ],
  ['a string ts', { item: 'a', ts: '2026-01-01' }, 'bad-event', /timestamp "2026-01-01"/],
  ['a null ts', { item: 'a', ts: null }, 'bad-event', /timestamp null/],
];

describe('bad events are refused and nothing is written', () => {
  it.each(BAD_INPUTS)('%s', async (_, input, code, names) => {
    expect(() => validateEvent(input, isKnownItem, NOW)).toThrow(names);

    const store = await open({ indexedDB: new IDBFactory(), dbName: freshDbName() });
    await store.append({ item: 'a', ts: NOW - 10 });
    const error = await rejectionOf(store.append(input as never));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(names);
    expect(await store.events()).toEqual([{ item: 'a', type: 'view', ts: NOW - 10 }]);
  });
});

describe('IndexedDB history', () => {
  it('keeps events in the order they were recorded, across connections', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName });
    expect(store.persistent).toBe(true);
    expect(store.warnings).toEqual([]);

    const first = await store.append({ item: 'b', ts: NOW - 2000 });
    await store.append({ item: 42, type: 'purchase' });
    await store.append({ item: 'a', ts: NOW - 5000 });
    expect(first).toEqual({ item: 'b', type: 'view', ts: NOW - 2000 });

    const expected = [
      { item: 'b', type: 'view', ts: NOW - 2000 },
      { item: '42', type: 'purchase', ts: NOW },
      { item: 'a', type: 'view', ts: NOW - 5000 },
    ];
    expect(await store.events()).toEqual(expected);
    store.close();
    const reopened = await open({ indexedDB, dbName });
    expect(await reopened.events()).toEqual(expected);
  });

  it('drops the oldest events beyond the cap, in storage too', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName, cap: 5 });
    for (let i = 0; i < 8; i++) await store.append({ item: `item-${i}` });
    expect(items(await store.events())).toEqual(['item-3', 'item-4', 'item-5', 'item-6', 'item-7']);

    const uncapped = await open({ indexedDB, dbName, cap: 100 });
    expect(await uncapped.events()).toHaveLength(5);
  });

  it('two connections appending 100 events each at once: all 200, each once, each heard by the other', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const one = await open({ indexedDB, dbName });
    const two = await open({ indexedDB, dbName });
    const heardByOne = recorder(one);
    const heardByTwo = recorder(two);

    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      appends.push(one.append({ item: `item-${i}` }));
      appends.push(two.append({ item: `item-${100 + i}` }));
    }
    await Promise.all(appends);

    const fromOne = Array.from({ length: 100 }, (_, i) => `item-${i}`);
    const fromTwo = Array.from({ length: 100 }, (_, i) => `item-${100 + i}`);
    for (const store of [one, two]) {
      const seen = items(await store.events());
      expect(seen).toHaveLength(200);
      expect(new Set(seen).size).toBe(200);
      expect([...seen].sort()).toEqual([...fromOne, ...fromTwo].sort());
    }
    const heardItems = (changes: HistoryChange[]) =>
      changes.map((c) => (c.kind === 'append' ? c.event.item : c.kind)).sort();
    await vi.waitFor(() => {
      expect(heardByOne).toHaveLength(100);
      expect(heardByTwo).toHaveLength(100);
    });
    expect(heardItems(heardByOne)).toEqual([...fromTwo].sort());
    expect(heardItems(heardByTwo)).toEqual([...fromOne].sort());
  });

  it("another connection's onChange hears appends and clear; a store never hears itself", async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const writer = await open({ indexedDB, dbName });
    const reader = await open({ indexedDB, dbName });
    const heardByWriter = recorder(writer);
    const heardByReader = recorder(reader);

    await writer.append({ item: 'a', ts: NOW - 1 });
    await writer.append({ item: 'b', type: 'add_to_cart' });
    await vi.waitFor(() => expect(heardByReader).toHaveLength(2));
    expect(heardByReader).toEqual([
      { kind: 'append', event: { item: 'a', type: 'view', ts: NOW - 1 } },
      { kind: 'append', event: { item: 'b', type: 'add_to_cart', ts: NOW } },
    ]);
    expect(await reader.events()).toHaveLength(2);

    await reader.clear();
    await vi.waitFor(() => expect(heardByWriter).toEqual([{ kind: 'clear' }]));
    expect(await writer.events()).toEqual([]);
    expect(heardByReader).toHaveLength(2);

    const unsubscribed: HistoryChange[] = [];
    const stop = reader.onChange((change) => unsubscribed.push(change));
    stop();
    await writer.append({ item: 'c' });
    await vi.waitFor(() => expect(heardByReader).toHaveLength(3));
    expect(unsubscribed).toEqual([]);
  });

  it("clear erases only that user's events; users sharing a channel name do not hear each other", async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const channelName = `${dbName}-shared`;
    const alice = await open({ indexedDB, dbName, user: 'alice', channelName });
    const aliceElsewhere = await open({ indexedDB, dbName, user: 'alice', channelName });
    const bob = await open({ indexedDB, dbName, user: 'bob', channelName });
    const heardByAlice = recorder(aliceElsewhere);
    const heardByBob = recorder(bob);

    await alice.append({ item: 'a' });
    await alice.append({ item: 'b' });
    await bob.append({ item: 'c' });
    await alice.clear();

    expect(await alice.events()).toEqual([]);
    expect(items(await bob.events())).toEqual(['c']);
    await vi.waitFor(() =>
      expect(heardByAlice.map((c) => c.kind)).toEqual(['append', 'append', 'clear']),
    );
    expect(heardByBob).toEqual([]);
  });

  it('channelName null: nothing is announced', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const silent = await open({ indexedDB, dbName, channelName: null });
    const control = await open({ indexedDB, dbName });
    const listener = await open({ indexedDB, dbName });
    const heard = recorder(listener);
    await silent.append({ item: 'a' });
    await control.append({ item: 'b' });
    await vi.waitFor(() => expect(heard).toHaveLength(1));
    expect(heard).toEqual([{ kind: 'append', event: { item: 'b', type: 'view', ts: NOW } }]);
  });

  it('a closed store refuses calls with disposed', async () => {
    const store = await openHistoryStore({
      isKnownItem,
      indexedDB: new IDBFactory(),
      dbName: freshDbName(),
    });
    store.close();
    expect((await rejectionOf(store.append({ item: 'a' }))).code).toBe('disposed');
    expect((await rejectionOf(store.events())).code).toBe('disposed');
  });
});

describe('memory fallback: storage problems never make an append fail', () => {
  it('indexedDB: null keeps history in memory, capped', async () => {
    const store = await open({ indexedDB: null, dbName: freshDbName(), cap: 3 });
    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/indexedDB: null.*memory only/)]);
    for (const item of ['a', 'b', 'c', '42']) await store.append({ item });
    expect(items(await store.events())).toEqual(['b', 'c', '42']);
    await store.clear();
    expect(await store.events()).toEqual([]);
  });

  it('no global indexedDB: memory, with a warning', async () => {
    vi.stubGlobal('indexedDB', undefined);
    const store = await open({ dbName: freshDbName() });
    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/not available/)]);
    await store.append({ item: 'a' });
    expect(items(await store.events())).toEqual(['a']);
  });

  it('an open that fails: memory, with a warning naming the error', async () => {
    const store = await open({ indexedDB: refusingFactory, dbName: freshDbName() });
    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/SecurityError: storage is disabled/)]);
    await store.append({ item: 'b' });
    expect(items(await store.events())).toEqual(['b']);
  });

  it('a blocked upgrade does not hang: memory, with a warning', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    // An older build's connection: version 1 without our store, deaf to versionchange.
    const older = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(dbName, 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const store = await open({ indexedDB, dbName });
    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/blocked.*memory only/)]);
    await store.append({ item: 'a' });
    expect(items(await store.events())).toEqual(['a']);

    older.close();
    const later = await open({ indexedDB, dbName });
    expect(later.persistent).toBe(true);
  });

  it('QuotaExceededError on append: the event is kept in memory with what was saved before', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName });
    const otherTab = await open({ indexedDB, dbName });
    const heard = recorder(otherTab);
    await store.append({ item: 'a' });
    await store.append({ item: 'b' });

    const add = vi.spyOn(FakeObjectStore.prototype, 'add').mockImplementation(() => {
      throw new DOMException('full', 'QuotaExceededError');
    });
    try {
      await expect(store.append({ item: 'c' })).resolves.toEqual({
        item: 'c',
        type: 'view',
        ts: NOW,
      });
      expect(add).toHaveBeenCalledTimes(1);
    } finally {
      add.mockRestore();
    }

    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/QuotaExceededError.*memory only/)]);
    expect(items(await store.events())).toEqual(['a', 'b', 'c']);
    await store.append({ item: '42' });
    expect(items(await store.events())).toEqual(['a', 'b', 'c', '42']);
    // Only saved events are announced: the other tab's view has just 'a' and 'b'.
    expect(items(await otherTab.events())).toEqual(['a', 'b']);
    await vi.waitFor(() => expect(heard).toHaveLength(2));

    // Clearing from memory also erases what had been saved, and tells the other tab.
    await store.clear();
    expect(await store.events()).toEqual([]);
    expect(await otherTab.events()).toEqual([]);
    await vi.waitFor(() => expect(heard.at(-1)).toEqual({ kind: 'clear' }));
  });

  it('a memory-only tab drops its events when another tab clears', async () => {
    const dbName = freshDbName();
    const memoryTab = await open({ indexedDB: null, dbName });
    const storedTab = await open({ indexedDB: new IDBFactory(), dbName });
    await memoryTab.append({ item: 'a' });
    const heard = recorder(memoryTab);
    await storedTab.clear();
    await vi.waitFor(() => expect(heard).toEqual([{ kind: 'clear' }]));
    expect(await memoryTab.events()).toEqual([]);
  });
});

describe("writes: 'write-behind'", () => {
  /** What another connection (another tab, or this one after a reload) reads back. */
  async function storedItems(indexedDB: IDBFactory, dbName: string): Promise<string[]> {
    const reader = await open({ indexedDB, dbName, channelName: null });
    const seen = items(await reader.events());
    reader.close();
    return seen;
  }

  it('append resolves before the write; the delay writes the batch in one transaction', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 40 });
    const add = vi.spyOn(FakeObjectStore.prototype, 'add');
    const transaction = vi.spyOn(IDBDatabase.prototype, 'transaction');
    for (const item of ['a', 'b', 'c']) await store.append({ item });
    expect(add).not.toHaveBeenCalled();
    expect(await storedItems(indexedDB, dbName)).toEqual([]);

    await vi.waitFor(async () =>
      expect(await storedItems(indexedDB, dbName)).toEqual(['a', 'b', 'c']),
    );
    expect(add).toHaveBeenCalledTimes(3);
    const writes = transaction.mock.calls.filter(([, mode]) => mode === 'readwrite');
    expect(writes).toEqual([['events', 'readwrite', { durability: 'relaxed' }]]);
  });

  it('flush() resolves once everything appended is committed; events() includes pending events', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 60_000 });
    await store.append({ item: 'a' });
    await store.append({ item: 'b' });
    expect(await storedItems(indexedDB, dbName)).toEqual([]);
    await store.flush();
    expect(await storedItems(indexedDB, dbName)).toEqual(['a', 'b']);
    await store.append({ item: 'c' });
    expect(items(await store.events())).toEqual(['a', 'b', 'c']);
    expect(await storedItems(indexedDB, dbName)).toEqual(['a', 'b', 'c']);
    await store.flush();
  });

  it('close() writes what is pending; the cap holds across batches', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await openHistoryStore({
      isKnownItem,
      now: () => NOW,
      indexedDB,
      dbName,
      cap: 4,
      writes: 'write-behind',
      writeDelayMs: 60_000,
    });
    for (let i = 0; i < 3; i++) await store.append({ item: `item-${i}` });
    await store.flush();
    for (let i = 3; i < 6; i++) await store.append({ item: `item-${i}` });
    store.close();
    await vi.waitFor(async () =>
      expect(await storedItems(indexedDB, dbName)).toEqual([
        'item-2',
        'item-3',
        'item-4',
        'item-5',
      ]),
    );
  });

  it('other tabs hear the events once they are committed', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const writer = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 60_000 });
    const listener = await open({ indexedDB, dbName });
    const heard = recorder(listener);
    await writer.append({ item: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heard).toEqual([]);
    await writer.flush();
    await vi.waitFor(() =>
      expect(heard).toEqual([{ kind: 'append', event: { item: 'a', type: 'view', ts: NOW } }]),
    );
  });

  it('clear() drops pending events: nothing lands after the erase', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 10 });
    await store.append({ item: 'a' });
    await store.flush();
    await store.append({ item: 'b' });
    await store.clear();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.events()).toEqual([]);
    expect(await storedItems(indexedDB, dbName)).toEqual([]);
  });

  it('a failed batch moves history to memory with every event, in order, and a warning', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const store = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 60_000 });
    await store.append({ item: 'a' });
    await store.flush();
    const add = vi.spyOn(FakeObjectStore.prototype, 'add').mockImplementation(() => {
      throw new DOMException('full', 'QuotaExceededError');
    });
    try {
      await store.append({ item: 'b' });
      await store.append({ item: 'c' });
      await store.flush();
    } finally {
      add.mockRestore();
    }
    expect(store.persistent).toBe(false);
    expect(store.warnings).toEqual([expect.stringMatching(/QuotaExceededError.*memory only/)]);
    await store.append({ item: '42' });
    expect(items(await store.events())).toEqual(['a', 'b', 'c', '42']);
    expect(await storedItems(indexedDB, dbName)).toEqual(['a']);
  });

  it('two write-behind connections appending at once: every event once, each tab in its order', async () => {
    const indexedDB = new IDBFactory();
    const dbName = freshDbName();
    const one = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 1 });
    const two = await open({ indexedDB, dbName, writes: 'write-behind', writeDelayMs: 3 });
    const fromOne = Array.from({ length: 100 }, (_, i) => `item-${i}`);
    const fromTwo = Array.from({ length: 100 }, (_, i) => `item-${100 + i}`);
    await Promise.all([
      (async () => {
        for (const item of fromOne) await one.append({ item });
      })(),
      (async () => {
        for (const item of fromTwo) {
          await two.append({ item });
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      })(),
    ]);
    await Promise.all([one.flush(), two.flush()]);
    const seen = await storedItems(indexedDB, dbName);
    expect(seen).toHaveLength(200);
    expect(seen.filter((item) => fromOne.includes(item))).toEqual(fromOne);
    expect(seen.filter((item) => fromTwo.includes(item))).toEqual(fromTwo);
  });

  it('a write delay outside 0..60000 ms is bad-request', async () => {
    for (const writeDelayMs of [-1, Number.NaN, 60_001]) {
      const error = await rejectionOf(
        openHistoryStore({ isKnownItem, indexedDB: null, writes: 'write-behind', writeDelayMs }),
      );
      expect(error.code).toBe('bad-request');
      expect(error.message).toMatch(/writeDelayMs/);
    }
  });
});
