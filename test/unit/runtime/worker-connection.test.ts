// WorkerConnection (and createRecommender on top of it) against a fake Worker class: a
// small world with a server version, a stored version and versions whose build crashes
// the worker, behaving as worker.ts does (announce the version, build, then store), so
// every crash, retry and refusal is under the test's control.
// fake-indexeddb/auto gives createRecommender's history store an IndexedDB in Node.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRecommender } from '../../../src/runtime/client.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import type { OpenResult, SerializedError } from '../../../src/runtime/protocol.ts';
import { type Refusal, WorkerConnection } from '../../../src/runtime/worker-connection.ts';

const MODEL = 'https://shop.test/models/tiny/';

interface Message {
  id: number;
  type: string;
  refused?: string[];
  debug?: { crashBuildingVersion?: string };
  action?: string;
}

/** What the fake workers share: the server, IndexedDB, and what happened. */
class World {
  server = 'A';
  stored: string | null = null;
  /** Building these versions crashes the worker (an uncaught error). */
  crashOn = new Set<string>();
  /** Building these crashes the worker once, then works. */
  crashOnce = new Set<string>();
  /** The worker dies before it can name a version (say, out of memory downloading). */
  crashBeforeVersion = false;
  /** Building these never finishes. */
  hangOn = new Set<string>();
  builds: string[] = [];
  spawned = 0;
  messages: Message[] = [];
  workers: FakeWorker[] = [];

  spawn = (): Worker => {
    this.spawned++;
    const worker = new FakeWorker(this);
    this.workers.push(worker);
    return worker as unknown as Worker;
  };
}

function openResult(version: string): OpenResult {
  return {
    model: {
      name: `tiny-${version}`,
      kind: 'sequential-test',
      url: MODEL,
      version,
      numItems: 3,
      itemIds: ['a', 'b', 'c'],
      bytes: 64,
      params: 16,
      embeddingCompression: 1,
      modelCompression: 1,
      prior: false,
    },
    from: 'network',
    persistent: true,
    engine: {
      backend: { name: 'cpu', adapter: null, wasm: null, fallbacks: [] },
      kind: 'sequential-test',
      numItems: 3,
      scoring: 'dense-table',
      incremental: true,
    },
    warnings: [],
    loadMs: 1,
    initMs: 1,
    warmupMs: 1,
  };
}

class FakeWorker {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: { message: string; preventDefault(): void }) => void) | null = null;
  onmessageerror: (() => void) | null = null;
  terminated = false;
  serving: string | null = null;

  constructor(private readonly world: World) {}

  postMessage(message: Message): void {
    this.world.messages.push(message);
    setTimeout(() => this.handle(message), 0);
  }

  terminate(): void {
    this.terminated = true;
  }

  private reply(id: number, result: unknown): void {
    if (!this.terminated) this.onmessage?.({ data: { id, ok: true, result } });
  }

  private replyError(id: number, error: SerializedError): void {
    if (!this.terminated) this.onmessage?.({ data: { id, ok: false, error } });
  }

  private crash(): void {
    if (!this.terminated)
      this.onerror?.({ message: 'Uncaught RangeError: out of memory', preventDefault() {} });
  }

  private handle(message: Message) {
    if (this.terminated) return;
    const { world } = this;
    switch (message.type) {
      case 'open': {
        if (world.crashBeforeVersion) return this.crash();
        const version = world.stored ?? world.server;
        if (message.refused?.includes(version)) {
          return this.replyError(message.id, {
            name: 'RuntimeError',
            code: 'model-refused',
            message: `version ${version} is refused`,
          });
        }
        return this.build(message, version, () => this.reply(message.id, openResult(version)));
      }
      case 'update': {
        const version = world.server;
        if (version === this.serving) return this.reply(message.id, { updated: false, version });
        if (message.refused?.includes(version)) {
          return this.reply(message.id, { updated: false, version, refused: version });
        }
        if (world.crashBeforeVersion) return this.crash();
        return this.build(message, version, () =>
          this.reply(message.id, { updated: true, version, open: openResult(version) }),
        );
      }
      case 'recommend':
        return this.reply(message.id, {
          rows: Int32Array.from([1]),
          scores: Float32Array.from([this.serving === 'A' ? 1 : 2]),
          reused: 0,
          ms: 0,
          encodeMs: 0,
          scoreMs: 0,
          backend: 'cpu',
        });
      default:
        if (message.action === 'crash') return this.crash();
        if (message.action === 'hang') return;
        return this.reply(message.id, `served by ${this.serving}`);
    }
  }

  /** As worker.ts: name the version, build (maybe crash), and store only once it works. */
  private build(message: Message, version: string, done: () => void): void {
    const { world } = this;
    this.onmessage?.({ data: { event: 'building', id: message.id, url: MODEL, version } });
    world.builds.push(version);
    const trigger = message.debug?.crashBuildingVersion;
    if (world.crashOn.has(version) || trigger === version || trigger === 'any') {
      setTimeout(() => this.crash(), 0);
      return;
    }
    if (world.crashOnce.delete(version)) {
      setTimeout(() => this.crash(), 0);
      return;
    }
    if (world.hangOn.has(version)) return;
    world.stored = version;
    this.serving = version;
    done();
  }
}

