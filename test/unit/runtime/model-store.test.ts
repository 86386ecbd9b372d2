// The model store against fake-indexeddb: a fresh IDBFactory per test, and a fetch served
// from a map of urls so every request, failure and corruption is under the test's control.
// fake-indexeddb/auto defines the IDB* globals that idb's wrappers test values against.
import 'fake-indexeddb/auto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDBObjectStore as FakeObjectStore, IDBFactory } from 'fake-indexeddb';
import { type IDBPDatabase, wrap } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ModelPackageError } from '../../../src/package/errors.ts';
import { MANIFEST_FILE } from '../../../src/package/manifest.ts';
import { type ModelPackage, tensorValues } from '../../../src/package/reader.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import {
  commitModel,
  deleteModel,
  type LoadedModel,
  loadModel,
  packageRoot,
  prepareModel,
  prepareUpdate,
  type UpdateCheck,
} from '../../../src/runtime/model-store.ts';

type Files = Map<string, Uint8Array>;

const URL_BASE = 'https://cdn.test/models/tiny/';
const STOREFRONT_DIR = join(import.meta.dirname, '../../../models/storefront-markov');

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

/** A package of two shards (weights-0.bin, weights-1.bin) and an id map; `seed` makes versions differ. */
async function tinyPackage(seed: number): Promise<Files> {
  const values = (n: number, offset: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + offset + i));
  const built = await buildModelPackage({
    kind: 'sequential-test',
    name: `tiny-${seed}`,
    architecture: { dims: 4 },
    items: { count: 3, ids: ['a', 'b', 'c'] },
    training: { dataset: 'unit' },
    denseEquivalent: { params: 32, embeddingParams: 16 },
    shardBytes: 64,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    tensors: [
      {
        name: 'items',
        dtype: 'float32',
        shape: [4, 4],
        data: values(16, 0),
        role: 'item-embedding',
      },
      { name: 'proj', dtype: 'float32', shape: [4, 4], data: values(16, 100) },
    ],
  });
  return built.files;
}

function storefrontPackage(): Files {
  return new Map(
    readdirSync(STOREFRONT_DIR).map((name) => [
      name,
      new Uint8Array(readFileSync(join(STOREFRONT_DIR, name))),
    ]),
  );
}

function versionOf(files: Files): string {
  return JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))).manifestSha256;
}

function payloadBytes(files: Files): number {
  return [...files].filter(([p]) => p !== MANIFEST_FILE).reduce((s, [, b]) => s + b.byteLength, 0);
}

/** A web server in a map: bodies arrive in 1 KiB chunks, like a real download. */
function fakeServer() {
  const routes = new Map<string, Uint8Array>();
  const requests: string[] = [];
  /** Requests for these urls wait until the returned release() is called. */
  const gates = new Map<string, Promise<void>>();
  const fetchImpl = vi.fn(async (input: RequestInfo | URL): Promise<Response> => {
    const url = String(input);
    requests.push(url);
    await gates.get(url);
    const bytes = routes.get(url);
    if (!bytes) return new Response('not found', { status: 404 });
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.byteLength) {
          controller.close();
          return;
        }
        controller.enqueue(bytes.slice(offset, offset + 1024));
        offset += 1024;
      },
    });
    return new Response(body);
  });
  return {
    routes,
    requests,
    fetch: fetchImpl as unknown as typeof fetch,
    publish(base: string, files: Files) {
      for (const [path, bytes] of files) routes.set(`${base}${path}`, bytes);
    },
    gate(url: string): () => void {
      let release = () => {};
      gates.set(
        url,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      return release;
    },
  };
}

/** A fetch that must never be called: the stored copy has to be enough. */
function offlineFetch() {
  return vi.fn(() => {
    throw new TypeError('Failed to fetch (offline)');
  }) as unknown as typeof fetch & { mock: { calls: unknown[] } };
}

async function rawDb(factory: IDBFactory, name = 'pocketrec-models'): Promise<IDBPDatabase> {
  return (await wrap(factory.open(name))) as IDBPDatabase;
}

