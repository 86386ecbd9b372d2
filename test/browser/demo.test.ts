// The demo page (index.html) in real Chromium, through the client API: a first visit shows
// the model's download progress, then the figures info() gives (backend, size, compression,
// latency), a catalogue that searches and pages, and recommendations that follow every click;
// a second visit opens the model from IndexedDB with the model's URLs refused; a corrupted
// weight file stops the page with a message naming it; "Export as JSON" hands over the
// history; and with an ml-1m/movies.dat in the dev server's data directory (a stand-in the
// test writes) the page switches to the ML-1M model and shows its titles. The privacy guarantees are in privacy-demo.test.ts. The page while
// the model downloads is saved as test-results/screenshots/demo-first-visit.png.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Product } from '../../src/data/storefront-catalog.ts';
import type { Manifest } from '../../src/package/manifest.ts';
import { directorySource } from '../../src/package/node-fs.ts';
import { readItemIds } from '../../src/package/reader.ts';
import { ML1M_MODEL, STOREFRONT_MODEL } from '../../src/pages/demo/sources.ts';
import { demoReady, itemsOf } from './demo-page.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  makeTempDir,
  projectRoot,
  recordRequests,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';

const SCREENSHOTS = join(projectRoot, 'test-results/screenshots');

let server: TestServer;
let session: ChromiumSession;
let manifest: Manifest;
let catalog: Product[];
const dirs: string[] = [];
const sessions: ChromiumSession[] = [];

/** A dev server whose local-data plugin reads `dataDir` instead of ../shared/data. */
const serverWithDataDir = (dataDir: string) => startServer({ pocketrecDataDir: dataDir });

beforeAll(async () => {
  manifest = JSON.parse(
    await readFile(join(projectRoot, STOREFRONT_MODEL, 'manifest.json'), 'utf8'),
  );
  catalog = JSON.parse(await readFile(join(projectRoot, 'public/storefront/catalog.json'), 'utf8'));
  // An empty data directory: these tests behave the same with or without ../shared/data.
  const empty = await makeTempDir('pocketrec-no-data-');
  dirs.push(empty);
  server = await serverWithDataDir(empty);
  session = await launchChromium();
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await session?.close();
  await server?.close();
  await Promise.all(dirs.map(removeDir));
});

/** Clicks and waits until the page has stored the event and recommended again. */
async function clickAndWait(page: Page, selector: string): Promise<string> {
  const before = Number(await page.getAttribute('body', 'data-events'));
  const target = page.locator(selector).first();
  const item = (await target.getAttribute('data-item')) as string;
  await target.click();
  await page.waitForSelector(`body[data-events="${before + 1}"]`);
  return item;
}

