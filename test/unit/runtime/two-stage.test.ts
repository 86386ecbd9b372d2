// Two-stage recommendations through createRecommender in Node: the real worker host behind a
// fake Worker (two-stage-fixtures.ts), packages served from memory, fake-indexeddb, tfjs on
// WASM. Retrieval by a tiny SASRec, re-ranking by an FM ranker whose logit is known in closed
// form (device × category), so every order is checked against a reference built here from
// the model's own scores: retrieval score + weight × logit.
// fake-indexeddb/auto gives the model store and the history store an IndexedDB in Node.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { popularityPriorOf } from '../../../src/model/popularity.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import {
  createRecommender,
  type Recommendation,
  type Recommender,
  type RecommenderOptions,
} from '../../../src/runtime/client.ts';
import { topK } from '../../../src/runtime/engine/top-k.ts';
import {
  type Files,
  fakeServer,
  ITEM_IDS,
  plainCtrPackage,
  rankerLogit,
  rankerPackage,
  retrievalPackage,
  spawnIn,
  UNLISTED,
} from './two-stage-fixtures.ts';

const ROOT = 'https://shop.test/models/';
const MODEL = `${ROOT}retrieval/`;
const RANKER = `${ROOT}ranker/`;
const CANDIDATES = 8;
const STRENGTH = 0.6;
const WEIGHT = 1.5;
const HISTORY = ['p03', 'p08', 'p13'];

let retrieval: SequentialModel;
let modelFiles: Files;
let rankerFiles: Files;
let server: ReturnType<typeof fakeServer>;
let dbCount = 0;
const open: Recommender[] = [];

beforeAll(async () => {
  await useWasmBackend();
  const built = await retrievalPackage();
  retrieval = built.model;
  modelFiles = built.files;
  rankerFiles = await rankerPackage({
    strength: STRENGTH,
    weight: WEIGHT,
    candidates: CANDIDATES,
  });
  server = fakeServer();
  server.serve(MODEL, modelFiles);
  server.serve(RANKER, rankerFiles);
  server.serve(`${ROOT}plain-ctr/`, await plainCtrPackage());
  const broken = await rankerPackage({ strength: 1, weight: 1, candidates: 0 });
  server.serve(`${ROOT}broken-ranker/`, broken);
});

afterAll(() => {
  for (const rec of open) rec.dispose();
  tf.dispose([...Object.values(retrieval.encoder), ...Object.values(retrieval.items.weights)]);
});

/** A recommender on fresh databases (or the given ones), on WASM, its worker in process. */
async function recommender(
  extra: Partial<RecommenderOptions> = {},
  databases = { models: `models-${++dbCount}`, history: `history-${dbCount}` },
): Promise<Recommender> {
  const rec = await createRecommender({
    model: MODEL,
    ranker: RANKER,
    backend: 'wasm',
    spawnWorker: spawnIn(server),
    databases,
    ...extra,
  });
  open.push(rec);
  return rec;
}

const rowOf = (id: string) => ITEM_IDS.indexOf(id) + 1;

/** Retrieval's top N after `history` (seen items left out) from the model's own scores. */
async function retrievedFor(
  history: string[],
): Promise<{ rows: Int32Array; scores: Float32Array }> {
  const rows = history.map(rowOf);
  const [scores] = await scoreHistories(retrieval, [Int32Array.from(rows)]);
  return topK(scores as Float32Array, CANDIDATES, new Set(rows), { from: 1 });
}

/** The final order by hand: retrieval score + weight × the FM's logit, ties in retrieval order. */
function fused(
  retrieved: { rows: Int32Array; scores: Float32Array },
  device: string | undefined,
  weight = WEIGHT,
  strength = STRENGTH,
) {
  return Array.from(retrieved.rows, (row, i) => ({
    item: ITEM_IDS[row - 1] as string,
    retrievalRank: i,
    score: (retrieved.scores[i] as number) + weight * rankerLogit(row, device, strength),
  }))
    .sort((a, b) => b.score - a.score || a.retrievalRank - b.retrievalRank)
    .map((entry, rank) => ({ ...entry, rank }));
}

function expectOrder(got: Recommendation[], want: ReturnType<typeof fused>, k: number) {
  expect(got.map((r) => r.item)).toEqual(want.slice(0, k).map((w) => w.item));
  got.forEach((r, i) => {
    const w = want[i] as (typeof want)[number];
    expect(r.score).toBeCloseTo(w.score, 4);
    expect(r.ranking).toMatchObject({
      retrievalRank: w.retrievalRank,
      rank: i,
      move: w.retrievalRank - i,
    });
  });
}