function connect(world: World, overrides: { openTimeoutMs?: number; callTimeoutMs?: number } = {}) {
  const restarts: unknown[] = [];
  const refusals: Refusal[] = [];
  const connection = new WorkerConnection({
    spawn: world.spawn,
    callTimeoutMs: overrides.callTimeoutMs ?? 1_000,
    openTimeoutMs: overrides.openTimeoutMs ?? 1_000,
    onEvent: () => {},
    onRestart: (result) => restarts.push(result),
    onRefused: (refusal) => refusals.push(refusal),
  });
  const open = () =>
    connection.call<OpenResult>({
      type: 'open',
      model: MODEL,
      backend: 'cpu',
      incremental: true,
      materialiseRows: 100,
    });
  return { connection, open, restarts, refusals };
}

async function rejectionOf(run: Promise<unknown>): Promise<RuntimeError> {
  const error = await run.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RuntimeError);
  return error as RuntimeError;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkerConnection: a crash while loading a model', () => {
  it('crashes once, then the retry on a new worker opens the model', async () => {
    const world = new World();
    world.crashOnce.add('A');
    const { connection, open } = connect(world);

    const result = await open();

    expect(result.model.version).toBe('A');
    expect(world.builds).toEqual(['A', 'A']);
    expect(world.spawned).toBe(2);
    expect(connection.restarts).toBe(1);
    expect(connection.refused).toEqual([]);
    expect(await connection.call({ type: 'debug', action: 'memory' })).toBe('served by A');
    expect(world.spawned).toBe(2);
  });

  it('a first open that crashes twice on one version is refused, and no third worker builds it', async () => {
    const world = new World();
    world.crashOn.add('A');
    const { connection, open, refusals } = connect(world);

    const error = await rejectionOf(open());

    expect(error.code).toBe('model-refused');
    expect(error.message).toContain(`version A of model ${MODEL}`);
    expect(world.builds).toEqual(['A', 'A']);
    expect(world.spawned).toBe(2);
    expect(connection.refused).toEqual([
      { url: MODEL, version: 'A', reason: expect.stringMatching(/out of memory/) },
    ]);
    expect(refusals).toEqual(connection.refused);
    expect(world.stored).toBeNull();
  });

  it('an update that crashes twice on the new version: refused, never built again, the last good model kept', async () => {
    const world = new World();
    const { connection, open, restarts } = connect(world);
    await open();
    world.server = 'B';
    world.crashOn.add('B');

    const error = await rejectionOf(connection.call({ type: 'update' }));

    expect(error.code).toBe('model-refused');
    expect(error.message).toContain(`version B of model ${MODEL}`);
    // A, then B crashes; the new worker opens A again and retries B, which crashes again.
    expect(world.builds).toEqual(['A', 'B', 'A', 'B']);
    expect(world.spawned).toBe(2);
    expect(world.stored).toBe('A');
    expect(connection.refused.map((r) => [r.url, r.version])).toEqual([[MODEL, 'B']]);

    // The next call starts a worker that opens A (told B is refused) and answers from it.
    expect(await connection.call({ type: 'debug', action: 'memory' })).toBe('served by A');
    expect(world.spawned).toBe(3);
    const replay = world.messages.filter((m) => m.type === 'open').at(-1);
    expect(replay?.refused).toEqual(['B']);
    expect(restarts.map((r) => (r as OpenResult).model.version)).toEqual(['A', 'A']);

    // Asking again: the worker sees the server's version is refused and builds nothing.
    expect(await connection.call({ type: 'update' })).toEqual({
      updated: false,
      version: 'B',
      refused: 'B',
    });
    expect(world.messages.filter((m) => m.type === 'update').at(-1)?.refused).toEqual(['B']);
    expect(world.builds.filter((v) => v === 'B')).toHaveLength(2);
  });

  it('an update that crashes once is retried after the model is opened again, and switches', async () => {
    const world = new World();
    const { connection, open } = connect(world);
    await open();
    world.server = 'B';
    world.crashOnce.add('B');

    const result = await connection.call<{ updated: boolean }>({ type: 'update' });

    expect(result.updated).toBe(true);
    expect(world.builds).toEqual(['A', 'B', 'A', 'B']);
    expect(world.stored).toBe('B');
    expect(connection.refused).toEqual([]);
  });

  it('a crash outside a load is not blamed, and a version that loaded in between starts afresh', async () => {
    const world = new World();
    world.crashOnce.add('A');
    const { connection, open } = connect(world);
    await open(); // one crash on A, then it works

    const crashed = connection.call({ type: 'debug', action: 'crash' });
    expect((await rejectionOf(crashed)).code).toBe('worker-crashed');
    // The replay crashes on A once more: not a second strike, since A loaded in between.
    world.crashOnce.add('A');
    expect(await connection.call({ type: 'debug', action: 'memory' })).toBe('served by A');

    expect(connection.refused).toEqual([]);
    expect(world.builds).toEqual(['A', 'A', 'A', 'A']);
    expect(world.spawned).toBe(4);
  });

  it('a crash before the version is known counts against the url', async () => {
    const world = new World();
    world.crashBeforeVersion = true;
    const { connection, open } = connect(world);

    const error = await rejectionOf(open());

    expect(error.code).toBe('model-refused');
    expect(error.message).toContain('before its version was known');
    expect(world.spawned).toBe(2);
    expect(connection.refused).toEqual([{ url: MODEL, version: null, reason: expect.any(String) }]);
  });

  it('a hung open times out and is not retried; a second hang refuses the version', async () => {
    const world = new World();
    world.hangOn.add('A');
    const { connection, open } = connect(world, { openTimeoutMs: 50 });

    const error = await rejectionOf(open());

    expect(error.code).toBe('timeout');
    expect(world.spawned).toBe(1);
    expect(connection.refused).toEqual([]);

    // A second hang on the same version counts as a second crash.
    const again = await rejectionOf(open());
    expect(again.code).toBe('model-refused');
    expect(world.spawned).toBe(2);
    expect(connection.refused.map((r) => r.version)).toEqual(['A']);
  });
  it('a call times out at its own limit, whatever the calls before it were given', async () => {
    const world = new World();
    const { connection, open } = connect(world, { openTimeoutMs: 10_000, callTimeoutMs: 100 });
    await open();
    const ping = () => connection.call<string>({ type: 'debug', action: 'ping' });
    // Answered calls, one posted while the open's limit was the nearest, one after a pause.
    expect(await ping()).toBe('served by A');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await ping()).toBe('served by A');

    const started = performance.now();
    const error = await rejectionOf(connection.call({ type: 'debug', action: 'hang' }));
    const waited = performance.now() - started;

    expect(error.code).toBe('timeout');
    expect(error.message).toContain('within 100 ms');
    expect(waited).toBeGreaterThanOrEqual(99);
    expect(waited).toBeLessThan(1_000);
    // The hung worker was replaced, the model opened again on the new one.
    expect(await ping()).toBe('served by A');
    expect(world.spawned).toBe(2);
  });
});

