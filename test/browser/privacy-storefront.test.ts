// The example storefront's privacy guarantee, in real Chromium on the dev server (what
// `npm start` serves, the widget embedded with its one script tag): every page carries the
// CSP; a scripted shopping session of 100 events has every network request recorded, and
// once the model has loaded no request carries a body, names an item of the history, or is
// a POST or a beacon. The history survives a reload and a browser restart on the same
// profile, without the model being fetched again. Screenshots go to test-results/screenshots/.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HistoryEvent } from '../../src/index.ts';
import type { PocketrecWidgetApi } from '../../src/widget/index.ts';
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

const PAGE = '/storefront.html';
const EVENTS = 100;
const SCREENSHOTS = join(projectRoot, 'test-results', 'screenshots');

let server: TestServer;
let profile: string;
const sessions: ChromiumSession[] = [];

beforeAll(async () => {
  server = await startServer();
  profile = await makeTempDir('pocketrec-storefront-');
  await mkdir(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await server?.close();
  if (profile) await removeDir(profile);
});

async function openShop(session: ChromiumSession): Promise<Page> {
  const page = await session.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const response = await page.goto(server.url + PAGE);
  expect(response?.headers()['content-security-policy']).toContain("connect-src 'self'");
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('pocket-recs[state="ready"]');
  return page;
}

const historyOf = (page: Page): Promise<HistoryEvent[]> =>
  page.evaluate(() => (window as unknown as { pocketrec: PocketrecWidgetApi }).pocketrec.history());

const shownItems = (page: Page): Promise<string[]> =>
  page
    .locator('pocket-recs .card')
    .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.item as string));

/** Runs `action` (one shopper event) and waits for the list the widget draws after it. */
async function oneEvent(page: Page, action: () => Promise<unknown>): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { drawn: Promise<void> }).drawn = new Promise((resolve) =>
      document.addEventListener('pocketrec-update', () => resolve(), { once: true }),
    );
  });
  await action();
  await page.evaluate(() => (window as unknown as { drawn: Promise<void> }).drawn);
}

/**
 * A shopper's visit: browse aisles, open products, add some to the cart, follow the
 * widget's suggestions. Five events per round (two product clicks, an add to cart, a
 * picked recommendation, an add to cart), between them things that are not events
 * (changing aisle, searching, showing more).
 */
async function shop(page: Page, fromRound: number, toRound: number): Promise<void> {
  const chips = page.locator('#categories .chip');
  const aisles = await chips.count();
  for (let round = fromRound; round < toRound; round++) {
    if (round % 4 === 3) {
      // Searching an aisle's name (searches are not events, and are not sent anywhere).
      const aisle = (await chips.nth(1 + (round % (aisles - 1))).textContent()) as string;
      await page.fill('#search', aisle.toLowerCase());
    } else {
      await page.fill('#search', '');
      await chips.nth(1 + ((round * 7) % (aisles - 1))).click();
      if (round % 3 === 0) await page.click('#more');
    }
    const products = page.locator('#products .product');
    const count = await products.count();
    await oneEvent(page, () => products.nth((round * 5) % count).click());
    await oneEvent(page, () => products.nth((round * 5 + 3) % count).click());
    await oneEvent(page, () => page.click('#detail .add'));
    await oneEvent(page, () =>
      page
        .locator('pocket-recs .card')
        .nth(round % 3)
        .click(),
    );
    await oneEvent(page, () => page.click('#detail .add'));
  }
}

/** What the guarantee forbids, in the requests made once the model was in the browser. */
function leaks(requests: RecordedRequest[], items: Set<string>, origin: string) {
  return requests.filter(
    (r) =>
      r.method !== 'GET' ||
      r.postData !== null ||
      r.resourceType === 'ping' ||
      !r.url.startsWith(`${origin}/`) ||
      [...items].some((item) => r.url.includes(item)),
  );
}

describe('storefront privacy', () => {
  test(`${EVENTS} events: nothing leaves the device; the history survives a reload and a restart`, async () => {
    let session = await launchPersistentChromium(profile);
    sessions.push(session);
    let network = recordRequests(session.context);
    let errors = collectErrors(session.context);
    let page = await openShop(session);
    const modelRequests = network.requests.filter((r) => r.url.includes('/models/'));
    expect(modelRequests.map((r) => new URL(r.url).pathname)).toContain(
      '/models/storefront-tt/manifest.json',
    );
    const loadedAt = network.requests.length;

    await shop(page, 0, 3);
    // The README's picture: the whole shop's aisles, a product open, a few things in the cart.
    await page.fill('#search', '');
    await page.locator('#categories .chip').first().click();
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      (document.querySelector('.categories') as HTMLElement).scrollLeft = 0;
    });
    await page.screenshot({ path: join(SCREENSHOTS, 'storefront.png') });
    await shop(page, 3, EVENTS / 5);
    const history = await historyOf(page);
    expect(history).toHaveLength(EVENTS);
    expect(new Set(history.map((e) => e.type))).toEqual(new Set(['click', 'cart', 'select']));
    expect(await page.textContent('#history-count')).toBe(String(EVENTS));
    const items = new Set(history.map((e) => e.item));
    const shown = await shownItems(page);
    expect(shown).toHaveLength(6);
    for (const item of shown) expect(items.has(item)).toBe(false);

    // The whole session, once the model was in: not one request (the reload below makes
    // some, and they are checked for the same leaks).
    expect(network.requests.slice(loadedAt)).toEqual([]);
    // No POST, beacon or off-origin request at any time, model download included.
    expect(leaks(network.requests, new Set(), server.url)).toEqual([]);

    await page.screenshot({
      path: join(SCREENSHOTS, 'storefront-after-100-events.png'),
      fullPage: true,
    });

    // A reload: the history and the list come back from this device; the model is not fetched.
    const beforeReload = network.requests.length;
    const response = await page.reload();
    expect(response?.headers()['content-security-policy']).toContain("connect-src 'self'");
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector('pocket-recs[state="ready"]');
    expect(await historyOf(page)).toEqual(history);
    expect(await shownItems(page)).toEqual(shown);
    const reloadRequests = network.requests.slice(beforeReload);
    expect(reloadRequests.filter((r) => r.url.includes('/models/'))).toEqual([]);
    expect(leaks(reloadRequests, items, server.url)).toEqual([]);
    expect(errors.lines()).toEqual([]);
    await session.close();

    // A browser restart on the same profile.
    session = await launchPersistentChromium(profile);
    sessions.push(session);
    network = recordRequests(session.context);
    errors = collectErrors(session.context);
    page = await openShop(session);
    expect(await historyOf(page)).toEqual(history);
    expect(await shownItems(page)).toEqual(shown);
    expect(network.requests.filter((r) => r.url.includes('/models/'))).toEqual([]);
    expect(leaks(network.requests, items, server.url)).toEqual([]);
    expect(errors.lines()).toEqual([]);
  });
});