async function tracked(rec: Recommender, items = HISTORY): Promise<void> {
  for (const item of items) await rec.track({ item });
}

describe('two-stage recommend', () => {
  it('re-ranks retrieval by the ranker in the context: the reference order, a changed order per device, both stages timed', async () => {
    const rec = await recommender();
    await tracked(rec);
    const retrieved = await retrievedFor(HISTORY);
    const started = performance.now();
    const mobile = await rec.recommend({ k: 6, context: { hour: 9, device: 'mobile' } });
    const mobileMs = performance.now() - started;
    expectOrder(mobile, fused(retrieved, 'mobile'), 6);
    const info = rec.info();
    expect(info.stages.map((s) => s.stage)).toEqual(['retrieval', 'ranking']);
    for (const { ms } of info.stages) expect(ms).toBeGreaterThanOrEqual(0);
    expect(info.ranker).toMatchObject({
      name: 'tiny-ranker',
      kind: 'ctr-dense',
      url: RANKER,
      from: 'network',
      persistent: true,
      candidates: CANDIDATES,
      weight: WEIGHT,
      contextFields: ['hour', 'device'],
      itemFields: ['item', 'category'],
      unknownItems: 1,
    });
    expect(info.warnings.some((w) => w.includes('1 of the model') && w.includes(RANKER))).toBe(
      true,
    );

    const desktop = await rec.recommend({ k: 6, context: { device: 'desktop' } });
    expectOrder(desktop, fused(retrieved, 'desktop'), 6);
    expect(desktop.map((r) => r.item)).not.toEqual(mobile.map((r) => r.item));
    // Retrieval's own order, which neither device keeps.
    const plain = Array.from(retrieved.rows.slice(0, 6), (row) => ITEM_IDS[row - 1]);
    expect(mobile.map((r) => r.item)).not.toEqual(plain);
    expect(mobile.some((r) => (r.ranking?.move ?? 0) > 0)).toBe(true);
    // Without explain no field is named.
    expect(mobile.every((r) => r.ranking?.context === null)).toBe(true);

    // Warm: the time of one two-stage request at these sizes.
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await rec.recommend({ k: 6, context: { device: i % 2 ? 'mobile' : 'desktop' } });
      times.push(performance.now() - t);
    }
    const stages = rec.info().stages;
    console.log(
      `two-stage recommend in Node (WASM, ${ITEM_IDS.length} items, ${CANDIDATES} candidates): first ${mobileMs.toFixed(1)} ms, then median ${times.sort((a, b) => a - b)[2]?.toFixed(1)} ms; stages ${stages.map((s) => `${s.stage} ${s.ms.toFixed(2)} ms`).join(', ')}`,
    );
  });

  it('explain names the context field that moved each item, with its effect', async () => {
    const rec = await recommender();
    await tracked(rec);
    const top = await rec.recommend({
      k: CANDIDATES,
      context: { device: 'mobile' },
      explain: true,
    });
    expectOrder(top, fused(await retrievedFor(HISTORY), 'mobile'), CANDIDATES);
    for (const r of top) {
      const row = rowOf(r.item);
      if (r.item === UNLISTED) {
        // The ranker knows nothing of it: no field moved it.
        expect(r.ranking?.context?.effect).toBe(0);
        continue;
      }
      expect(r.ranking?.context?.field).toBe('device');
      expect(r.ranking?.context?.effect).toBeCloseTo(
        WEIGHT * rankerLogit(row, 'mobile', STRENGTH),
        4,
      );
    }
  });

  it('context values the ranker never saw, fields it does not read, and fields not given are reported once', async () => {
    const rec = await recommender();
    await tracked(rec);
    const retrieved = await retrievedFor(HISTORY);
    const top = await rec.recommend({ k: 5, context: { device: 'smartwatch', region: 'north' } });
    // An unknown device is scored as no device: retrieval's order (the FM's logit is 0).
    expectOrder(top, fused(retrieved, undefined), 5);
    await rec.recommend({ k: 5, context: { device: 'smartwatch', region: 'north' } });
    // No hour: the page left it out (null), so the ranker scores it unknown.
    await rec.recommend({ k: 5, context: { hour: null, device: 'mobile' } });
    const { warnings } = rec.info();
    const about = (field: string) => warnings.filter((w) => w.includes(`"${field}"`));
    expect(about('device')).toHaveLength(1);
    expect(about('device')[0]).toMatch(/never saw this value/);
    expect(about('region')).toHaveLength(1);
    expect(about('region')[0]).toMatch(/not one tiny-ranker reads/);
    expect(about('hour')).toHaveLength(1);
    expect(about('hour')[0]).toMatch(/was not given/);
    // The local context's own fields the ranker does not read (weekday) are not reported.
    expect(about('weekday')).toEqual([]);
  });

  it("an empty history re-ranks the prior's most popular items, still marked popular", async () => {
    const rec = await recommender();
    const pkg = await readModelPackage(memorySource(modelFiles));
    const prior = popularityPriorOf(pkg)?.scores as Float32Array;
    const popular = topK(prior, CANDIDATES, new Set(), { from: 1 });
    const top = await rec.recommend({ k: 5, context: { device: 'desktop' } });
    expect(top.every((r) => r.reason === 'popular')).toBe(true);
    expectOrder(top, fused(popular, 'desktop'), 5);
    expect(top.map((r) => r.item)).not.toEqual(
      Array.from(popular.rows.slice(0, 5), (row) => ITEM_IDS[row - 1]),
    );
    expect(rec.info().stages.map((s) => s.stage)).toEqual(['retrieval', 'ranking']);
  });

  it('k above the ranker’s candidates still gives k items; exclude and candidates narrow retrieval', async () => {
    const rec = await recommender();
    await tracked(rec);
    const top = await rec.recommend({ k: 12, context: { device: 'mobile' } });
    expect(top).toHaveLength(12);
    expect(top.map((r) => r.item)).not.toContain('p03');
    const allowed = ['p01', 'p02', 'p04', 'p05', 'p06'];
    const within = await rec.recommend({
      k: 3,
      candidates: allowed,
      exclude: ['p01'],
      context: { device: 'mobile' },
    });
    expect(within).toHaveLength(3);
    for (const r of within) expect(allowed.slice(1)).toContain(r.item);
  });

  it('bad context and explain values are bad-request on the page', async () => {
    const rec = await recommender();
    const fails = (options: Parameters<Recommender['recommend']>[0]) =>
      expect(rec.recommend(options)).rejects.toMatchObject({
        name: 'RuntimeError',
        code: 'bad-request',
      });
    await fails({ context: 'mobile' as never });
    await fails({ context: [] as never });
    await fails({ context: { device: () => 'mobile' } as never });
    await fails({ context: { hour: Number.NaN } });
    await fails({ context: { nested: { a: 1 } } as never });
    await fails({ context: { long: 'x'.repeat(300) } });
    await fails({
      context: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, i])),
    });
    await fails({ explain: 'yes' as never });
  });
});