describe('demo page', () => {
  test('first visit: download progress, the model figures, search, pages and recommendations that follow clicks', async () => {
    const page = await session.newPage();
    const errors = collectErrors(page);
    const network = recordRequests(page);
    // Every value the progress bar shows, as the page shows it.
    await page.addInitScript(() => {
      const seen: [number, number][] = [];
      (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          const box = r.target as HTMLElement;
          if (box.id === 'loader' && box.dataset.loaded) {
            seen.push([Number(box.dataset.loaded), Number(box.dataset.total)]);
          }
        }
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-loaded'] });
    });
    // The weights wait until the loader is on screen, so a visitor would have seen it.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(`**${STOREFRONT_MODEL}/weights-0.bin`, async (route) => {
      await gate;
      await route.continue();
    });

    const response = await page.goto(`${server.url}/`);
    expect(response?.headers()['content-security-policy']).toContain("connect-src 'self'");
    await page.locator('#loader').waitFor({ state: 'visible' });
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'demo-first-visit.png') });
    release();
    await demoReady(page);

    const progress = await page.evaluate(
      () => (window as unknown as { progressSeen: [number, number][] }).progressSeen,
    );
    const payload = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.every(([, total]) => total === payload)).toBe(true);
    expect(progress.at(-1)).toEqual([payload, payload]);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]?.[0]).toBeGreaterThanOrEqual(progress[i - 1]?.[0] as number);
    }
    expect(await page.getAttribute('#loader', 'data-state')).toBe('downloaded');
    expect(await page.isHidden('#loader')).toBe(true);

    // The figures come from info(): no WebGPU adapter in this browser, so WASM.
    expect(await page.getAttribute('#stat-backend', 'data-backend')).toBe('wasm');
    expect(await page.textContent('#stat-backend')).toBe('WASM');
    expect(await page.getAttribute('#stat-size', 'data-bytes')).toBe(String(manifest.size.bytes));
    expect(Number(await page.getAttribute('#stat-compression', 'data-ratio'))).toBe(
      manifest.size.modelCompression,
    );
    expect(await page.getAttribute('#stat-source', 'data-source')).toBe('network');
    expect(await page.textContent('#stat-latency')).toMatch(/^\d+(\.\d)? ms$/);
    expect(await page.textContent('#data-notice')).toMatch(/generated/i);
    expect(await page.getAttribute('#data-notice a', 'href')).toMatch(/^\/docs\/results\//);
    expect(await page.isHidden('#model-choice')).toBe(true);

    // One page of cards, never the whole catalogue.
    expect(await page.textContent('#result-count')).toBe(
      `${catalog.length.toLocaleString('en-US')} products`,
    );
    const cards = await itemsOf(page, '#catalogue .card');
    expect(cards.length).toBeGreaterThan(0);
    expect(cards.length).toBeLessThan(100);
    expect(await page.locator('#history li').count()).toBe(0);

    // An empty history: the sequential model has no session to encode, so its package's
    // popularity prior answers, and the page says these are the popular products.
    expect(manifest.kind).toBe('sequential-tt');
    expect(await itemsOf(page, '#recommendations .rec')).toHaveLength(8);
    expect(await page.textContent('#recs-hint')).toMatch(/^Popular products to start with/);

    const clicked = await clickAndWait(page, '#catalogue .card');
    const after = await itemsOf(page, '#recommendations .rec');
    expect(after).toHaveLength(8);
    expect(after).not.toContain(clicked);
    expect(await itemsOf(page, '#history li')).toEqual([clicked]);
    expect(await page.getAttribute(`#catalogue .card[data-item="${clicked}"]`, 'class')).toContain(
      'seen',
    );

    // A recommendation is clicked like any product, and the list moves on.
    const recommended = await clickAndWait(page, '#recommendations .rec');
    expect(await itemsOf(page, '#history li')).toEqual([recommended, clicked]);
    expect(await itemsOf(page, '#recommendations .rec')).not.toContain(recommended);

    // Search by a product's exact name, then by category chip, then the next page.
    const wanted = catalog[catalog.length - 1] as Product;
    await page.fill('#search', wanted.name);
    expect(await itemsOf(page, '#catalogue .card')).toContain(wanted.id);
    await page.fill('#search', '');
    await page.click(`#categories .chip[data-category="${wanted.category}"]`);
    const details = await page.locator('#catalogue .card-detail').allTextContents();
    expect(details.every((d) => d.startsWith(`${wanted.category} ·`))).toBe(true);
    const firstPage = await itemsOf(page, '#catalogue .card');
    await page.click('#page-next');
    expect(await page.getAttribute('#catalogue', 'data-page')).toBe('2');
    const secondPage = await itemsOf(page, '#catalogue .card');
    expect(secondPage.some((id) => firstPage.includes(id))).toBe(false);
    await page.fill('#search', 'zzzz no such product');
    expect(await page.textContent('#catalogue')).toMatch(/No products match/);

    // "Export as JSON": the history as stored, built in the page (a blob: URL, no request).
    const downloaded = page.waitForEvent('download');
    await page.click('#export');
    const file = await (await downloaded).path();
    const exported = JSON.parse(await readFile(file, 'utf8'));
    expect(exported.events.map((e: { item: string }) => e.item)).toEqual([clicked, recommended]);
    expect(exported.events[0].name).toBe(catalog.find((p) => p.id === clicked)?.name);

    expect(errors.lines()).toEqual([]);
    expect(network.offOrigin(server.url)).toEqual([]);
    await page.close();
  });

  test('a second visit starts from IndexedDB with the model URLs refused, history intact', async () => {
    // Same context as the first test: its IndexedDB holds the model and two events.
    const page = await session.newPage();
    const errors = collectErrors(page);
    const network = recordRequests(page);
    await page.route('**/models/**', (route) => route.abort());
    await page.goto(`${server.url}/`);
    await demoReady(page);
    expect(await page.getAttribute('#stat-source', 'data-source')).toBe('indexeddb');
    expect(await page.textContent('#stat-source-detail')).toMatch(/IndexedDB/);
    expect(await page.getAttribute('#loader', 'data-state')).toBe('from-device');
    expect(await page.getAttribute('#history', 'data-count')).toBe('2');
    expect(network.requests.filter((r) => r.url.includes('/models/'))).toEqual([]);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  test('the ranker: the context panel changes the order, and each item says what moved it', async () => {
    const page = await session.newPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/`);
    await demoReady(page);
    expect(await page.isVisible('#context-panel')).toBe(true);
    await clickAndWait(page, '#catalogue .card');
    await clickAndWait(page, '#catalogue .card:not(.seen)');

    /** Sets the panel and waits for the list it causes. */
    const listIn = async (context: { hour: string; weekday: string; device: string }) => {
      await page.locator('#context-hour').fill(context.hour);
      await page.selectOption('#context-weekday', context.weekday);
      await page.selectOption('#context-device', context.device);
      // The list on screen once the last change's request has answered.
      await page.waitForSelector(
        `body[data-context="${context.hour} ${context.weekday} ${context.device}"]`,
      );
      return page.locator('#recommendations .rec').evaluateAll((nodes) =>
        nodes.map((n) => {
          const move = n.querySelector<HTMLElement>('.rec-move');
          return { item: (n as HTMLElement).dataset.item, field: move?.dataset.field ?? null };
        }),
      );
    };
    const morning = await listIn({ hour: '8', weekday: 'tue', device: 'mobile' });
    const weekend = await listIn({ hour: '15', weekday: 'sat', device: 'desktop' });
    expect(morning).toHaveLength(8);
    expect(weekend.map((r) => r.item)).not.toEqual(morning.map((r) => r.item));
    // Every item carries its move, and the field that moved it is one the page controls or the locale.
    for (const { field } of [...morning, ...weekend]) {
      expect(['hour', 'weekday', 'device', 'locale']).toContain(field);
    }
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  test('catalogue text reaches the page as text, never as markup', async () => {
    const page = await session.newPage();
    const hostile = '<img src=x onerror="window.injected=1">';
    await page.route('**/storefront/catalog.json', async (route) => {
      const response = await route.fetch();
      const products = (await response.json()) as Product[];
      (products[0] as Product).name = hostile;
      await route.fulfill({ response, json: products });
    });
    await page.goto(`${server.url}/`);
    await demoReady(page);
    const id = (catalog[0] as Product).id;
    expect(await page.textContent(`#catalogue .card[data-item="${id}"] .card-name`)).toBe(hostile);
    expect(await page.locator('#catalogue img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { injected?: number }).injected)).toBe(
      undefined,
    );
    await page.close();
  });

  test('a bit-flipped weight file stops the page with a message naming it', async () => {
    const fresh = await launchChromium();
    sessions.push(fresh);
    const page = await fresh.newPage();
    await page.route(`**${STOREFRONT_MODEL}/weights-0.bin`, async (route) => {
      const original = await route.fetch();
      const body = Buffer.from(await original.body());
      body[100] = (body[100] as number) ^ 0x01;
      await route.fulfill({ response: original, body });
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-state="error"]', { timeout: 120_000 });
    const message = await page.textContent('#error');
    expect(message).toContain('failed verification');
    expect(message).toContain('weights-0.bin');
    expect(message).toContain('SHA-256');
    expect(await page.isVisible('#error')).toBe(true);
    expect(await page.getAttribute('#loader', 'data-state')).toBe('failed');
  });
});

describe('the ML-1M switch', () => {
  test('without ml-1m/movies.dat the endpoint says so and the page offers no switch', async () => {
    const response = await fetch(`${server.url}/local-data/ml-1m/titles.json`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ available: false });
  });

  test('with movies.dat (ISO-8859-1) the page switches to the ML-1M model and shows its titles', async () => {
    // A stand-in movies.dat with the model's ids, so the test needs no data set; one title
    // in Latin-1 with an article moved to the end, as in the real file; and, as in the real
    // file, a film nobody rated, which the page leaves out because the model's id map
    // (read through the package reader) does not list it.
    const { itemIds } = await readItemIds(directorySource(join(projectRoot, ML1M_MODEL)));
    const ids = itemIds ?? [];
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).not.toContain('99999');
    const genres = ['Drama', 'Comedy', 'Sci-Fi|Thriller'];
    const lines = ids.map((id, i) =>
      i === 0
        ? `${id}::Cité des enfants perdus, La (1995)::Adventure|Sci-Fi`
        : `${id}::Film ${id} (1999)::${genres[i % genres.length]}`,
    );
    lines.push('99999::Unrated Film (2000)::Drama');
    const dataDir = await makeTempDir('pocketrec-data-');
    dirs.push(dataDir);
    await mkdir(join(dataDir, 'ml-1m'));
    await writeFile(
      join(dataDir, 'ml-1m/movies.dat'),
      Buffer.from(`${lines.join('\n')}\n`, 'latin1'),
    );
    const withData = await serverWithDataDir(dataDir);
    const ml1mManifest: Manifest = JSON.parse(
      await readFile(join(projectRoot, ML1M_MODEL, 'manifest.json'), 'utf8'),
    );
    const browser = await launchChromium();
    sessions.push(browser);
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page);
      await page.goto(`${withData.url}/`);
      await demoReady(page);
      await page.locator('#model-choice').waitFor({ state: 'visible' });
      await page.selectOption('#model-select', 'ml-1m');
      await page.waitForURL(/\?model=ml-1m$/);
      await demoReady(page);

      expect(await page.getAttribute('body', 'data-source')).toBe('ml-1m');
      expect(await page.getAttribute('#stat-size', 'data-bytes')).toBe(
        String(ml1mManifest.size.bytes),
      );
      expect(await page.textContent('#data-notice')).toMatch(/MovieLens 1M/);
      expect(await page.textContent('#result-count')).toBe(
        `${ids.length.toLocaleString('en-US')} films`,
      );
      expect(await page.textContent('#catalogue .card-name')).toBe(
        'La Cité des enfants perdus (1995)',
      );
      // An empty history: the package's popularity prior, ML-1M's most watched films.
      expect(await page.locator('#recommendations .rec').count()).toBe(8);
      const first = await clickAndWait(page, '#catalogue .card');
      await clickAndWait(page, '#catalogue .card:not(.seen)');
      const recs = await itemsOf(page, '#recommendations .rec');
      expect(recs).toHaveLength(8);
      expect(recs.every((id) => ids.includes(id as string))).toBe(true);
      expect(recs).not.toContain(first);
      expect(await page.locator('#recommendations .rec-name').first().textContent()).toMatch(
        /^(Film \d+ \(1999\)|La Cité des enfants perdus \(1995\))$/,
      );
      expect(errors.lines()).toEqual([]);

      // And back: the storefront's history was kept apart.
      await page.selectOption('#model-select', 'storefront');
      await page.waitForURL((url) => !url.search.includes('model='));
      await demoReady(page);
      expect(await page.getAttribute('body', 'data-source')).toBe('storefront');
      expect(await page.getAttribute('#history', 'data-count')).toBe('0');
    } finally {
      await withData.close();
    }
  });
});