async function storedKeys(factory: IDBFactory): Promise<{ packages: string[]; files: string[] }> {
  const db = await rawDb(factory);
  const packages = (await db.getAllKeys('packages')).map(String);
  const files = (await db.getAllKeys('files')).map((k) => (k as string[]).join('|'));
  db.close();
  return { packages, files };
}

function expectSameTensors(pkg: ModelPackage, files: Files): void {
  const manifest = JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE)));
  expect(pkg.manifest.manifestSha256).toBe(manifest.manifestSha256);
  expect([...pkg.tensors.keys()].sort()).toEqual(
    manifest.tensors.map((t: { name: string }) => t.name).sort(),
  );
  for (const tensor of pkg.tensors.values())
    expect(tensorValues(tensor).every(Number.isFinite)).toBe(true);
}

async function rejectionOf(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => expect.unreachable('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('loadModel from the network, then from IndexedDB', () => {
  it('downloads the shipped package with monotone progress ending at the total, and stores it', async () => {
    const files = storefrontPackage();
    const server = fakeServer();
    const base = 'https://cdn.test/models/storefront-markov/';
    server.publish(base, files);
    const indexedDB = new IDBFactory();
    const progress: [number, number][] = [];

    const loaded = await loadModel(base, {
      indexedDB,
      fetch: server.fetch,
      onProgress: (loadedBytes, totalBytes) => progress.push([loadedBytes, totalBytes]),
    });

    expect(loaded).toMatchObject({ from: 'network', persistent: true, warnings: [] });
    expect(loaded.version).toBe(versionOf(files));
    expectSameTensors(loaded.pkg, files);
    expect(loaded.pkg.itemIds?.length).toBe(loaded.pkg.manifest.items.count);

    const total = payloadBytes(files);
    expect(progress.length).toBeGreaterThan(10); // chunk by chunk, not once per file
    expect(progress[0]).toEqual([0, total]);
    expect(progress.at(-1)).toEqual([total, total]);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
      expect(progress[i]![1]).toBe(total);
    }

    const keys = await storedKeys(indexedDB);
    expect(keys.packages).toEqual([base]);
    expect(keys.files.sort()).toEqual(
      [...files.keys()].map((path) => `${base}|${loaded.version}|${path}`).sort(),
    );
  });

  it('loads the stored copy with no network at all, whichever way the url is spelled', async () => {
    const files = await tinyPackage(1);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    await loadModel(URL_BASE.slice(0, -1), { indexedDB, fetch: server.fetch });

    const offline = offlineFetch();
    const progress = vi.fn();
    const again = await loadModel(URL_BASE, { indexedDB, fetch: offline, onProgress: progress });

    expect(again).toMatchObject({ from: 'indexeddb', persistent: true, warnings: [] });
    expect(again.version).toBe(versionOf(files));
    expectSameTensors(again.pkg, files);
    expect(again.pkg.itemIds).toEqual(['a', 'b', 'c']);
    expect(offline.mock.calls).toHaveLength(0);
    expect(progress).not.toHaveBeenCalled();
  });
});

