// The model store with a download budget, against fake-indexeddb and a fetch that answers
// Range requests (206), ignores them (200, the whole file), or sends more than asked: only
// the prefix the budget allows is read, verified by its chunk hashes, stored with its chunk
// count, reused (cut to a smaller budget) or extended (for a larger one); a tampered or
// truncated chunk is a typed error and the last good copy stays.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { type IDBPDatabase, wrap } from 'idb';
import { describe, expect, it, vi } from 'vitest';
import {
  chunkValuesName,
  decodePrunedTable,
  prunedPrefixLayout,
} from '../../../src/model/ctr/pruned-package.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import { MANIFEST_FILE, type Manifest } from '../../../src/package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import type { DownloadBudget } from '../../../src/runtime/budget.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import {
  commitModel,
  type ModelStoreOptions,
  type PreparedModel,
  prepareModel,
  prepareUpdate,
} from '../../../src/runtime/model-store.ts';
import { type ProgressiveFixture, progressivePackage } from '../../fixtures/progressive-ctr.ts';

type Files = Map<string, Uint8Array>;
const BASE = 'https://cdn.test/models/ctr/';

/** How the fake server treats a Range header. */
type RangeMode = 'honour' | 'ignore' | 'overlong' | 'from-zero' | 'misplaced';

interface Served {
  url: string;
  range: string | null;
  status: number;
  /** Body bytes the client pulled from the stream (1 KiB at a time). */
  pulled: number;
}

