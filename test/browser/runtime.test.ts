// The client API and its worker in real Chromium: first open from the network and later
// opens from IndexedDB with the network cut, errors that cross the worker boundary typed,
// recovery from a crashed worker, a hung worker and a lost WebGPU device with the
// history intact, and a package version that crashes the worker while it is built.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  launchPersistentChromium,
  makeTempDir,
  projectRoot,
  recordRequests,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';

const PAGE = '/test/browser/pages/runtime.html';
const TT_MODEL = '/models/ml-1m-tt-r12';

let server: TestServer;
const sessions: ChromiumSession[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await server?.close();
  await Promise.all(dirs.map(removeDir));
});

async function openPage(session: ChromiumSession) {
  const page = await session.newPage();
  const errors = collectErrors(page);
  const network = recordRequests(page);
  await page.goto(server.url + PAGE);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors, network };
}

describe('client API in Chromium', () => {
  test('first open downloads with progress; a reopen starts from IndexedDB with no network', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let session = await launchPersistentChromium(dir, { webgpu: true });
    const first = await openPage(session);
    const opened = await first.page.evaluate(async (model) => {
      const progress: number[][] = [];
      const rec = await window.pocketrec.createRecommender({
        model,
        onProgress: (p) => progress.push([p.loaded, p.total]),
      });
      await rec.track({ item: '1193' });
      await rec.track({ item: '661', type: 'click' });
      const top = await rec.recommend({ k: 5 });
      const info = rec.info();
      rec.dispose();
      return { progress, top, info };
    }, TT_MODEL);
    expect(opened.info.source).toBe('network');
    // 'auto' with a table small enough to build: the fused WASM kernels, though WebGPU is there.
    expect(opened.info.backend).toBe('wasm');
    expect(opened.info.scoring).toBe('fused-wasm');
    expect(opened.info.storage).toEqual({ model: 'indexeddb', history: 'indexeddb' });
    expect(opened.info.model.embeddingCompression).toBeGreaterThan(30);
    expect(opened.top).toHaveLength(5);
    expect(opened.top.map((t) => t.item)).not.toContain('1193');
    const last = opened.progress.at(-1) as number[];
    expect(last[0]).toBe(last[1]);
    expect(opened.progress.length).toBeGreaterThan(1);
    expect(first.network.offOrigin(server.url)).toEqual([]);
    expect(first.errors.lines()).toEqual([]);
    await session.close();

    // Same profile, the model's URL now refused: the copy in IndexedDB must be enough.
    session = await launchPersistentChromium(dir, { webgpu: true });
    sessions.push(session);
    const page = await session.newPage();
    await page.route('**/models/**', (route) => route.abort());
    await page.goto(server.url + PAGE);
    await page.waitForSelector('body[data-ready="true"]');
    const again = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({ model });
      const history = await rec.history();
      const top = await rec.recommend({ k: 5 });
      return { source: rec.info().source, history, top };
    }, TT_MODEL);
    expect(again.source).toBe('indexeddb');
    expect(again.history.map((e) => [e.item, e.type])).toEqual([
      ['1193', 'view'],
      ['661', 'click'],
    ]);
    expect(again.top).toEqual(opened.top);
  });

  test('bad events and requests are typed errors, and nothing is stored', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const { page, errors } = await openPage(session);
    const outcome = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: 'wasm',
        databases: { history: 'bad-input' },
      });
      const codeOf = async (f: () => Promise<unknown>) => {
        try {
          await f();
          return 'no error';
        } catch (error) {
          const e = error as { name: string; code: string; message: string };
          return `${e.name}:${e.code}:${e.message}`;
        }
      };
      return {
        unknown: await codeOf(() => rec.track({ item: 'no-such-movie' })),
        notANumber: await codeOf(() => rec.track({ item: Number.NaN })),
        future: await codeOf(() => rec.track({ item: '1193', ts: Date.now() + 10 * 86_400_000 })),
        badType: await codeOf(() => rec.track({ item: '1193', type: '<script>' })),
        badK: await codeOf(() => rec.recommend({ k: 0 })),
        badCandidate: await codeOf(() => rec.recommend({ candidates: ['nope'] })),
        history: await rec.history(),
      };
    }, TT_MODEL);
    expect(outcome.unknown).toMatch(/^RuntimeError:unknown-item:.*no-such-movie/);
    expect(outcome.notANumber).toMatch(/^RuntimeError:bad-event:/);
    expect(outcome.future).toMatch(/^RuntimeError:bad-event:/);
    expect(outcome.badType).toMatch(/^RuntimeError:bad-event:/);
    expect(outcome.badK).toMatch(/^RuntimeError:bad-request:/);
    expect(outcome.badCandidate).toMatch(/^RuntimeError:unknown-item:.*nope/);
    expect(outcome.history).toEqual([]);
    expect(errors.lines()).toEqual([]);
  });

  test('a corrupt weight file is refused with its ModelPackageError, across the worker', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const page = await session.newPage();
    await page.route('**/models/ml-1m-tt-r12/weights-0.bin', async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[100] = (body[100] as number) ^ 0xff;
      await route.fulfill({ response, body });
    });
    await page.goto(server.url + PAGE);
    await page.waitForSelector('body[data-ready="true"]');
    const failure = await page.evaluate(async (model) => {
      try {
        await window.pocketrec.createRecommender({ model, databases: { models: 'corrupt' } });
        return null;
      } catch (error) {
        const e = error as { name: string; code: string; message: string; file: string };
        return { name: e.name, code: e.code, message: e.message, file: e.file };
      }
    }, TT_MODEL);
    expect(failure?.name).toBe('ModelPackageError');
    expect(failure?.code).toBe('hash-mismatch');
    expect(failure?.file).toMatch(/weights-0\.bin$/);
  });

  test('a crashed worker: the call in flight is rejected, the next one works, history kept', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const { page } = await openPage(session);
    const outcome = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: 'wasm',
        debug: true,
        databases: { history: 'crash' },
      });
      await rec.track({ item: '1193' });
      await rec.track({ item: '2355' });
      const before = await rec.recommend({ k: 5 });
      const crash = rec.debug?.crashWorker();
      const inFlight = rec.recommend({ k: 5 });
      const settled = await Promise.allSettled([crash, inFlight]);
      const after = await rec.recommend({ k: 5 });
      return {
        settled: settled.map((s) =>
          s.status === 'rejected' ? `${(s.reason as { code: string }).code}` : 'fulfilled',
        ),
        before,
        after,
        history: (await rec.history()).map((e) => e.item),
        restarts: rec.info().workerRestarts,
      };
    }, TT_MODEL);
    expect(outcome.settled).toEqual(['worker-crashed', 'worker-crashed']);
    expect(outcome.after).toEqual(outcome.before);
    expect(outcome.history).toEqual(['1193', '2355']);
    expect(outcome.restarts).toBe(1);
  });

  test('a hung worker: the call times out with a clear error and a new worker answers', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const { page } = await openPage(session);
    const outcome = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: 'wasm',
        debug: true,
        callTimeoutMs: 2_000,
        databases: { history: 'hang' },
      });
      await rec.track({ item: '1193' });
      const hang = await rec.debug?.hangWorker().then(
        () => 'fulfilled',
        (e: { code: string; message: string }) => `${e.code}: ${e.message}`,
      );
      const after = await rec.recommend({ k: 3 });
      return { hang, after: after.length, restarts: rec.info().workerRestarts };
    }, TT_MODEL);
    expect(outcome.hang).toMatch(/^timeout: .*did not answer "debug" within 2000 ms/);
    expect(outcome.after).toBe(3);
    expect(outcome.restarts).toBe(1);
  });

  test('a lost WebGPU device: the worker moves to WASM, same answers, history kept', async () => {
    const session = await launchChromium({ webgpu: true });
    sessions.push(session);
    const { page } = await openPage(session);
    const outcome = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: 'webgpu',
        debug: true,
        databases: { history: 'device-lost' },
      });
      for (const item of ['1193', '661', '914']) await rec.track({ item });
      const before = await rec.recommend({ k: 10 });
      const backendBefore = rec.info().backend;
      const destroyed = await rec.debug?.loseDevice();
      const same = await rec.recommend({ k: 10 });
      await rec.track({ item: '3408' });
      const after = await rec.recommend({ k: 10 });
      const info = rec.info();
      return {
        same,
        backendBefore,
        destroyed,
        backendAfter: info.backend,
        warnings: info.warnings,
        before,
        after,
        history: (await rec.history()).map((e) => e.item),
      };
    }, TT_MODEL);
    expect(outcome.backendBefore).toBe('webgpu');
    expect(outcome.destroyed).toBe(true);
    expect(outcome.backendAfter).toBe('wasm');
    expect(outcome.warnings.join('\n')).toMatch(/WebGPU device was lost/);
    // The same history on WASM: the same items, the same scores to float noise.
    expect(outcome.same.map((r) => r.item)).toEqual(outcome.before.map((r) => r.item));
    outcome.same.forEach((r, i) => {
      expect(Math.abs(r.score - (outcome.before[i] as { score: number }).score)).toBeLessThan(1e-4);
    });
    expect(outcome.after).toHaveLength(10);
    expect(outcome.after.map((r) => r.item)).not.toContain('3408');
    expect(outcome.history).toEqual(['1193', '661', '914', '3408']);
  });

  test('webgpu asked for where there is no adapter: falls back to WASM and says why', async () => {
    const session = await launchChromium({ webgpu: false });
    sessions.push(session);
    const { page, errors } = await openPage(session);
    const info = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({ model, backend: 'webgpu' });
      return rec.info();
    }, TT_MODEL);
    expect(info.backend).toBe('wasm');
    expect(info.warnings.join('\n')).toMatch(/webgpu: /);
    expect(errors.lines()).toEqual([]);
  });

  test('a new version that crashes the worker while building: refused, the old one serves and stays stored', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const page = await session.newPage();
    const swap = await servePackage(page, 'ml-1m-tt-r12');
    const versionA = await packageVersion('ml-1m-tt-r12');
    const versionB = await packageVersion('ml-1m-tt-r16');
    await page.goto(server.url + PAGE);
    await page.waitForSelector('body[data-ready="true"]');
    const options = {
      // A query and a fragment: files are fetched with ?v=1, stored under one key.
      model: '/models/swap?v=1#top',
      backend: 'wasm' as const,
      debug: true,
      databases: { models: 'crash-building', history: 'crash-building' },
    };

    const before = await page.evaluate(async (options) => {
      const rec = await window.pocketrec.createRecommender(options);
      window.pocketrec.recommender = rec;
      await rec.track({ item: '1193' });
      await rec.track({ item: '2355' });
      return { top: await rec.recommend({ k: 5 }), version: rec.info().model.version };
    }, options);
    expect(before.version).toBe(versionA);
    expect(swap.requests).toContain('/models/swap/manifest.json?v=1');
    expect(swap.requests.every((r) => r.endsWith('?v=1'))).toBe(true);

    swap.serve('ml-1m-tt-r16');
    const after = await page.evaluate(async (versionB) => {
      const rec = window.pocketrec.recommender;
      if (!rec?.debug) throw new Error('no debug recommender');
      rec.debug.crashWhenBuilding(versionB);
      const update = await rec.update().then(
        (updated) => `resolved ${updated}`,
        (e: { code: string; message: string }) => `${e.code}: ${e.message}`,
      );
      const top = await rec.recommend({ k: 5 });
      const info = rec.info();
      rec.debug.crashWhenBuilding(null);
      const again = await rec.update();
      const history = (await rec.history()).map((e) => e.item);
      rec.dispose();
      return { update, top, info, again, history, warnings: rec.info().warnings };
    }, versionB);

    expect(after.update).toMatch(
      new RegExp(`^model-refused: version ${versionB} of model .*/models/swap\\?v=1#top`),
    );
    expect(after.update).toMatch(/crash requested while building/);
    expect(after.top).toEqual(before.top);
    expect(after.info.model.version).toBe(versionA);
    expect(after.info.refused).toEqual([
      {
        url: `${server.url}/models/swap?v=1#top`,
        version: versionB,
        reason: expect.stringMatching(/crash requested while building/),
      },
    ]);
    expect(after.info.warnings.filter((w) => w.includes(versionB))).toHaveLength(1);
    // Two crashes, and the worker that answered the recommend.
    expect(after.info.workerRestarts).toBe(2);
    // Asked again, the worker sees the refused version on the server and builds nothing.
    expect(after.again).toBe(false);
    expect(after.warnings.filter((w) => w.includes(versionB))).toHaveLength(1);
    expect(after.history).toEqual(['1193', '2355']);

    // A new page load: the stored copy is still A, whatever the server has now.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    const reloaded = await page.evaluate(async (options) => {
      const rec = await window.pocketrec.createRecommender({ ...options, debug: false });
      const result = {
        source: rec.info().source,
        version: rec.info().model.version,
        top: await rec.recommend({ k: 5 }),
      };
      rec.dispose();
      return result;
    }, options);
    expect(reloaded).toEqual({ source: 'indexeddb', version: versionA, top: before.top });
  });

  test('a first open that crashes the worker twice rejects with model-refused', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const { page } = await openPage(session);
    const failure = await page.evaluate(async (model) => {
      try {
        await window.pocketrec.createRecommender({
          model,
          backend: 'wasm',
          debug: { crashBuildingVersion: 'any' },
          databases: { models: 'crash-first-open', history: 'crash-first-open' },
        });
        return null;
      } catch (error) {
        const e = error as { code: string; message: string };
        return `${e.code}: ${e.message}`;
      }
    }, TT_MODEL);
    expect(failure).toMatch(/^model-refused: version [0-9a-f]{64} of model .*ml-1m-tt-r12/);
  });
});

/** The manifest digest: the version the runtime names a package by. */
async function packageVersion(dir: string): Promise<string> {
  const manifest = JSON.parse(
    await readFile(join(projectRoot, 'models', dir, 'manifest.json'), 'utf8'),
  );
  return manifest.manifestSha256;
}

/**
 * Serves /models/swap/* from one of the shipped packages, switchable mid-test as a server
 * publishing a new version at the same URL would; records each request's path and query.
 */
async function servePackage(page: Page, dir: string) {
  let serving = dir;
  const requests: string[] = [];
  await page.route(
    (url) => url.pathname.startsWith('/models/swap/'),
    async (route) => {
      const url = new URL(route.request().url());
      requests.push(url.pathname + url.search);
      const name = url.pathname.slice('/models/swap/'.length);
      try {
        const body = await readFile(join(projectRoot, 'models', serving, name));
        await route.fulfill({ status: 200, body, contentType: 'application/octet-stream' });
      } catch {
        await route.fulfill({ status: 404, body: 'not found' });
      }
    },
  );
  return {
    requests,
    serve(next: string) {
      serving = next;
    },
  };
}