describe('damaged stored copies are detected, deleted and fetched again', () => {
  async function storedTiny() {
    const files = await tinyPackage(2);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    const first = await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    return { files, server, indexedDB, version: first.version };
  }

  async function reloadAndExpectHealed(
    setup: Awaited<ReturnType<typeof storedTiny>>,
    problem: RegExp,
  ): Promise<LoadedModel> {
    const before = setup.server.requests.length;
    const loaded = await loadModel(URL_BASE, {
      indexedDB: setup.indexedDB,
      fetch: setup.server.fetch,
    });
    expect(loaded.from).toBe('network');
    expect(loaded.persistent).toBe(true);
    expect(setup.server.requests.length - before).toBe(setup.files.size);
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(problem);
    expect(loaded.warnings[0]).toContain(URL_BASE);
    expectSameTensors(loaded.pkg, setup.files);

    // Healed: the next load is offline again, and nothing of the damaged record is left.
    const offline = await loadModel(URL_BASE, {
      indexedDB: setup.indexedDB,
      fetch: offlineFetch(),
    });
    expect(offline).toMatchObject({ from: 'indexeddb', warnings: [] });
    const keys = await storedKeys(setup.indexedDB);
    expect(keys.files.sort()).toEqual(
      [...setup.files.keys()].map((p) => `${URL_BASE}|${setup.version}|${p}`).sort(),
    );
    return loaded;
  }

  it('a flipped byte in a stored weight file', async () => {
    const setup = await storedTiny();
    const db = await rawDb(setup.indexedDB);
    const key = [URL_BASE, setup.version, 'weights-1.bin'];
    const bytes = (await db.get('files', key)) as Uint8Array;
    bytes[5] = (bytes[5] as number) ^ 0x01;
    await db.put('files', bytes, key);
    db.close();

    await reloadAndExpectHealed(setup, /hash-mismatch.*weights-1\.bin/);
  });

  it('a missing file record', async () => {
    const setup = await storedTiny();
    const db = await rawDb(setup.indexedDB);
    await db.delete('files', [URL_BASE, setup.version, 'weights-0.bin']);
    db.close();

    await reloadAndExpectHealed(setup, /missing-file.*weights-0\.bin/);
  });

  it('a pointer to a version whose files are not there', async () => {
    const setup = await storedTiny();
    const db = await rawDb(setup.indexedDB);
    const record = await db.get('packages', URL_BASE);
    await db.put('packages', { ...record, version: 'f'.repeat(64) });
    db.close();

    await reloadAndExpectHealed(setup, /version f{64}.*missing-file.*manifest\.json/);
  });

  it('a damaged copy and no network: model-unavailable, and the damaged copy is gone', async () => {
    const setup = await storedTiny();
    const db = await rawDb(setup.indexedDB);
    await db.delete('files', [URL_BASE, setup.version, 'items.txt']);
    db.close();

    const error = await rejectionOf(
      loadModel(URL_BASE, { indexedDB: setup.indexedDB, fetch: offlineFetch() }),
    );
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('model-unavailable');
    expect(await storedKeys(setup.indexedDB)).toEqual({ packages: [], files: [] });
  });
});

/** The downloaded model of an update check that found a new version. */
function newVersion(check: UpdateCheck) {
  if (check.status !== 'new') throw new Error(`expected a new version, got ${check.status}`);
  return check.model;
}

describe('prepareModel, then commitModel', () => {
  it('downloads and verifies without storing; the commit stores it; a stored copy needs none', async () => {
    const files = await tinyPackage(20);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();

    const prepared = await prepareModel(URL_BASE, { indexedDB, fetch: server.fetch });
    expect(prepared).toMatchObject({ from: 'network', version: versionOf(files), warnings: [] });
    expectSameTensors(prepared.pkg, files);
    expect(await storedKeys(indexedDB)).toEqual({ packages: [], files: [] });

    expect(await commitModel(URL_BASE, prepared, { indexedDB })).toEqual({
      persistent: true,
      warnings: [],
    });
    const stored = await prepareModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(stored).toMatchObject({ from: 'indexeddb', version: versionOf(files) });
    expect(await commitModel(URL_BASE, stored, { indexedDB })).toEqual({
      persistent: true,
      warnings: [],
    });
    expect((await storedKeys(indexedDB)).files).toHaveLength(files.size);
  });

  it('a first download that is never committed (its build crashed) leaves nothing stored', async () => {
    const files = await tinyPackage(21);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    await prepareModel(URL_BASE, { indexedDB, fetch: server.fetch });
    expect(await storedKeys(indexedDB)).toEqual({ packages: [], files: [] });
    const error = await rejectionOf(prepareModel(URL_BASE, { indexedDB, fetch: offlineFetch() }));
    expect((error as RuntimeError).code).toBe('model-unavailable');
  });

  it('names the version before reading any file but the manifest; what onVersion throws stops the load', async () => {
    const files = await tinyPackage(22);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    const seen: [string, number][] = [];
    await loadModel(URL_BASE, {
      indexedDB,
      fetch: server.fetch,
      onVersion: (version) => seen.push([version, server.requests.length]),
    });
    expect(seen).toEqual([[versionOf(files), 1]]);

    // From IndexedDB too; a refusal there is not damage: the stored copy stays.
    const refuse = () => {
      throw new RuntimeError('model-refused', 'refused');
    };
    const error = await rejectionOf(
      prepareModel(URL_BASE, { indexedDB, fetch: offlineFetch(), onVersion: refuse }),
    );
    expect((error as RuntimeError).code).toBe('model-refused');
    expect((await storedKeys(indexedDB)).files).toHaveLength(files.size);
    const again = await prepareModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(again.from).toBe('indexeddb');
  });
});