describe('a ranker that cannot be opened', () => {
  /** What the model alone answers: a recommender without a ranker. */
  async function retrievalOnly(): Promise<Recommendation[]> {
    const rec = await recommender({ ranker: undefined });
    await tracked(rec);
    const top = await rec.recommend({ k: 5 });
    expect(rec.info().ranker).toBeNull();
    expect(rec.info().stages.map((s) => s.stage)).toEqual(['retrieval']);
    return top;
  }

  it.each([
    ['a CTR package without a ranker file', 'plain-ctr', /not-a-ranker: .*without a ranker file/],
    ['a next-item package', 'retrieval', /not-a-ranker: .*is a sequential-dense package/],
    ['a ranker file that does not fit', 'broken-ranker', /bad-shape: .*"candidates" must be/],
    ['a package that is not there', 'missing', /model-unavailable/],
  ])('%s: retrieval alone, and a warning that says why', async (_, name, reason) => {
    const want = await retrievalOnly();
    const url = `${ROOT}${name}/`;
    const rec = await recommender({ ranker: url });
    await tracked(rec);
    const top = await rec.recommend({ k: 5, context: { device: 'mobile' } });
    expect(top).toEqual(want);
    expect(top.every((r) => r.ranking === undefined)).toBe(true);
    const info = rec.info();
    expect(info.ranker).toBeNull();
    expect(info.stages.map((s) => s.stage)).toEqual(['retrieval']);
    const warning = info.warnings.find((w) => w.startsWith(`ranker ${url}`));
    expect(warning).toMatch(reason);
    expect(warning).toMatch(/recommendations come from the model alone/);
  });

  it('a ranker URL that is not a URL is bad-request', async () => {
    await expect(
      createRecommender({ model: MODEL, ranker: 'http://[bad', spawnWorker: spawnIn(server) }),
    ).rejects.toMatchObject({ code: 'bad-request' });
  });
});

