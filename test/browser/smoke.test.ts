// Proves the browser harness works end to end: Vite dev server (with the project's CSP), Debian's
// Chromium through playwright-core, real IndexedDB, WebGPU on SwiftShader (page and worker), error
// and request recording, and a persistent profile that survives a browser restart.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  launchPersistentChromium,
  makeTempDir,
  recordRequests,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';
import type { SmokeResult } from './pages/smoke.ts';

const SMOKE_PATH = '/test/browser/pages/smoke.html';

let server: TestServer;
const sessions: ChromiumSession[] = [];
const tempDirs: string[] = [];

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await server?.close();
  await Promise.all(tempDirs.map(removeDir));
});

async function openSmoke(session: ChromiumSession) {
  const page = await session.newPage();
  const errors = collectErrors(page);
  const network = recordRequests(page);
  const response = await page.goto(server.url + SMOKE_PATH);
  const result = await page.evaluate(
    () => (window as unknown as { smoke: Promise<SmokeResult> }).smoke,
  );
  return { page, errors, network, response, result };
}

describe('browser harness', () => {
  test('server listens on 127.0.0.1 on a port of its own', () => {
    const url = new URL(server.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.port).not.toBe('5173');
  });

  test('smoke page with WebGPU: CSP, IndexedDB, adapter in page and worker, no errors', async () => {
    const session = await launchChromium({ webgpu: true });
    sessions.push(session);
    const { page, errors, network, response, result } = await openSmoke(session);

    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'self'");

    expect(result.indexedDb.previous).toBeNull(); // fresh profile
    expect(result.indexedDb.readBack).toBe(result.indexedDb.wrote);
    expect(result.indexedDb.countAfterReopen).toBe(1);

    for (const gpu of [result.gpu, result.workerGpu]) {
      expect(gpu.adapter).toBe(true);
      expect(gpu.architecture).toBe('swiftshader');
      expect(gpu.isFallbackAdapter).toBe(true);
    }
    expect(result.fetchStatus).toBe(200);
    expect(await page.textContent('#status')).toBe('done');

    const urls = network.requests.map((r) => new URL(r.url).pathname);
    expect(urls).toContain(SMOKE_PATH);
    expect(urls).toContain('/test/browser/pages/smoke.ts');
    expect(urls.some((u) => u.startsWith('/test/browser/pages/smoke.worker.ts'))).toBe(true);
    expect(network.offOrigin(server.url)).toEqual([]);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  test('without --enable-unsafe-webgpu there is no adapter', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const { page, errors, result } = await openSmoke(session);
    expect(result.gpu.adapter).toBe(false);
    expect(result.workerGpu.adapter).toBe(false);
    expect(result.indexedDb.readBack).toBe(result.indexedDb.wrote);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  test('request recorder sees method and body; error collector sees console and page errors', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const page = await session.newPage();
    const errors = collectErrors(page);
    const network = recordRequests(page);
    await page.goto(server.url + SMOKE_PATH);
    await page.evaluate(() => (window as unknown as { smoke: Promise<unknown> }).smoke);
    await page.evaluate(async () => {
      await fetch('/test/browser/pages/smoke.html', { method: 'POST', body: 'event=view&item=42' });
    });
    const post = network.requests.find((r) => r.method === 'POST');
    expect(post).toMatchObject({ postData: 'event=view&item=42', resourceType: 'fetch' });

    expect(errors.errors).toEqual([]);
    await page.evaluate(() => {
      console.error('boom from console');
      setTimeout(() => {
        throw new Error('boom uncaught');
      });
    });
    await expect.poll(() => errors.errors.length).toBe(2);
    expect(errors.errors.map((e) => e.kind).sort()).toEqual(['console', 'pageerror']);
    expect(errors.lines().join('\n')).toContain('boom uncaught');

    // The CSP blocks a request to another origin before it reaches the network.
    const blocked = await page.evaluate(async () => {
      try {
        await fetch('http://127.0.0.2:9/');
        return false;
      } catch {
        return true;
      }
    });
    expect(blocked).toBe(true);
    expect(network.offOrigin(server.url)).toEqual([]);
    await expect
      .poll(() => errors.lines().some((l) => l.includes('Content Security Policy')))
      .toBe(true);
    await page.close();
  });

  test('a persistent profile keeps IndexedDB across a browser restart', async () => {
    const dir = await makeTempDir();
    tempDirs.push(dir);

    const first = await launchPersistentChromium(dir);
    sessions.push(first);
    const one = await openSmoke(first);
    expect(one.result.indexedDb.previous).toBeNull();
    expect(one.errors.lines()).toEqual([]);
    await first.close();

    const second = await launchPersistentChromium(dir);
    sessions.push(second);
    const two = await openSmoke(second);
    expect(two.result.indexedDb.previous).toBe(one.result.indexedDb.wrote);
    expect(two.errors.lines()).toEqual([]);
    await second.close();
  });
});