describe('prepareUpdate and commitModel', () => {
  it('switches to a new version served at the same url once committed, and removes the old files', async () => {
    const v1 = await tinyPackage(3);
    const v2 = await tinyPackage(4);
    const server = fakeServer();
    server.publish(URL_BASE, v1);
    const indexedDB = new IDBFactory();
    await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });

    const same = await prepareUpdate(URL_BASE, { fetch: server.fetch, current: versionOf(v1) });
    expect(same).toEqual({ status: 'current', version: versionOf(v1) });

    server.publish(URL_BASE, v2);
    const progress: number[] = [];
    const model = newVersion(
      await prepareUpdate(URL_BASE, {
        fetch: server.fetch,
        current: versionOf(v1),
        onProgress: (loaded) => progress.push(loaded),
      }),
    );
    expect(model).toMatchObject({ from: 'network', version: versionOf(v2) });
    expect(versionOf(v2)).not.toBe(versionOf(v1));
    expect(progress.at(-1)).toBe(payloadBytes(v2));
    // Not stored before the commit.
    const before = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(before.version).toBe(versionOf(v1));

    expect(await commitModel(URL_BASE, model, { indexedDB })).toEqual({
      persistent: true,
      warnings: [],
    });
    const loaded = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(loaded).toMatchObject({ from: 'indexeddb', version: versionOf(v2) });
    expect(loaded.pkg.manifest.name).toBe('tiny-4');
    const keys = await storedKeys(indexedDB);
    expect(keys.files.every((k) => k.includes(`|${versionOf(v2)}|`))).toBe(true);
    expect(keys.files).toHaveLength(v2.size);
  });

  it('an update never committed (the worker crashed building it) leaves the good version stored', async () => {
    const v1 = await tinyPackage(23);
    const v2 = await tinyPackage(24);
    const server = fakeServer();
    server.publish(URL_BASE, v1);
    const indexedDB = new IDBFactory();
    await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    const keysBefore = await storedKeys(indexedDB);
    server.publish(URL_BASE, v2);

    newVersion(await prepareUpdate(URL_BASE, { fetch: server.fetch, current: versionOf(v1) }));

    expect(await storedKeys(indexedDB)).toEqual(keysBefore);
    const loaded = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(loaded).toMatchObject({ from: 'indexeddb', version: versionOf(v1), warnings: [] });
  });

  it('a refused version is not downloaded', async () => {
    const v1 = await tinyPackage(25);
    const v2 = await tinyPackage(26);
    const server = fakeServer();
    server.publish(URL_BASE, v2);
    const onVersion = vi.fn();
    const check = await prepareUpdate(URL_BASE, {
      fetch: server.fetch,
      current: versionOf(v1),
      refused: [versionOf(v2)],
      onVersion,
    });
    expect(check).toEqual({ status: 'refused', version: versionOf(v2) });
    expect(server.requests).toEqual([`${URL_BASE}manifest.json`]);
    expect(onVersion).not.toHaveBeenCalled();
  });

  it('keeps serving the old version while the new one downloads', async () => {
    const v1 = await tinyPackage(5);
    const v2 = await tinyPackage(6);
    const server = fakeServer();
    server.publish(URL_BASE, v1);
    const indexedDB = new IDBFactory();
    await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    server.publish(URL_BASE, v2);
    const release = server.gate(`${URL_BASE}weights-1.bin`);

    const update = prepareUpdate(URL_BASE, { fetch: server.fetch, current: versionOf(v1) });
    await vi.waitFor(() => expect(server.requests).toContain(`${URL_BASE}weights-1.bin`));
    const during = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(during.version).toBe(versionOf(v1));

    release();
    await commitModel(URL_BASE, newVersion(await update), { indexedDB });
    const after = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(after.version).toBe(versionOf(v2));
  });

  it.each([
    ['a corrupt file', 'hash-mismatch', (files: Files) => flipLastByte(files, 'weights-0.bin')],
    ['a file that 404s', 'missing-file', (files: Files) => withoutFile(files, 'weights-1.bin')],
  ] as const)(
    'a new version with %s rejects and leaves the old one in place',
    async (_, code, damage) => {
      const v1 = await tinyPackage(7);
      const v2 = await tinyPackage(8);
      const server = fakeServer();
      server.publish(URL_BASE, v1);
      const indexedDB = new IDBFactory();
      await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
      server.routes.clear();
      server.publish(URL_BASE, damage(v2));

      const error = await rejectionOf(
        prepareUpdate(URL_BASE, { fetch: server.fetch, current: versionOf(v1) }),
      );
      expect(error).toBeInstanceOf(ModelPackageError);
      expect((error as ModelPackageError).code).toBe(code);

      const loaded = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
      expect(loaded).toMatchObject({ from: 'indexeddb', version: versionOf(v1), warnings: [] });
      const keys = await storedKeys(indexedDB);
      expect(keys.files.every((k) => k.includes(`|${versionOf(v1)}|`))).toBe(true);
    },
  );

  it('with nothing in use yet, downloads the version; the commit stores it', async () => {
    const files = await tinyPackage(9);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    const model = newVersion(await prepareUpdate(URL_BASE, { fetch: server.fetch, current: null }));
    expect(model.version).toBe(versionOf(files));
    await commitModel(URL_BASE, model, { indexedDB });
    const loaded = await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() });
    expect(loaded.from).toBe('indexeddb');
  });
});