describe('the ranker across updates, reopens and disposal', () => {
  it('update() switches to a new ranker version once verified and warmed, releasing the old tensors', async () => {
    const url = `${ROOT}ranker-updated/`;
    server.serve(url, rankerFiles);
    const rec = await recommender({ ranker: url, debug: true });
    await tracked(rec);
    const retrieved = await retrievedFor(HISTORY);
    const before = await rec.recommend({ k: 6, context: { device: 'mobile' } });
    expectOrder(before, fused(retrieved, 'mobile'), 6);
    const memory = await rec.debug?.memory();
    const version = rec.info().ranker?.version;
    expect(await rec.update()).toBe(false);

    // A new version: the opposite taste, and a larger weight.
    server.serve(
      url,
      await rankerPackage({ strength: -STRENGTH, weight: 2, candidates: CANDIDATES, name: 'v2' }),
    );
    expect(await rec.update()).toBe(true);
    const info = rec.info();
    expect(info.ranker).toMatchObject({ name: 'v2', weight: 2 });
    expect(info.ranker?.version).not.toBe(version);
    const after = await rec.recommend({ k: 6, context: { device: 'mobile' } });
    expectOrder(after, fused(retrieved, 'mobile', 2, -STRENGTH), 6);
    // The old ranker's tensors went with it: as many as before.
    const now = await rec.debug?.memory();
    expect(now?.numTensors).toBe(memory?.numTensors);
    expect(now?.numBytes).toBe(memory?.numBytes);
  });

  it('a new model version is built with the ranker open, and nothing leaks', async () => {
    const url = `${ROOT}retrieval-updated/`;
    server.serve(url, modelFiles);
    const rec = await recommender({ model: url, debug: true });
    await tracked(rec);
    await rec.recommend({ k: 6, context: { device: 'mobile' } });
    // Made first: its tensors live in this process's tfjs too, which memory() counts.
    const next = await retrievalPackage(9);
    const memory = await rec.debug?.memory();
    const ranker = rec.info().ranker;
    try {
      server.serve(url, next.files);
      expect(await rec.update()).toBe(true);
      expect(rec.info().ranker).toEqual(ranker);
      const retrieved = await (async () => {
        const rows = HISTORY.map(rowOf);
        const [scores] = await scoreHistories(next.model, [Int32Array.from(rows)]);
        return topK(scores as Float32Array, CANDIDATES, new Set(rows), { from: 1 });
      })();
      const top = await rec.recommend({ k: 6, context: { device: 'mobile' } });
      expectOrder(top, fused(retrieved, 'mobile'), 6);
      const now = await rec.debug?.memory();
      expect(now?.numTensors).toBe(memory?.numTensors);
    } finally {
      tf.dispose([
        ...Object.values(next.model.encoder),
        ...Object.values(next.model.items.weights),
      ]);
    }
  });

  it('a ranker missing at open is opened by a later update()', async () => {
    const url = `${ROOT}ranker-later/`;
    const rec = await recommender({ ranker: url });
    await tracked(rec);
    expect(rec.info().ranker).toBeNull();
    server.serve(url, rankerFiles);
    expect(await rec.update()).toBe(true);
    expect(rec.info().ranker).toMatchObject({ url, name: 'tiny-ranker' });
    const top = await rec.recommend({ k: 6, context: { device: 'desktop' } });
    expectOrder(top, fused(await retrievedFor(HISTORY), 'desktop'), 6);
  });

  it('reopens from IndexedDB with the network gone: the same two-stage answers', async () => {
    const databases = { models: 'offline-models', history: 'offline-history' };
    const first = await recommender({}, databases);
    await tracked(first);
    const online = await first.recommend({ k: 6, context: { device: 'mobile' } });
    first.dispose();
    server.offline = true;
    try {
      const again = await recommender({}, databases);
      const info = again.info();
      expect(info.source).toBe('indexeddb');
      expect(info.ranker).toMatchObject({ from: 'indexeddb', persistent: true });
      expect(await again.recommend({ k: 6, context: { device: 'mobile' } })).toEqual(online);
    } finally {
      server.offline = false;
    }
  });

  it("disposing releases the model's and the ranker's tensors", async () => {
    const baseline = tf.memory().numTensors;
    const rec = await recommender();
    await tracked(rec);
    await rec.recommend({ k: 6, context: { device: 'mobile' }, explain: true });
    expect(tf.memory().numTensors).toBeGreaterThan(baseline);
    rec.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
