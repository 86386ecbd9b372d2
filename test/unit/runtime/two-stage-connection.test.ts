// A ranker that crashes the worker while it is built (out of memory, say): the connection
// blames the ranker's version, not the model's, and after the second crash refuses that
// ranker version and opens the recommender without it; the model is never refused for the
// ranker's sake. A fake Worker that behaves as worker-host.ts does: it names the model's
// version, builds it, then names the ranker's version (unless refused) and builds that.
// fake-indexeddb/auto gives createRecommender's history store an IndexedDB in Node.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createRecommender } from '../../../src/runtime/client.ts';
import type { OpenResult, RankerSummary } from '../../../src/runtime/protocol.ts';
import { WorkerConnection } from '../../../src/runtime/worker-connection.ts';

const MODEL = 'https://shop.test/models/tiny/';
const RANKER = 'https://shop.test/models/tiny-ranker/';

interface Message {
  id: number;
  type: string;
  ranker?: string;
  refused?: string[];
  rankerRefused?: string[];
}

/** The server's model and ranker versions, and the ranker versions whose build crashes. */
class World {
  model = 'M1';
  ranker = 'R1';
  crashOn = new Set<string>();
  builds: string[] = [];
  messages: Message[] = [];
  spawned = 0;
  spawn = (): Worker => {
    this.spawned++;
    return new FakeWorker(this) as unknown as Worker;
  };
}

function rankerSummary(version: string): RankerSummary {
  return {
    name: 'tiny-ranker',
    kind: 'ctr-dense',
    url: RANKER,
    version,
    from: 'network',
    persistent: true,
    candidates: 5,
    weight: 1,
    contextFields: ['device'],
    itemFields: ['category'],
    unknownItems: 0,
  };
}

function openResult(version: string, ranker: string | null, warnings: string[]): OpenResult {
  return {
    model: {
      name: 'tiny',
      kind: 'sequential-dense',
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
    ranker: ranker === null ? null : rankerSummary(ranker),
    from: 'network',
    persistent: true,
    engine: {
      backend: { name: 'cpu', adapter: null, wasm: null, fallbacks: [] },
      kind: 'sequential-dense',
      numItems: 3,
      scoring: 'dense-table',
      incremental: true,
    },
    warnings,
    loadMs: 1,
    initMs: 1,
    warmupMs: 1,
  };
}

class FakeWorker {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: { message: string; preventDefault(): void }) => void) | null = null;
  onmessageerror: (() => void) | null = null;
  private terminated = false;

  constructor(private readonly world: World) {}

  postMessage(message: Message): void {
    this.world.messages.push(message);
    setTimeout(() => this.handle(message), 0);
  }

  terminate(): void {
    this.terminated = true;
  }

  private send(data: unknown): void {
    if (!this.terminated) this.onmessage?.({ data });
  }

  private handle(message: Message): void {
    if (this.terminated) return;
    const { world } = this;
    if (message.type !== 'open') {
      this.send({ id: message.id, ok: true, result: 'ok' });
      return;
    }
    this.send({ event: 'building', id: message.id, url: MODEL, version: world.model });
    world.builds.push(world.model);
    let ranker: string | null = null;
    const warnings: string[] = [];
    if (message.ranker !== undefined) {
      if (message.rankerRefused?.includes(world.ranker)) {
        warnings.push(`ranker ${RANKER} version ${world.ranker} was not used (model-refused)`);
      } else {
        this.send({ event: 'building', id: message.id, url: RANKER, version: world.ranker });
        world.builds.push(world.ranker);
        if (world.crashOn.has(world.ranker)) {
          setTimeout(() => {
            if (!this.terminated) {
              this.onerror?.({
                message: 'Uncaught RangeError: out of memory',
                preventDefault() {},
              });
            }
          }, 0);
          return;
        }
        ranker = world.ranker;
      }
    }
    this.send({ id: message.id, ok: true, result: openResult(world.model, ranker, warnings) });
  }
}

describe('a ranker that crashes the worker while it is built', () => {
  it('is blamed, not the model: retried once, then refused, and the open succeeds without it', async () => {
    const world = new World();
    world.crashOn.add('R1');
    const connection = new WorkerConnection({
      spawn: world.spawn,
      callTimeoutMs: 1_000,
      openTimeoutMs: 1_000,
      onEvent: () => {},
      onRestart: () => {},
    });
    const result = await connection.call<OpenResult>({
      type: 'open',
      model: MODEL,
      ranker: RANKER,
      backend: 'cpu',
      incremental: true,
      materialiseRows: 100,
    });
    expect(result.model.version).toBe('M1');
    expect(result.ranker).toBeNull();
    // M1 and R1 twice (two crashes), then M1 alone on a third worker.
    expect(world.builds).toEqual(['M1', 'R1', 'M1', 'R1', 'M1']);
    expect(world.spawned).toBe(3);
    expect(connection.refused).toEqual([
      { url: RANKER, version: 'R1', reason: expect.stringMatching(/out of memory/) },
    ]);
    const last = world.messages.at(-1);
    expect(last?.refused).toEqual([]);
    expect(last?.rankerRefused).toEqual(['R1']);
    connection.close();
  });

  it('createRecommender opens serving the model alone, the ranker refusal in info()', async () => {
    const world = new World();
    world.crashOn.add('R1');
    const rec = await createRecommender({
      model: MODEL,
      ranker: RANKER,
      backend: 'cpu',
      spawnWorker: world.spawn,
      databases: { history: `two-stage-connection-${Math.random()}` },
    });
    const info = rec.info();
    expect(info.model.version).toBe('M1');
    expect(info.ranker).toBeNull();
    expect(info.refused.map((r) => [r.url, r.version])).toEqual([[RANKER, 'R1']]);
    expect(info.warnings.filter((w) => w.includes(`ranker ${RANKER}`))).toHaveLength(2);
    expect(info.warnings.some((w) => w.includes('recommendations come from the model alone'))).toBe(
      true,
    );
    rec.dispose();
  });
});