function flipLastByte(files: Files, path: string): Files {
  const out = new Map(files);
  const bytes = (files.get(path) as Uint8Array).slice();
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x80;
  out.set(path, bytes);
  return out;
}

function withoutFile(files: Files, path: string): Files {
  const out = new Map(files);
  out.delete(path);
  return out;
}

describe('storage problems never stop a load', () => {
  it('QuotaExceededError while storing: the package from memory, with a warning, nothing half-written', async () => {
    const files = await tinyPackage(10);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    // The files go in, then the pointer hits the quota: the whole transaction must roll back.
    const originalPut = FakeObjectStore.prototype.put;
    const put = vi.spyOn(FakeObjectStore.prototype, 'put').mockImplementation(function (
      this: IDBObjectStore,
      ...args: [unknown, IDBValidKey?]
    ) {
      if (this.name === 'packages') throw new DOMException('full', 'QuotaExceededError');
      return originalPut.apply(this, args);
    });

    let loaded: LoadedModel;
    try {
      loaded = await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
      expect(put.mock.contexts.map((store) => (store as IDBObjectStore).name)).toEqual([
        ...Array.from({ length: files.size }, () => 'files'),
        'packages',
      ]);
    } finally {
      put.mockRestore();
    }

    expect(loaded).toMatchObject({ from: 'network', persistent: false });
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/QuotaExceededError.*memory only/);
    expectSameTensors(loaded.pkg, files);
    expect(await storedKeys(indexedDB)).toEqual({ packages: [], files: [] });
  });

  it('indexedDB: null keeps the model in memory and downloads it on every load', async () => {
    const files = await tinyPackage(11);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    for (let i = 0; i < 2; i++) {
      const loaded = await loadModel(URL_BASE, { indexedDB: null, fetch: server.fetch });
      expect(loaded).toMatchObject({ from: 'network', persistent: false });
      expect(loaded.warnings).toEqual([expect.stringMatching(/indexedDB: null.*memory only/)]);
    }
    expect(server.requests).toHaveLength(2 * files.size);
  });

  it('no global indexedDB: memory only, with a warning', async () => {
    const files = await tinyPackage(12);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    vi.stubGlobal('indexedDB', undefined);
    const loaded = await loadModel(URL_BASE, { fetch: server.fetch });
    expect(loaded.persistent).toBe(false);
    expect(loaded.warnings).toEqual([expect.stringMatching(/not available/)]);
  });

  it('an open that fails: memory only, with a warning naming the error', async () => {
    const files = await tinyPackage(13);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const refusing = {
      open() {
        throw new DOMException('storage is disabled', 'SecurityError');
      },
    } as unknown as IDBFactory;
    const loaded = await loadModel(URL_BASE, { indexedDB: refusing, fetch: server.fetch });
    expect(loaded).toMatchObject({ from: 'network', persistent: false });
    expect(loaded.warnings).toEqual([expect.stringMatching(/SecurityError: storage is disabled/)]);
  });

  it('a blocked upgrade (another tab holds an older database open) does not hang', async () => {
    const files = await tinyPackage(14);
    const server = fakeServer();
    server.publish(URL_BASE, files);
    const indexedDB = new IDBFactory();
    // An older build's connection: version 1 without our stores, deaf to versionchange.
    const older = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('pocketrec-models', 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });

    const loaded = await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    expect(loaded).toMatchObject({ from: 'network', persistent: false });
    expect(loaded.warnings).toEqual([expect.stringMatching(/blocked.*memory only/)]);
    expectSameTensors(loaded.pkg, files);

    // Once the other tab lets go, the upgrade completes and the model is stored again.
    older.close();
    const later = await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    expect(later).toMatchObject({ from: 'network', persistent: true, warnings: [] });
    expect((await loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() })).from).toBe(
      'indexeddb',
    );
  });
});