describe('createRecommender over a crashing worker', () => {
  const options = (world: World, debug?: { crashBuildingVersion?: string }) => ({
    model: MODEL,
    backend: 'cpu' as const,
    spawnWorker: world.spawn,
    databases: { history: `connection-test-${Math.random()}` },
    ...(debug ? { debug } : { debug: true }),
  });

  it('rejects with model-refused when the first open crashes twice', async () => {
    const world = new World();
    const error = await rejectionOf(
      createRecommender(options(world, { crashBuildingVersion: 'any' })),
    );
    expect(error.code).toBe('model-refused');
    expect(world.spawned).toBe(2);
    expect(world.workers.every((w) => w.terminated)).toBe(true);
  });

  it('a refused update: recommend answers from the old model, info() shows it, update() says false', async () => {
    const world = new World();
    const rec = await createRecommender(options(world));
    await rec.track({ item: 'a' });
    world.server = 'B';
    rec.debug?.crashWhenBuilding('B');

    const error = await rejectionOf(rec.update());
    expect(error.code).toBe('model-refused');

    const top = await rec.recommend({ k: 1 });
    expect(top).toEqual([{ item: 'a', score: 1 }]); // score 1: served by A
    const info = rec.info();
    expect(info.model.version).toBe('A');
    expect(info.refused).toEqual([
      { url: MODEL, version: 'B', reason: expect.stringMatching(/out of memory/) },
    ]);
    const warning = info.warnings.filter((w) => w.includes('version B'));
    expect(warning).toHaveLength(1);

    rec.debug?.crashWhenBuilding(null);
    expect(await rec.update()).toBe(false);
    expect(rec.info().warnings.filter((w) => w.includes('version B'))).toHaveLength(1);
    expect(world.builds.filter((v) => v === 'B')).toHaveLength(2);
    rec.dispose();
  });
});
