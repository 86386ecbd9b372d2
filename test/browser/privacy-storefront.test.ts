// The example storefront's privacy guarantee, in real Chromium on the dev server (what
// `npm start` serves, the widget embedded with its one script tag): every page carries the
// CSP; a scripted shopping session of 100 events has every network request recorded, and
// once the model has loaded no request carries a body, names an item of the history, or is
// a POST or a beacon. The history survives a reload and a browser restart on the same
// profile, without the model being fetched again. Screenshots go to test-results/screenshots/.
//
// Catalogue images: a catalogue whose images are on a second local origin (an image host
// that records what it receives), on the page's origin, or javascript:/data: URLs. Without
// `image-origins` the image host hears nothing; with it, it gets the images of the products
// shown and nothing more: no Referer, no cookie, no query. A javascript: or data: image is
// never given to an <img>.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Plugin } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Product } from '../../src/data/storefront-catalog.ts';
import type { HistoryEvent } from '../../src/index.ts';
import type { ErrorDetail, PocketrecWidgetApi } from '../../src/widget/index.ts';
import { contentSecurityPolicy } from '../../vite.config.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  launchPersistentChromium,
  makeTempDir,
  projectRoot,
  type ReceivedRequest,
  type RecordedRequest,
  type RecordingServer,
  recordRequests,
  removeDir,
  startRecordingServer,
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
  server = await startServer({ plugins: [imageShopPlugin()] });
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
      '/models/storefront-compact/manifest.json',
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

// ---------------------------------------------------------------------------------------------
// Catalogue images

const IMAGE_DIR = '/__image-test';
const IMAGE_PAGE = `${IMAGE_DIR}/shop.html`;
/** The catalogue's own folder, so that its relative image URLs resolve below it. */
const IMAGE_CATALOG = `${IMAGE_DIR}/catalog/products.json`;
const SVG = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">',
  '<rect width="4" height="4" fill="#c33"/></svg>',
].join('');
/**
 * A cookie of the signed-in shopper, for host 127.0.0.1: cookies ignore ports, so the image
 * host (127.0.0.1 too) would be sent it unless the widget asks for none.
 */
const SHOPPER_COOKIE = { name: 'shopper', value: 'signed-in-4242' };

type ImageKind = 'other-origin' | 'same-origin' | 'javascript' | 'data';

/** What each step of a page saw: every assigned img.src, every list drawn, every error event. */
interface ImageLog {
  srcs: { src: string; referrerPolicy: string; crossOrigin: string | null; loading: string }[];
  lists: string[][];
  errors: ErrorDetail[];
}

/**
 * What the dev server answers under IMAGE_DIR (set by each test): the shop page, its catalogue
 * and its own thumbnails, whose requests are recorded. Served by the server rather than by a
 * Playwright route, because a page fulfilled by a route has no address, counts as public, and
 * Chromium's Local Network Access then blocks its requests to the image host on 127.0.0.1.
 */
const imageShop = {
  page: '',
  csp: '',
  catalog: '',
  images: [] as { path: string; referer: string | null }[],
};

function imageShopPlugin(): Plugin {
  return {
    name: 'privacy-test-image-shop',
    configureServer(vite) {
      vite.middlewares.use((req, res, next) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (!path.startsWith(`${IMAGE_DIR}/`)) return next();
        if (path === IMAGE_PAGE) {
          res.writeHead(200, {
            'Content-Type': 'text/html',
            'Content-Security-Policy': imageShop.csp,
          });
          res.end(imageShop.page);
        } else if (path === IMAGE_CATALOG) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(imageShop.catalog);
        } else {
          imageShop.images.push({ path, referer: req.headers.referer ?? null });
          res.writeHead(200, { 'Content-Type': 'image/svg+xml' });
          res.end(SVG);
        }
      });
    },
  };
}