describe('failures that do stop a load', () => {
  it('network down and nothing stored: model-unavailable naming the url, caused by the fetch error', async () => {
    const offline = offlineFetch();
    const error = await rejectionOf(
      loadModel(URL_BASE, { indexedDB: new IDBFactory(), fetch: offline }),
    );
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('model-unavailable');
    expect((error as Error).message).toContain(URL_BASE);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    expect(((error as Error).cause as Error).message).toContain('offline');
  });

  it('no package at the url (manifest 404): model-unavailable caused by the missing file', async () => {
    const server = fakeServer();
    const error = await rejectionOf(
      loadModel(URL_BASE, { indexedDB: new IDBFactory(), fetch: server.fetch }),
    );
    expect((error as RuntimeError).code).toBe('model-unavailable');
    expect((error as Error).message).toContain(`${URL_BASE}manifest.json`);
    expect((error as Error).cause).toBeInstanceOf(ModelPackageError);
    expect(((error as Error).cause as ModelPackageError).code).toBe('missing-file');
  });

  it('a served package that fails verification rejects with its ModelPackageError and stores nothing', async () => {
    const server = fakeServer();
    server.publish(URL_BASE, flipLastByte(await tinyPackage(15), 'items.txt'));
    const indexedDB = new IDBFactory();
    const error = await rejectionOf(loadModel(URL_BASE, { indexedDB, fetch: server.fetch }));
    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('hash-mismatch');
    expect((error as ModelPackageError).file).toBe(`${URL_BASE}items.txt`);
    expect(await storedKeys(indexedDB)).toEqual({ packages: [], files: [] });
  });
});