/** A web server in a map that answers `Range: bytes=a-b` (one range, as the store asks). */
function rangeServer(mode: RangeMode = 'honour') {
  const routes = new Map<string, Uint8Array>();
  const served: Served[] = [];
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const range = new Headers(init?.headers).get('range');
    const bytes = routes.get(url);
    if (!bytes) return new Response('not found', { status: 404 });
    const asked = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    let body = bytes;
    let status = 200;
    const headers: Record<string, string> = {};
    if (asked && mode !== 'ignore') {
      // 'from-zero' sends from byte 0 whatever was asked, 'misplaced' from 10 bytes past it.
      const from = Number(asked[1]);
      const start = mode === 'from-zero' ? 0 : mode === 'misplaced' ? from + 10 : from;
      if (start >= bytes.byteLength) {
        served.push({ url, range, status: 416, pulled: 0 });
        return new Response(null, {
          status: 416,
          headers: { 'content-range': `bytes */${bytes.byteLength}` },
        });
      }
      // 'overlong': what Vite's static server does for bytes=0-0, the rest of the file.
      const last = mode === 'overlong' ? bytes.byteLength - 1 : Number(asked[2]);
      const end = Math.min(last, bytes.byteLength - 1);
      body = bytes.subarray(start, end + 1);
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${bytes.byteLength}`;
    }
    const entry: Served = { url, range, status, pulled: 0 };
    served.push(entry);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= body.byteLength) {
          controller.close();
          return;
        }
        const chunk = body.slice(offset, offset + 1024);
        offset += chunk.byteLength;
        entry.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    return new Response(stream, { status, headers });
  });
  return {
    routes,
    served,
    fetch: fetchImpl as unknown as typeof fetch,
    publish(files: Files) {
      routes.clear();
      for (const [path, bytes] of files) routes.set(`${BASE}${path}`, bytes);
    },
    /** The weight and vocabulary requests: everything but the manifest. */
    fileRequests: () => served.filter((s) => !s.url.endsWith(MANIFEST_FILE)),
    reset() {
      served.length = 0;
      fetchImpl.mockClear();
    },
  };
}

const budgetOf = (bytes: number): DownloadBudget => ({ bytes, auto: false });

/** The budget that takes exactly c chunks. */
const forChunks = (fixture: ProgressiveFixture, c: number) =>
  budgetOf(fixture.prefixBytes[c] as number);

async function wholePackage(files: Files): Promise<ModelPackage> {
  return readModelPackage(memorySource(files));
}

/** The model a prefix of c chunks must be: the whole package's table cut to c chunks. */
async function expectPrefixModel(pkg: ModelPackage, files: Files, chunks: number) {
  expect(pkg.prefixChunks).toBe(chunks);
  const expected = decodePrunedTable(await wholePackage(files), { prefixChunks: chunks });
  const got = decodePrunedTable(pkg);
  expect(got.kept).toBe(expected.kept);
  expect(got.table).toEqual(expected.table);
}

async function storedRecord(factory: IDBFactory): Promise<Record<string, unknown> | undefined> {
  const db = (await wrap(factory.open('pocketrec-models'))) as IDBPDatabase;
  const record = (await db.get('packages', BASE)) as Record<string, unknown> | undefined;
  db.close();
  return record;
}

async function refusal(run: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

function offline(): typeof fetch {
  return vi.fn(() => {
    throw new TypeError('Failed to fetch (offline)');
  }) as unknown as typeof fetch;
}

async function openAndCommit(options: ModelStoreOptions): Promise<PreparedModel> {
  const prepared = await prepareModel(BASE, options);
  const saved = await commitModel(BASE, prepared, options);
  expect(saved.persistent).toBe(true);
  return prepared;
}

describe('model store: a budget on a progressive package', () => {
  it('206: one Range request per weight file it needs, only the prefix read, stored with its chunk count', async () => {
    const fixture = await progressivePackage({ shardBytes: 8192 });
    const server = rangeServer();
    server.publish(fixture.files);
    const indexedDB = new IDBFactory();
    const progress: [number, number][] = [];
    const budget = budgetOf((fixture.prefixBytes[5] as number) + 1000);
    const prepared = await openAndCommit({
      indexedDB,
      fetch: server.fetch,
      budget,
      onProgress: (loaded, total) => progress.push([loaded, total]),
    });

    const prefixBytes = fixture.prefixBytes[5] as number;
    expect(prepared.from).toBe('network');
    expect(prepared.prefix).toEqual({
      chunks: 5,
      totalChunks: 15,
      bytes: prefixBytes,
      totalBytes: fixture.prefixBytes.at(-1),
    });
    await expectPrefixModel(prepared.pkg, fixture.files, 5);
    const requests = server.fileRequests();
    expect(requests.every((r) => r.status === 206)).toBe(true);
    expect(requests.reduce((n, r) => n + r.pulled, 0)).toBe(prefixBytes);
    // One request per file the prefix reaches into, for exactly its bytes; none past it.
    const ends = prunedPrefixLayout(fixture.manifest).ends[5] as Map<string, number>;
    expect(ends.size).toBeLessThan(fixture.files.size - 2);
    const asked = new Map(requests.map((r) => [r.url.slice(BASE.length), r.range]));
    const vocabulary = (fixture.files.get('vocabulary.json') as Uint8Array).byteLength;
    expect(asked).toEqual(
      new Map([
        ...[...ends].map(([path, end]): [string, string] => [path, `bytes=0-${end - 1}`]),
        ['vocabulary.json', `bytes=0-${vocabulary - 1}`],
      ]),
    );
    expect(progress[0]).toEqual([0, prefixBytes]);
    expect(progress.at(-1)).toEqual([prefixBytes, prefixBytes]);
    expect(progress.every(([loaded], i) => i === 0 || loaded >= (progress[i - 1]?.[0] ?? 0))).toBe(
      true,
    );
    expect(await storedRecord(indexedDB)).toMatchObject({ chunks: 5 });

    // The same budget again: the stored prefix, verified, and no request at all.
    const again = await prepareModel(BASE, { indexedDB, fetch: offline(), budget });
    expect(again.from).toBe('indexeddb');
    expect(again.prefix?.chunks).toBe(5);
    await expectPrefixModel(again.pkg, fixture.files, 5);
    // A smaller budget: the stored copy cut to its chunks, so a budget always gives one model.
    const smaller = await prepareModel(BASE, {
      indexedDB,
      fetch: offline(),
      budget: forChunks(fixture, 2),
    });
    expect(smaller.from).toBe('indexeddb');
    expect(smaller.prefix).toMatchObject({ chunks: 2, bytes: fixture.prefixBytes[2] });
    await expectPrefixModel(smaller.pkg, fixture.files, 2);
  });

  it('a larger budget extends the stored prefix: Range requests from where the stored bytes end', async () => {
    const fixture = await progressivePackage({ shardBytes: 8192 });
    const server = rangeServer();
    server.publish(fixture.files);
    const indexedDB = new IDBFactory();
    await openAndCommit({ indexedDB, fetch: server.fetch, budget: forChunks(fixture, 5) });
    server.reset();
    const progress: [number, number][] = [];
    const prepared = await openAndCommit({
      indexedDB,
      fetch: server.fetch,
      budget: forChunks(fixture, 9),
      onProgress: (loaded, total) => progress.push([loaded, total]),
    });
    expect(prepared.from).toBe('network');
    expect(prepared.prefix?.chunks).toBe(9);
    await expectPrefixModel(prepared.pkg, fixture.files, 9);
    const fetched = server.fileRequests();
    const bytes = (fixture.prefixBytes[9] as number) - (fixture.prefixBytes[5] as number);
    expect(fetched.reduce((n, r) => n + r.pulled, 0)).toBe(bytes);
    // Each file from where its stored bytes end (0 for a file the old prefix did not reach).
    const [before, after] = [5, 9].map(
      (c) => prunedPrefixLayout(fixture.manifest).ends[c] as Map<string, number>,
    ) as [Map<string, number>, Map<string, number>];
    expect(new Map(fetched.map((r) => [r.url.slice(BASE.length), r.range]))).toEqual(
      new Map(
        [...after]
          .filter(([path, end]) => end > (before.get(path) ?? 0))
          .map(([path, end]) => [path, `bytes=${before.get(path) ?? 0}-${end - 1}`]),
      ),
    );
    expect(fetched.every((r) => r.status === 206)).toBe(true);
    expect(progress[0]).toEqual([fixture.prefixBytes[5], fixture.prefixBytes[9]]);
    expect(progress.at(-1)).toEqual([fixture.prefixBytes[9], fixture.prefixBytes[9]]);
    expect(await storedRecord(indexedDB)).toMatchObject({ chunks: 9 });
    const again = await prepareModel(BASE, {
      indexedDB,
      fetch: offline(),
      budget: forChunks(fixture, 9),
    });
    expect(again.from).toBe('indexeddb');
    await expectPrefixModel(again.pkg, fixture.files, 9);
  });

  it('200 (Range ignored) and a 206 longer than asked: the body is read only as far as needed, then cancelled', async () => {
    const fixture = await progressivePackage();
    for (const mode of ['ignore', 'overlong'] as const) {
      const server = rangeServer(mode);
      server.publish(fixture.files);
      const prepared = await prepareModel(BASE, {
        indexedDB: new IDBFactory(),
        fetch: server.fetch,
        budget: forChunks(fixture, 2),
      });
      await expectPrefixModel(prepared.pkg, fixture.files, 2);
      const weights = server.fileRequests().find((r) => r.url.endsWith('weights-0.bin'));
      const file = (fixture.files.get('weights-0.bin') as Uint8Array).byteLength;
      const vocabulary = fixture.files.get('vocabulary.json') as Uint8Array;
      const needed = (fixture.prefixBytes[2] as number) - vocabulary.byteLength;
      expect(weights?.status).toBe(mode === 'ignore' ? 200 : 206);
      // At most one 1 KiB chunk pulled ahead of what was read.
      expect(weights?.pulled).toBeLessThanOrEqual(needed + 2048);
      expect(weights?.pulled).toBeLessThan(file);
    }
  });

  it('a 206 from before the byte asked is read from there; one from after it is model-unavailable', async () => {
    const fixture = await progressivePackage();
    const indexedDB = new IDBFactory();
    const honest = rangeServer();
    honest.publish(fixture.files);
    await openAndCommit({ indexedDB, fetch: honest.fetch, budget: forChunks(fixture, 2) });
    const fromZero = rangeServer('from-zero');
    fromZero.publish(fixture.files);
    const extended = await prepareModel(BASE, {
      indexedDB,
      fetch: fromZero.fetch,
      budget: forChunks(fixture, 6),
    });
    await expectPrefixModel(extended.pkg, fixture.files, 6);

    const misplaced = rangeServer('misplaced');
    misplaced.publish(fixture.files);
    const error = await refusal(() =>
      prepareModel(BASE, {
        indexedDB: new IDBFactory(),
        fetch: misplaced.fetch,
        budget: forChunks(fixture, 6),
      }),
    );
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error.code).toBe('model-unavailable');
    expect(error.message).toMatch(
      /answered a request for bytes from 0 with 206 and Content-Range "bytes 10-/,
    );
  });

  it('a tampered chunk is hash-mismatch naming it; nothing is stored and the last good copy stays', async () => {
    const fixture = await progressivePackage();
    const server = rangeServer();
    server.publish(fixture.files);
    const indexedDB = new IDBFactory();
    await openAndCommit({ indexedDB, fetch: server.fetch, budget: forChunks(fixture, 1) });

    const tampered = new Map(fixture.files);
    const weights = (fixture.files.get('weights-0.bin') as Uint8Array).slice();
    const chunk2 = fixture.manifest.tensors.find((t) => t.name === chunkValuesName(2));
    const at = (chunk2?.offset ?? 0) + 5;
    weights[at] = (weights[at] as number) ^ 0x40;
    tampered.set('weights-0.bin', weights);
    server.publish(tampered);
    const error = await refusal(() =>
      prepareModel(BASE, { indexedDB, fetch: server.fetch, budget: forChunks(fixture, 5) }),
    );
    expect(error).toBeInstanceOf(ModelPackageError);
    expect(error.code).toBe('hash-mismatch');
    expect(error.message).toMatch(/weights-0\.bin: chunk 2: SHA-256/);
    expect(await storedRecord(indexedDB)).toMatchObject({ chunks: 1 });
    // A prefix before the tampered chunk still loads.
    const before = await prepareModel(BASE, {
      indexedDB: new IDBFactory(),
      fetch: server.fetch,
      budget: forChunks(fixture, 2),
    });
    await expectPrefixModel(before.pkg, fixture.files, 2);
  });

  it('a truncated file or a body that stops short is truncated, naming the chunk cut short', async () => {
    const fixture = await progressivePackage();
    const chunk3 = fixture.manifest.tensors.find((t) => t.name === chunkValuesName(3));
    const cut = new Map(fixture.files);
    cut.set(
      'weights-0.bin',
      (fixture.files.get('weights-0.bin') as Uint8Array).subarray(0, (chunk3?.offset ?? 0) + 10),
    );
    const server = rangeServer();
    server.publish(cut);
    const indexedDB = new IDBFactory();
    const error = await refusal(() =>
      prepareModel(BASE, { indexedDB, fetch: server.fetch, budget: forChunks(fixture, 6) }),
    );
    expect(error).toBeInstanceOf(ModelPackageError);
    expect(error.code).toBe('truncated');
    expect(error.message).toMatch(/chunk 3 is cut short/);
    expect(await storedRecord(indexedDB)).toBeUndefined();

    // A file shorter than where the range starts: 416, nothing read, the same error.
    const stub = new Map(fixture.files);
    stub.set('weights-0.bin', new Uint8Array(16));
    const extendFrom = rangeServer();
    extendFrom.publish(fixture.files);
    const db = new IDBFactory();
    await openAndCommit({ indexedDB: db, fetch: extendFrom.fetch, budget: forChunks(fixture, 1) });
    extendFrom.publish(stub);
    const short = await refusal(() =>
      prepareModel(BASE, { indexedDB: db, fetch: extendFrom.fetch, budget: forChunks(fixture, 4) }),
    );
    expect(short.code).toBe('truncated');
    expect(extendFrom.served.some((s) => s.status === 416)).toBe(true);
    expect(await storedRecord(db)).toMatchObject({ chunks: 1 });
  });

  it('a budget below the dense weights is budget-too-small naming the minimum; only the manifest is fetched', async () => {
    const fixture = await progressivePackage();
    const server = rangeServer();
    server.publish(fixture.files);
    const head = fixture.prefixBytes[0] as number;
    const error = await refusal(() =>
      prepareModel(BASE, {
        indexedDB: new IDBFactory(),
        fetch: server.fetch,
        budget: budgetOf(head - 1),
      }),
    );
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error.code).toBe('budget-too-small');
    expect(error.message).toContain(`needs at least ${head} bytes`);
    expect(server.fileRequests()).toEqual([]);
    // 'auto' is a guess, not a limit: the dense weights and the first chunk.
    const auto = await prepareModel(BASE, {
      indexedDB: new IDBFactory(),
      fetch: server.fetch,
      budget: { bytes: head - 1, auto: true },
    });
    expect(auto.prefix?.chunks).toBe(1);
  });

  it('offline with a shorter prefix stored: the stored prefix serves, with a warning', async () => {
    const fixture = await progressivePackage();
    const server = rangeServer();
    server.publish(fixture.files);
    const indexedDB = new IDBFactory();
    await openAndCommit({ indexedDB, fetch: server.fetch, budget: forChunks(fixture, 3) });
    const prepared = await prepareModel(BASE, {
      indexedDB,
      fetch: offline(),
      budget: forChunks(fixture, 8),
    });
    expect(prepared.from).toBe('indexeddb');
    expect(prepared.prefix?.chunks).toBe(3);
    await expectPrefixModel(prepared.pkg, fixture.files, 3);
    expect(prepared.warnings.join('\n')).toMatch(/could not be fetched.*stored copy \(3 chunks\)/);
  });

  it('a whole stored copy serves any budget, cut to it; a stored prefix without a budget is replaced by the whole package', async () => {
    const fixture = await progressivePackage();
    const server = rangeServer();
    server.publish(fixture.files);
    const indexedDB = new IDBFactory();
    await openAndCommit({ indexedDB, fetch: server.fetch, budget: forChunks(fixture, 4) });
    server.reset();
    const whole = await openAndCommit({ indexedDB, fetch: server.fetch });
    expect(whole.from).toBe('network');
    expect(whole.prefix).toBeNull();
    expect(whole.pkg.prefixChunks).toBeUndefined();
    expect(server.fileRequests().every((r) => r.range === null && r.status === 200)).toBe(true);
    expect(await storedRecord(indexedDB)).not.toHaveProperty('chunks');

    const cut = await prepareModel(BASE, {
      indexedDB,
      fetch: offline(),
      budget: forChunks(fixture, 6),
    });
    expect(cut.from).toBe('indexeddb');
    await expectPrefixModel(cut.pkg, fixture.files, 6);
  });

  it('an update downloads the new version as the prefix its budget allows', async () => {
    const [v1, v2] = [await progressivePackage(), await progressivePackage({ seed: 2 })];
    const server = rangeServer();
    server.publish(v1.files);
    const indexedDB = new IDBFactory();
    const first = await openAndCommit({ indexedDB, fetch: server.fetch, budget: forChunks(v1, 3) });
    server.publish(v2.files);
    const check = await prepareUpdate(BASE, {
      indexedDB,
      fetch: server.fetch,
      budget: forChunks(v2, 3),
      current: first.version,
    });
    expect(check.status).toBe('new');
    if (check.status !== 'new') return;
    expect(check.model.prefix?.chunks).toBe(3);
    await expectPrefixModel(check.model.pkg, v2.files, 3);
    await commitModel(BASE, check.model, { indexedDB });
    expect(await storedRecord(indexedDB)).toMatchObject({ version: check.version, chunks: 3 });
  });
});

describe('model store: a budget on a package that is not progressive', () => {
  it('is fetched whole, with a warning when it is over the budget', async () => {
    const built = await buildModelPackage({
      kind: 'sequential-test',
      name: 'dense',
      architecture: { dims: 4 },
      items: { count: 3 },
      training: { dataset: 'unit' },
      denseEquivalent: { params: 32, embeddingParams: 16 },
      tensors: [
        {
          name: 'items',
          dtype: 'float32',
          shape: [4, 4],
          data: new Float32Array(16).fill(0.5),
          role: 'item-embedding',
        },
        { name: 'proj', dtype: 'float32', shape: [4, 4], data: new Float32Array(16).fill(1) },
      ],
    });
    const server = rangeServer();
    server.publish(built.files);
    const manifest = JSON.parse(
      new TextDecoder().decode(built.files.get(MANIFEST_FILE)),
    ) as Manifest;
    const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
    const prepared = await prepareModel(BASE, {
      indexedDB: new IDBFactory(),
      fetch: server.fetch,
      budget: budgetOf(total - 1),
    });
    expect(prepared.prefix).toBeNull();
    expect(prepared.pkg.tensors.size).toBe(2);
    expect(server.fileRequests().every((r) => r.range === null)).toBe(true);
    expect(prepared.warnings.join('\n')).toMatch(
      new RegExp(
        `not a progressive package, so it was fetched whole: ${total} bytes, over the budget of ${total - 1}`,
      ),
    );
    const fits = await prepareModel(BASE, {
      indexedDB: new IDBFactory(),
      fetch: server.fetch,
      budget: budgetOf(total),
    });
    expect(fits.warnings).toEqual([]);
  });
});