describe('catalogue images', () => {
  let images: RecordingServer;
  let browser: ChromiumSession;
  let products: Product[];
  /** Image URL and kind of every product of the test catalogue. */
  const imageOf = new Map<string, { url: string; kind: ImageKind }>();

  beforeAll(async () => {
    images = await startRecordingServer(({ path }) =>
      path.startsWith('/img/')
        ? {
            status: 200,
            headers: {
              'Content-Type': 'image/svg+xml',
              // What a CDN sends: the widget's anonymous CORS request needs it.
              'Access-Control-Allow-Origin': '*',
              // A tracking cookie: with no credentials the browser must not keep it.
              'Set-Cookie': 'tracker=t-1; Path=/',
            },
            body: SVG,
          }
        : { status: 404 },
    );
    products = JSON.parse(
      await readFile(join(projectRoot, 'public', 'storefront', 'catalog.json'), 'utf8'),
    );
    products.forEach((p, i) => {
      const kinds: [string, ImageKind][] = [
        ['javascript:alert(document.cookie)', 'javascript'],
        [`data:image/svg+xml,${encodeURIComponent(SVG)}`, 'data'],
        [`thumbs/${p.id}.svg`, 'same-origin'],
        [`${images.url}/img/${p.id}.svg`, 'other-origin'],
        [`${images.url}/img/${p.id}.svg`, 'other-origin'],
      ];
      const [url, kind] = kinds[i % kinds.length] as [string, ImageKind];
      imageOf.set(p.id, { url, kind });
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await images?.close();
  });

  /** The shop page with the widget given `attributes`, and its catalogue. */
  function setShop(attributes: string): void {
    // data: stays allowed, and the image host is allowed: the widget's own rule is under test.
    imageShop.csp = contentSecurityPolicy.replace(
      /img-src [^;]*/,
      `img-src 'self' data: ${images.url}`,
    );
    // The Markov package shows its most popular products before the first pick.
    const widget = `<pocket-recs model="/models/storefront-markov" catalog="${IMAGE_CATALOG}"
      k="8" ${attributes}></pocket-recs>`;
    imageShop.page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title></head>
<body>${widget}<script type="module" src="/pocketrec-widget.js"></script></body></html>`;
    imageShop.catalog = JSON.stringify(
      products.map((p) => ({ ...p, image: (imageOf.get(p.id) as { url: string }).url })),
    );
    imageShop.images.length = 0;
  }

  /**
   * Opens the shop with `attributes` on the widget, as a signed-in shopper, then picks five
   * recommendations; each list's images are waited for before the next pick, so every list
   * drawn had its chance to make its requests.
   */
  async function visit(attributes: string) {
    setShop(attributes);
    images.requests.length = 0;
    const context = await (browser.browser as NonNullable<ChromiumSession['browser']>).newContext();
    await context.addCookies([{ ...SHOPPER_COOKIE, url: server.url }]);
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    const errors = collectErrors(page);
    const network = recordRequests(context);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // Before any page script: every src given to an <img>, with the settings it went with.
    await page.addInitScript(() => {
      const log: ImageLog = { srcs: [], lists: [], errors: [] };
      (window as unknown as { imageLog: ImageLog }).imageLog = log;
      const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
      Object.defineProperty(HTMLImageElement.prototype, 'src', {
        ...src,
        set(this: HTMLImageElement, value: string) {
          log.srcs.push({
            src: String(value),
            referrerPolicy: this.referrerPolicy,
            crossOrigin: this.crossOrigin,
            loading: this.loading,
          });
          src?.set?.call(this, value);
        },
      });
      document.addEventListener('pocketrec-update', (event) =>
        log.lists.push(
          (event as CustomEvent<{ items: { item: string }[] }>).detail.items.map((i) => i.item),
        ),
      );
      document.addEventListener('pocketrec-error', (event) =>
        log.errors.push((event as CustomEvent<ErrorDetail>).detail),
      );
    });
    await page.goto(server.url + IMAGE_PAGE);
    await page.waitForSelector('pocket-recs[state="ready"]');
    const settled = () =>
      page.waitForFunction(() => {
        const root = document.querySelector('pocket-recs')?.shadowRoot;
        return root && [...root.querySelectorAll('img')].every((img) => img.complete);
      });
    await settled();
    for (let pick = 0; pick < 5; pick++) {
      await oneEvent(page, () => page.locator('pocket-recs .card').nth(pick).click());
      await settled();
    }
    const log = await page.evaluate(() => (window as unknown as { imageLog: ImageLog }).imageLog);
    const cards = await page.locator('pocket-recs .card').evaluateAll((all) =>
      all.map((card) => {
        const img = card.querySelector('img');
        return {
          item: (card as HTMLElement).dataset.item as string,
          img: img ? { src: img.src, width: img.naturalWidth } : null,
          letter: (card.querySelector('.thumb') as HTMLElement).textContent,
        };
      }),
    );
    const history = await historyOf(page);
    await context.close();
    // Which products were shown, by the kind of their image.
    const shown = new Set(log.lists.flat());
    const shownOf = (kind: ImageKind) => [...shown].filter((id) => imageOf.get(id)?.kind === kind);
    return { log, cards, shown, shownOf, history, errors, network, dialogs };
  }

  const pathOf = (url: string) => new URL(url).pathname;

  test('another origin is not asked for anything unless image-origins lists it', async () => {
    const seen = await visit('');
    // Every kind of image was on screen at some point, so every rule was exercised.
    for (const kind of ['other-origin', 'same-origin', 'javascript', 'data'] as const) {
      expect(seen.shownOf(kind).length, kind).toBeGreaterThan(0);
    }
    expect(seen.history.length).toBe(5);
    expect(images.requests).toEqual([]);
    expect(seen.network.offOrigin(server.url)).toEqual([]);
    // Only the page's own images were given to an <img>: those of products shown, no others.
    const sameOrigin = seen.shownOf('same-origin').map((id) => imageOf.get(id)?.url as string);
    expect(new Set(seen.log.srcs.map((s) => s.src))).toEqual(
      new Set(sameOrigin.map((url) => new URL(url, server.url + IMAGE_CATALOG).href)),
    );
    for (const s of seen.log.srcs) {
      expect(s).toMatchObject({
        referrerPolicy: 'no-referrer',
        crossOrigin: 'anonymous',
        loading: 'lazy',
      });
    }
    // Resolved against the catalogue's URL, and fetched: same-origin images need no listing.
    expect(new Set(imageShop.images.map((r) => r.path))).toEqual(
      new Set(seen.shownOf('same-origin').map((id) => `${IMAGE_DIR}/catalog/thumbs/${id}.svg`)),
    );
    expect(imageShop.images.filter((r) => r.referer !== null)).toEqual([]);
    // The others show the drawn thumbnail (the name's first letter).
    for (const card of seen.cards) {
      const { kind } = imageOf.get(card.item) as { kind: ImageKind };
      expect(card.img === null, `${card.item} (${kind})`).toBe(kind !== 'same-origin');
      if (card.img === null) expect(card.letter).toMatch(/^\S$/);
    }
    // Told once per refused origin or scheme, without stopping the list.
    expect(seen.log.errors.map((e) => e.code)).toEqual([
      'image-refused',
      'image-refused',
      'image-refused',
    ]);
    const told = seen.log.errors.map((e) => e.message).join('\n');
    for (const what of [images.url, 'javascript:', 'data:']) expect(told).toContain(what);
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors.lines()).toEqual([]);
  });

  test('a listed origin gets the images shown, with no referrer, cookie or query', async () => {
    const seen = await visit(`image-origins="${images.url}"`);
    for (const kind of ['other-origin', 'javascript', 'data'] as const) {
      expect(seen.shownOf(kind).length, kind).toBeGreaterThan(0);
    }
    // What the image host learnt: exactly which of its images were on screen, nothing else.
    expect(new Set(images.requests.map((r) => r.path))).toEqual(
      new Set(seen.shownOf('other-origin').map((id) => `/img/${id}.svg`)),
    );
    for (const request of images.requests) {
      expect(request).toEqual<ReceivedRequest>({
        method: 'GET',
        path: request.path,
        query: '',
        referer: null,
        // Neither the shopper's cookie for 127.0.0.1 nor the host's own tracker.
        cookie: null,
        // A CORS request names the shop's origin (never its path): the host knows whose
        // images it serves anyway.
        origin: server.url,
      });
    }
    // The history's items are in no request, except as a product that was also shown.
    for (const { item } of seen.history) {
      if (seen.shown.has(item)) continue;
      expect(images.requests.filter((r) => r.path.includes(item))).toEqual([]);
    }
    // Never a javascript: or data: URL in an <img>, and every image with the same settings.
    for (const s of seen.log.srcs) {
      expect(s.src).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      expect(s).toMatchObject({
        referrerPolicy: 'no-referrer',
        crossOrigin: 'anonymous',
        loading: 'lazy',
      });
    }
    // The listed host's images are drawn (its CORS answer was enough); the rest are not.
    for (const card of seen.cards) {
      const { kind, url } = imageOf.get(card.item) as { url: string; kind: ImageKind };
      if (kind === 'other-origin') expect(card.img).toEqual({ src: url, width: 4 });
      if (kind === 'javascript' || kind === 'data') expect(card.img).toBeNull();
    }
    expect(seen.log.errors.map((e) => e.code)).toEqual(['image-refused', 'image-refused']);
    expect(
      seen.network
        .offOrigin(server.url)
        .map((r) => pathOf(r.url))
        .sort(),
    ).toEqual(images.requests.map((r) => r.path).sort());
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors.lines()).toEqual([]);
  });
});