describe('deleteModel', () => {
  it('forgets every stored file of the url and leaves other models alone', async () => {
    const server = fakeServer();
    const otherBase = 'https://cdn.test/models/other/';
    server.publish(URL_BASE, await tinyPackage(16));
    server.publish(otherBase, await tinyPackage(17));
    const indexedDB = new IDBFactory();
    await loadModel(URL_BASE, { indexedDB, fetch: server.fetch });
    await loadModel(otherBase, { indexedDB, fetch: server.fetch });

    await deleteModel(URL_BASE.slice(0, -1), { indexedDB });

    const keys = await storedKeys(indexedDB);
    expect(keys.packages).toEqual([otherBase]);
    expect(keys.files.every((k) => k.startsWith(`${otherBase}|`))).toBe(true);
    const error = await rejectionOf(loadModel(URL_BASE, { indexedDB, fetch: offlineFetch() }));
    expect((error as RuntimeError).code).toBe('model-unavailable');
    expect((await loadModel(otherBase, { indexedDB, fetch: offlineFetch() })).from).toBe(
      'indexeddb',
    );
  });

  it('resolves with no IndexedDB, rejects with storage-unavailable when the database cannot be opened', async () => {
    await expect(deleteModel(URL_BASE, { indexedDB: null })).resolves.toBeUndefined();
    const refusing = {
      open() {
        throw new DOMException('storage is disabled', 'SecurityError');
      },
    } as unknown as IDBFactory;
    const error = await rejectionOf(deleteModel(URL_BASE, { indexedDB: refusing }));
    expect((error as RuntimeError).code).toBe('storage-unavailable');
    expect((error as Error).message).toContain(URL_BASE);
  });
});

/** A body of `total` bytes made on demand in 4 KiB chunks, counting what the reader pulled. */
function endlessBody(total: number, fill = 0x41) {
  const chunk = new Uint8Array(4096).fill(fill);
  const counts = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counts.pulled >= total) {
        controller.close();
        return;
      }
      controller.enqueue(chunk.slice());
      counts.pulled += chunk.byteLength;
    },
    cancel() {
      counts.cancelled = true;
    },
  });
  return { stream, counts };
}

describe('downloads stop one byte past the stated length', () => {
  it('a 16-byte file streamed as 512 MiB: cut after 17 bytes, oversized, a few KiB pulled', async () => {
    const built = await buildModelPackage({
      kind: 'sequential-test',
      name: 'sixteen',
      architecture: { dims: 4 },
      items: { count: 3, ids: ['a', 'b', 'c'] },
      training: { dataset: 'unit' },
      denseEquivalent: { params: 36, embeddingParams: 16 },
      shardBytes: 64,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      tensors: [
        { name: 'items', dtype: 'float32', shape: [4, 4], data: new Float32Array(16) },
        { name: 'bias', dtype: 'float32', shape: [4], data: new Float32Array(4) },
      ],
    });
    const manifest = JSON.parse(new TextDecoder().decode(built.files.get(MANIFEST_FILE)));
    const sixteen = manifest.files.find((f: { bytes: number }) => f.bytes === 16).path;
    const server = fakeServer();
    server.publish(URL_BASE, built.files);
    const body = endlessBody(512 * 1024 * 1024);
    const fetchImpl = (async (input: RequestInfo | URL) =>
      String(input) === `${URL_BASE}${sixteen}`
        ? new Response(body.stream)
        : server.fetch(input)) as typeof fetch;
    const indexedDB = new IDBFactory();
    const progress: [number, number][] = [];

    const error = await rejectionOf(
      loadModel(URL_BASE, {
        indexedDB,
        fetch: fetchImpl,
        onProgress: (loaded, total) => progress.push([loaded, total]),
      }),
    );

    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('oversized');
    expect((error as ModelPackageError).file).toBe(`${URL_BASE}${sixteen}`);
    expect(body.counts.cancelled).toBe(true);
    expect(body.counts.pulled).toBeLessThanOrEqual(4 * 4096);
    const total = payloadBytes(built.files);
    for (const [loaded, of] of progress) {
      expect(of).toBe(total);
      expect(loaded).toBeLessThanOrEqual(total);
    }
    expect(await storedKeys(indexedDB)).toEqual({ packages: [], files: [] });
  });

  it('a manifest streamed past 1 MiB: cut after 1 MiB + 1 byte and refused as bad-manifest', async () => {
    const body = endlessBody(64 * 1024 * 1024, 0x20);
    const requests: string[] = [];
    const fetchImpl = (async (input: RequestInfo | URL) => {
      requests.push(String(input));
      return new Response(body.stream);
    }) as typeof fetch;

    const error = await rejectionOf(
      loadModel(URL_BASE, { indexedDB: new IDBFactory(), fetch: fetchImpl }),
    );

    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('bad-manifest');
    expect((error as Error).message).toMatch(/larger than 1048576 bytes/);
    expect(requests).toEqual([`${URL_BASE}manifest.json`]);
    expect(body.counts.cancelled).toBe(true);
    expect(body.counts.pulled).toBeLessThanOrEqual(1024 * 1024 + 4 * 4096);
  });
});

