// eraseLocalData against fake-indexeddb: the real stores write their default databases
// (so a renamed default in history-store.ts or model-store.ts fails here), then erase must
// leave no pocketrec database for indexedDB.databases() to list, and nothing else touched.
// fake-indexeddb/auto defines the IDB* globals that idb's wrappers test values against.
import 'fake-indexeddb/auto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
import type { Recommender } from '../../../src/runtime/client.ts';
import { eraseLocalData } from '../../../src/runtime/erase.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import { openHistoryStore } from '../../../src/runtime/history-store.ts';
import { loadModel } from '../../../src/runtime/model-store.ts';

const STOREFRONT_DIR = join(import.meta.dirname, '../../../models/storefront-markov');
const MODEL_URL = 'https://shop.test/models/storefront-markov/';

/** A fetch that serves the shipped storefront package from disk. */
function packageFetch(): typeof fetch {
  const files = new Map(
    readdirSync(STOREFRONT_DIR).map((name) => [
      `${MODEL_URL}${name}`,
      new Uint8Array(readFileSync(join(STOREFRONT_DIR, name))),
    ]),
  );
  return (async (input: RequestInfo | URL) => {
    const bytes = files.get(String(input));
    return bytes ? new Response(bytes) : new Response('not found', { status: 404 });
  }) as typeof fetch;
}

async function names(factory: IDBFactory): Promise<string[]> {
  return (await factory.databases()).map((db) => db.name as string).sort();
}

/** A page's data as the runtime stores it: a history of two events and a stored model. */
async function storeLocalData(factory: IDBFactory, dbName?: string): Promise<void> {
  const history = await openHistoryStore({
    indexedDB: factory,
    isKnownItem: () => true,
    channelName: null,
    ...(dbName ? { dbName } : {}),
  });
  await history.append({ item: 'p0001' });
  await history.append({ item: 'p0002', type: 'click' });
  history.close();
  const model = await loadModel(MODEL_URL, { indexedDB: factory, fetch: packageFetch() });
  expect(model.persistent).toBe(true);
}

function openRaw(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** A recommender stand-in that records the order of the calls erase makes. */
function fakeRecommender(calls: string[]): Recommender {
  return {
    clear: vi.fn(async () => {
      calls.push('clear');
    }),
    dispose: vi.fn(() => {
      calls.push('dispose');
    }),
  } as unknown as Recommender;
}

describe('eraseLocalData', () => {
  it('deletes the history and model databases the stores wrote, and nothing else', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory);
    (await openRaw(factory, 'another-app')).close();
    expect(await names(factory)).toEqual(['another-app', 'pocketrec-history', 'pocketrec-models']);

    const result = await eraseLocalData({ indexedDB: factory });

    expect(result.deleted.sort()).toEqual(['pocketrec-history', 'pocketrec-models']);
    expect(await names(factory)).toEqual(['another-app']);
  });

  it('a history reopened after erasing starts empty', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory);
    await eraseLocalData({ indexedDB: factory });
    const history = await openHistoryStore({
      indexedDB: factory,
      isKnownItem: () => true,
      channelName: null,
    });
    expect(await history.events()).toEqual([]);
    history.close();
  });

  it('also deletes databases named in the options and any other pocketrec- database', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory, 'shop-history');
    (await openRaw(factory, 'pocketrec-history-test')).close();

    const result = await eraseLocalData({
      indexedDB: factory,
      databases: { history: 'shop-history' },
    });

    expect(result.deleted).toContain('shop-history');
    expect(result.deleted).toContain('pocketrec-history-test');
    expect(await names(factory)).toEqual([]);
  });

  it('clears and disposes the recommenders before deleting', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory);
    const calls: string[] = [];
    const deleteDatabase = factory.deleteDatabase.bind(factory);
    vi.spyOn(factory, 'deleteDatabase').mockImplementation((name) => {
      calls.push(`delete ${name}`);
      return deleteDatabase(name);
    });

    await eraseLocalData({ indexedDB: factory, recommenders: [fakeRecommender(calls)] });

    expect(calls.slice(0, 2)).toEqual(['clear', 'dispose']);
    expect(calls.slice(2).sort()).toEqual(['delete pocketrec-history', 'delete pocketrec-models']);
  });

  it('a disposed recommender (clear rejects) does not stop the erase', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory);
    const rec = {
      clear: vi.fn(async () => {
        throw new RuntimeError('disposed', 'the history store was closed');
      }),
      dispose: vi.fn(),
    } as unknown as Recommender;

    await eraseLocalData({ indexedDB: factory, recommenders: [rec] });

    expect(rec.dispose).toHaveBeenCalledOnce();
    expect(await names(factory)).toEqual([]);
  });

  it('an open history store lets go (versionchange) instead of blocking the erase', async () => {
    const factory = new IDBFactory();
    const history = await openHistoryStore({
      indexedDB: factory,
      isKnownItem: () => true,
      channelName: null,
    });
    await history.append({ item: 'p0001' });

    await eraseLocalData({ indexedDB: factory, blockedTimeoutMs: 1_000 });

    expect(await names(factory)).not.toContain('pocketrec-history');
    history.close();
  });

  it('a connection that never lets go: storage-unavailable naming the database; deleted once it closes', async () => {
    const factory = new IDBFactory();
    await storeLocalData(factory);
    const stubborn = await openRaw(factory, 'pocketrec-history');

    const erased = eraseLocalData({ indexedDB: factory, blockedTimeoutMs: 50 });

    await expect(erased).rejects.toBeInstanceOf(RuntimeError);
    await expect(erased).rejects.toMatchObject({
      code: 'storage-unavailable',
      message: expect.stringContaining('"pocketrec-history"'),
    });
    stubborn.close();
    await vi.waitFor(async () => expect(await names(factory)).toEqual([]));
  });

  it('without IndexedDB there is nothing to delete', async () => {
    const calls: string[] = [];
    const result = await eraseLocalData({
      indexedDB: null,
      recommenders: [fakeRecommender(calls)],
    });
    expect(result.deleted).toEqual([]);
    expect(calls).toEqual(['clear', 'dispose']);
  });
});
