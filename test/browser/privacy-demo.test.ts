// The privacy guarantee, in real Chromium on one persistent profile: every page carries a CSP
// whose connect-src is 'self'; a scripted session of 100 events on the demo, with every
// request of every page and worker recorded, sends nothing (no body, no POST or beacon, no
// item id of the history in any URL, and after the model has loaded no request at all); the
// history survives a reload and a browser restart (the model then opens from IndexedDB with
// its URLs refused); "Erase everything" leaves no pocketrec database for
// indexedDB.databases() to list, also after a restart. Screenshots go to
// test-results/screenshots/ (docs/images/demo.png is a copy of demo.png).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { demoReady, itemsOf } from './demo-page.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchPersistentChromium,
  makeTempDir,
  projectRoot,
  type RecordedRequest,
  recordRequests,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';

const SCREENSHOTS = join(projectRoot, 'test-results/screenshots');
const EVENTS = 100;
const DESKTOP = { width: 1360, height: 900 };

let server: TestServer;
let profile: string;
let emptyDataDir: string;
let session: ChromiumSession | null = null;
/** The demo's tab in the current browser. */
let demo: Page;
/** What the session clicked, in order, and what the page recommended after the last click. */
const clicked: string[] = [];
let lastRecommendations: (string | undefined)[] = [];

beforeAll(async () => {
  // An empty data directory: the page is the storefront demo whatever ../shared/data holds.
  emptyDataDir = await makeTempDir('pocketrec-no-data-');
  server = await startServer({ pocketrecDataDir: emptyDataDir });
  profile = await makeTempDir('pocketrec-privacy-');
  await mkdir(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await session?.close();
  await server?.close();
  if (profile) await removeDir(profile);
  if (emptyDataDir) await removeDir(emptyDataDir);
});

async function openDemo(page: Page): Promise<void> {
  await page.setViewportSize(DESKTOP);
  await page.goto(`${server.url}/`);
  await demoReady(page);
}

const pocketrecDatabases = (page: Page) =>
  page.evaluate(async () =>
    (await indexedDB.databases())
      .map((db) => db.name as string)
      .filter((name) => name.startsWith('pocketrec'))
      .sort(),
  );

async function screenshot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, name) });
}

/**
 * One click of the scripted session: mostly catalogue cards and recommendations, with the
 * view changed every ten events (a search, a category, the next page, back to all).
 */
async function scriptedClick(page: Page, i: number): Promise<void> {
  if (i > 0 && i % 10 === 0) {
    const step = (i / 10) % 4;
    if (step === 1) await page.fill('#search', ['lamp', 'tea', 'shoes', 'book'][i % 4] as string);
    if (step === 2) {
      await page.fill('#search', '');
      await page
        .locator('#categories .chip')
        .nth(1 + (i % 7))
        .click();
    }
    if (step === 3) await page.click('#page-next');
    if (step === 0) {
      await page.fill('#search', '');
      await page.locator('#categories .chip').first().click();
    }
  }
  const fromRecommendations = i % 2 === 1;
  const targets = page.locator(fromRecommendations ? '#recommendations .rec' : '#catalogue .card');
  const count = await targets.count();
  expect(count).toBeGreaterThan(0);
  const target = targets.nth(fromRecommendations ? i % Math.min(count, 4) : (i * 7) % count);
  clicked.push((await target.getAttribute('data-item')) as string);
  await target.click();
  await page.waitForSelector(`body[data-events="${i + 1}"]`);
}

