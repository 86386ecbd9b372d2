// Two-stage recommendations in Chromium through the client API, on one page load: a tiny
// retrieval model and an FM ranker (test/unit/runtime/two-stage-fixtures.ts: its logit is
// device × category, so the device decides whether shoes or bags go up) written under the
// project root and served by the dev server; real IndexedDB, the real worker on WASM.
// Two contexts give two orders, each the reference computed here from the model's own
// scores; info() lists both stages; then, the packages' URLs refused, a second recommender
// opens both from IndexedDB and answers the same.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import type { SequentialModel } from '../../src/model/sequential.ts';
import { scoreHistories } from '../../src/model/sequential.ts';
import { writePackageDirectory } from '../../src/package/node-fs.ts';
import { topK } from '../../src/runtime/engine/top-k.ts';
import {
  ITEM_IDS,
  rankerLogit,
  rankerPackage,
  retrievalPackage,
} from '../unit/runtime/two-stage-fixtures.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  recordRequests,
  startServer,
  type TestServer,
} from './harness.ts';

const PAGE = '/test/browser/pages/runtime.html';
const FIXTURES = 'test/browser/two-stage-fixtures.tmp';
const MODEL = `/${FIXTURES}/retrieval`;
const RANKER = `/${FIXTURES}/ranker`;
const CANDIDATES = 8;
const STRENGTH = 0.6;
const WEIGHT = 1.5;
const HISTORY = ['p03', 'p08', 'p13'];
const K = 6;

interface PageAnswer {
  items: string[];
  scores: number[];
  moves: number[];
  stages: string[];
  stageMs: number[];
  ranker: { name: string; from: string; candidates: number } | null;
  source: string;
  warnings: string[];
}

let server: TestServer;
let browser: ChromiumSession;
let retrieval: SequentialModel;

beforeAll(async () => {
  await useWasmBackend();
  const built = await retrievalPackage();
  retrieval = built.model;
  const ranker = await rankerPackage({
    strength: STRENGTH,
    weight: WEIGHT,
    candidates: CANDIDATES,
  });
  await writePackageDirectory(join(projectRoot, MODEL), built.files);
  await writePackageDirectory(join(projectRoot, RANKER), ranker);
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  if (retrieval) {
    tf.dispose([...Object.values(retrieval.encoder), ...Object.values(retrieval.items.weights)]);
  }
});

/** The final order by hand: retrieval's top N from the model's scores, fused with the FM's logit. */
async function reference(device: string): Promise<{ items: string[]; scores: number[] }> {
  const rows = HISTORY.map((id) => ITEM_IDS.indexOf(id) + 1);
  const [scores] = await scoreHistories(retrieval, [Int32Array.from(rows)]);
  const top = topK(scores as Float32Array, CANDIDATES, new Set(rows), { from: 1 });
  const order = Array.from(top.rows, (row, i) => ({
    item: ITEM_IDS[row - 1] as string,
    i,
    score: (top.scores[i] as number) + WEIGHT * rankerLogit(row, device, STRENGTH),
  }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, K);
  return { items: order.map((o) => o.item), scores: order.map((o) => o.score) };
}

describe('two-stage recommendations in Chromium', () => {
  test('a model and a ranker: the context changes the order, both stages timed; reopened offline from IndexedDB', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    const network = recordRequests(page);
    await page.goto(server.url + PAGE);
    await page.waitForSelector('body[data-ready="true"]');

    const run = (args: { track: boolean }) =>
      page.evaluate(
        async ({ model, ranker, history, k, track }) => {
          const rec = await window.pocketrec.createRecommender({
            model,
            ranker,
            backend: 'wasm',
            databases: { models: 'two-stage-models', history: 'two-stage-history' },
          });
          try {
            if (track) for (const item of history) await rec.track({ item });
            const answer = async (device: string) => {
              const top = await rec.recommend({ k, context: { device } });
              const info = rec.info();
              return {
                items: top.map((r) => r.item),
                scores: top.map((r) => r.score),
                moves: top.map((r) => r.ranking?.move ?? Number.NaN),
                stages: info.stages.map((s) => s.stage),
                stageMs: info.stages.map((s) => s.ms),
                ranker: info.ranker,
                source: info.source,
                warnings: info.warnings,
              };
            };
            return { mobile: await answer('mobile'), desktop: await answer('desktop') };
          } finally {
            rec.dispose();
          }
        },
        { model: MODEL, ranker: RANKER, history: HISTORY, k: K, ...args },
      ) as Promise<{ mobile: PageAnswer; desktop: PageAnswer }>;

    const online = await run({ track: true });
    for (const device of ['mobile', 'desktop'] as const) {
      const got = online[device];
      const want = await reference(device);
      expect(got.items).toEqual(want.items);
      got.scores.forEach((score, i) => {
        expect(score).toBeCloseTo(want.scores[i] as number, 4);
      });
      expect(got.stages).toEqual(['retrieval', 'ranking']);
      for (const ms of got.stageMs) expect(ms).toBeGreaterThanOrEqual(0);
      expect(got.ranker).toMatchObject({ name: 'tiny-ranker', from: 'network' });
      expect(got.moves.every(Number.isInteger)).toBe(true);
    }
    expect(online.mobile.items).not.toEqual(online.desktop.items);
    expect(network.offOrigin(server.url)).toEqual([]);

    // Offline: both packages come from IndexedDB, the history too.
    await page.route(`**/${FIXTURES}/**`, (route) => route.abort());
    const offline = await run({ track: false });
    expect(offline.mobile.source).toBe('indexeddb');
    expect(offline.mobile.ranker).toMatchObject({ from: 'indexeddb', candidates: CANDIDATES });
    expect(offline.mobile.items).toEqual(online.mobile.items);
    expect(offline.desktop.items).toEqual(online.desktop.items);
    expect(offline.mobile.warnings.filter((w) => w.startsWith('ranker'))).toEqual([
      expect.stringMatching(/lists no item fields for 1 of the model's 24 items/),
    ]);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });
});