describe('package urls with a query or a fragment', () => {
  it('fetches manifest.json and every file with the query, never the fragment', async () => {
    const files = await tinyPackage(30);
    const server = fakeServer();
    for (const [path, bytes] of files) {
      server.routes.set(`https://cdn.test/models/tiny/${path}?v=2`, bytes);
    }
    const indexedDB = new IDBFactory();

    const loaded = await loadModel('https://cdn.test/models/tiny?v=2#x', {
      indexedDB,
      fetch: server.fetch,
    });

    expect(loaded).toMatchObject({ from: 'network', persistent: true, warnings: [] });
    expect(server.requests).toEqual([
      'https://cdn.test/models/tiny/manifest.json?v=2',
      ...[...files.keys()]
        .filter((p) => p !== MANIFEST_FILE)
        .map((p) => `https://cdn.test/models/tiny/${p}?v=2`),
    ]);
    expect((await storedKeys(indexedDB)).packages).toEqual(['https://cdn.test/models/tiny/?v=2']);
  });

  it('one stored copy per package and query, however the page spells the url', async () => {
    expect(
      new Set([
        packageRoot('https://cdn.test/models/tiny?v=2'),
        packageRoot('https://cdn.test/models/tiny/?v=2'),
        packageRoot('https://cdn.test/models/tiny?v=2#x'),
        packageRoot('https://cdn.test/models/tiny//?v=2#'),
      ]),
    ).toEqual(new Set(['https://cdn.test/models/tiny/?v=2']));
    expect(packageRoot('https://cdn.test/models/tiny#x')).toBe(URL_BASE);
    expect(packageRoot('https://cdn.test/models/tiny?v=3')).not.toBe(
      packageRoot('https://cdn.test/models/tiny?v=2'),
    );

    const files = await tinyPackage(31);
    const server = fakeServer();
    for (const [path, bytes] of files) {
      server.routes.set(`https://cdn.test/models/tiny/${path}?v=2`, bytes);
    }
    const indexedDB = new IDBFactory();
    await loadModel('https://cdn.test/models/tiny?v=2', { indexedDB, fetch: server.fetch });
    const again = await loadModel('https://cdn.test/models/tiny/?v=2#top', {
      indexedDB,
      fetch: offlineFetch(),
    });
    expect(again.from).toBe('indexeddb');
    // Another query may be another build: not served from this copy.
    const other = await rejectionOf(
      loadModel('https://cdn.test/models/tiny?v=3', { indexedDB, fetch: offlineFetch() }),
    );
    expect((other as RuntimeError).code).toBe('model-unavailable');
  });

  it('names stored files with the query when a stored copy is damaged', async () => {
    const files = await tinyPackage(32);
    const server = fakeServer();
    for (const [path, bytes] of files) {
      server.routes.set(`https://cdn.test/models/tiny/${path}?v=2`, bytes);
    }
    const indexedDB = new IDBFactory();
    const first = await loadModel('https://cdn.test/models/tiny?v=2', {
      indexedDB,
      fetch: server.fetch,
    });
    const db = await rawDb(indexedDB);
    await db.delete('files', ['https://cdn.test/models/tiny/?v=2', first.version, 'items.txt']);
    db.close();
    const healed = await loadModel('https://cdn.test/models/tiny?v=2', {
      indexedDB,
      fetch: server.fetch,
    });
    expect(healed.warnings[0]).toContain(
      'missing-file: indexeddb:https://cdn.test/models/tiny/items.txt?v=2',
    );
  });
});