describe('privacy of the demo page', () => {
  test("every page is served with a CSP whose connect-src is 'self'", async () => {
    const pages = (await readdir(projectRoot)).filter((f) => f.endsWith('.html'));
    expect(pages).toContain('index.html');
    for (const file of pages) {
      const response = await fetch(`${server.url}/${file}`);
      expect(response.status, file).toBe(200);
      const csp = response.headers.get('content-security-policy') ?? '';
      const connect = csp
        .split(';')
        .map((d) => d.trim())
        .find((d) => d.startsWith('connect-src'));
      expect(connect, file).toBe("connect-src 'self'");
    }
  });

  test(`a session of ${EVENTS} events: no request carries a body or an item id, none after the model loaded`, async () => {
    session = await launchPersistentChromium(profile);
    const network = recordRequests(session.context);
    const errors = collectErrors(session.context);
    const page = await session.newPage();
    demo = page;
    await openDemo(page);
    const loaded = network.requests.length;
    expect(network.requests.some((r) => r.url.endsWith('/weights-0.bin'))).toBe(true);

    for (let i = 0; i < EVENTS; i++) {
      await scriptedClick(page, i);
      if (i === 11) {
        await page.fill('#search', '');
        await page.locator('#categories .chip').first().click();
        await screenshot(page, 'demo.png');
      }
    }
    expect(await page.getAttribute('#history', 'data-count')).toBe(String(EVENTS));
    lastRecommendations = await itemsOf(page, '#recommendations .rec');
    expect(lastRecommendations).toHaveLength(8);
    await page.locator('.panel-data').screenshot({ path: join(SCREENSHOTS, 'demo-your-data.png') });

    // The export holds the whole history, in order: the page stored exactly what was clicked.
    const download = page.waitForEvent('download');
    await page.click('#export');
    const exported = JSON.parse(await readFile(await (await download).path(), 'utf8'));
    expect(exported.events.map((e: { item: string }) => e.item)).toEqual(clicked);

    const ids = new Set(clicked);
    const leaks = (r: RecordedRequest) =>
      r.postData !== null ||
      r.method !== 'GET' ||
      ['ping', 'beacon', 'eventsource', 'websocket'].includes(r.resourceType) ||
      [...ids].some((id) => r.url.includes(id));
    expect(network.requests.filter(leaks)).toEqual([]);
    expect(network.offOrigin(server.url)).toEqual([]);
    // After the model loaded: not one request reached the network (the export is a blob: URL).
    const afterLoad = network.requests
      .slice(loaded)
      .filter((r) => !r.url.startsWith('blob:') && !r.url.startsWith('data:'));
    expect(afterLoad).toEqual([]);
    expect(errors.lines()).toEqual([]);
    network.dispose();
    errors.dispose();
  });

  test('the history survives a reload', async () => {
    const page = demo;
    await page.reload();
    await demoReady(page);
    expect(await page.getAttribute('#history', 'data-count')).toBe(String(EVENTS));
    expect(await page.getAttribute('#stat-source', 'data-source')).toBe('indexeddb');
    expect(await itemsOf(page, '#recommendations .rec')).toEqual(lastRecommendations);
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'demo-mobile.png');
    await page.setViewportSize(DESKTOP);
  });

  test('the history survives a browser restart; the model opens from IndexedDB, its URLs refused', async () => {
    await session?.close();
    session = await launchPersistentChromium(profile);
    const network = recordRequests(session.context);
    const errors = collectErrors(session.context);
    await session.context.route('**/models/**', (route) => route.abort());
    const page = await session.newPage();
    demo = page;
    await openDemo(page);
    expect(network.requests.filter((r) => r.url.includes('/models/'))).toEqual([]);
    expect(await page.getAttribute('#stat-source', 'data-source')).toBe('indexeddb');
    expect(await page.getAttribute('#history', 'data-count')).toBe(String(EVENTS));
    expect(await itemsOf(page, '#recommendations .rec')).toEqual(lastRecommendations);
    expect(errors.lines()).toEqual([]);
  });

  test('"Erase everything" leaves no pocketrec database in IndexedDB, also after a restart', async () => {
    const page = demo;
    // Not vacuous: both databases are there before.
    expect(await pocketrecDatabases(page)).toEqual(['pocketrec-history', 'pocketrec-models']);
    await page.click('#erase');
    await page.waitForSelector('body[data-state="erased"]');
    expect(await pocketrecDatabases(page)).toEqual([]);
    expect(await page.getAttribute('#history', 'data-count')).toBe('0');
    expect(await page.isVisible('#restart')).toBe(true);
    await screenshot(page, 'demo-erased.png');

    await session?.close();
    session = await launchPersistentChromium(profile);
    const other = await session.newPage();
    // A same-origin document that is not the demo (which would store the model again).
    await other.goto(`${server.url}/favicon.svg`);
    expect(await pocketrecDatabases(other)).toEqual([]);
  });
});
