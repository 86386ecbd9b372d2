// No empty first visit, in real Chromium on the dev server (`npm start`): the example shop on
// a fresh profile (empty IndexedDB, no history) shows k items in its widget at once, the
// shipped models/storefront-compact's most popular products marked 'popular'; picking an aisle
// shows that aisle's most popular; the first click turns the list into the model's answer.
// A package without a prior still shows "browse a few products". The client API underneath:
// info().model.prior, recommend's reason, candidates narrowing the popular list. The expected lists are
// worked out in Node from the package's prior and the catalogue, ties to the lower row.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Product } from '../../src/data/storefront-catalog.ts';
import { PRIOR_MAX_COUNT, PRIOR_TENSOR, popularityPriorOf } from '../../src/model/popularity.ts';
import { directorySource, writePackageDirectory } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';
import { repackageSpec } from '../../src/package/repackage.ts';
import { buildModelPackage } from '../../src/package/writer.ts';
import type { UpdateDetail } from '../../src/widget/index.ts';
import { contentSecurityPolicy } from '../../vite.config.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  makeTempDir,
  projectRoot,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';

const K = 6;
const MODEL_DIR = join(projectRoot, 'models/storefront-compact');
/** The same model without its prior, served by a route under this path. */
const NO_PRIOR = '/__popular-test/no-prior';
const HOST_PAGE = '/__popular-test/host.html';

let server: TestServer;
let session: ChromiumSession;
let catalog: Product[];
/** Catalogue ids in the prior's order (most popular first, ties to the lower row). */
let popular: string[];
let noPriorDir: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  catalog = JSON.parse(await readFile(join(projectRoot, 'public/storefront/catalog.json'), 'utf8'));
  const pkg = await readModelPackage(directorySource(MODEL_DIR));
  const prior = popularityPriorOf(pkg);
  if (!prior || !pkg.itemIds)
    throw new Error('models/storefront-compact carries no prior or no ids');
  const { scores } = prior;
  const ids = pkg.itemIds;
  const known = new Set(catalog.map((p) => p.id));
  popular = Array.from({ length: ids.length }, (_, i) => i + 1)
    .filter((row) => Number.isFinite(scores[row]))
    .sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b)
    .map((row) => ids[row - 1] as string)
    .filter((id) => known.has(id));

  // The shipped model as it was before it carried a prior.
  const spec = repackageSpec(pkg, { name: 'no-prior', notes: undefined, metrics: {} });
  const { [PRIOR_MAX_COUNT]: _dropped, ...architecture } = spec.architecture;
  const bare = await buildModelPackage({
    ...spec,
    architecture,
    tensors: spec.tensors.filter((t) => t.name !== PRIOR_TENSOR),
  });
  noPriorDir = await makeTempDir('pocketrec-no-prior-');
  await writePackageDirectory(noPriorDir, bare.files);

  server = await startServer();
  session = await launchChromium();
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  await session?.close();
  await server?.close();
  if (noPriorDir) await removeDir(noPriorDir);
});

/**
 * A fresh context (its own empty IndexedDB) whose pages record every pocketrec-update
 * detail from the start, before the widget draws anything.
 */
async function freshPage(): Promise<Page> {
  const context = await (session.browser as NonNullable<ChromiumSession['browser']>).newContext();
  contexts.push(context);
  await context.addInitScript(() => {
    const w = window as unknown as { updates: UpdateDetail[] };
    w.updates = [];
    document.addEventListener('pocketrec-update', (event) =>
      w.updates.push((event as CustomEvent<UpdateDetail>).detail),
    );
  });
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  return page;
}

/** Answers for the package without a prior, from the temporary directory it was written to. */
async function serveNoPrior(route: Route): Promise<void> {
  const name = new URL(route.request().url()).pathname.slice(NO_PRIOR.length + 1);
  await route.fulfill({ status: 200, body: await readFile(join(noPriorDir, name)) });
}

const updates = (page: Page) =>
  page.evaluate(() => (window as unknown as { updates: UpdateDetail[] }).updates);

/** The update drawn after `action`: one more than there were before it. */
async function nextUpdate(page: Page, action: () => Promise<unknown>): Promise<UpdateDetail> {
  const before = (await updates(page)).length;
  await action();
  await page.waitForFunction(
    (n) => (window as unknown as { updates: unknown[] }).updates.length > n,
    before,
  );
  return (await updates(page))[before] as UpdateDetail;
}

const cards = (page: Page) =>
  page
    .locator('pocket-recs .card')
    .evaluateAll((all) =>
      all.map((c) => [(c as HTMLElement).dataset.item, (c as HTMLElement).dataset.reason]),
    );

describe('the storefront on a first visit', () => {
  test(`shows the ${K} most popular products at once, then an aisle's, then the model's`, async () => {
    const page = await freshPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/storefront.html`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector('pocket-recs[state="ready"]');
    await page.waitForFunction(
      () => (window as unknown as { updates: unknown[] }).updates.length > 0,
    );
    expect(
      await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).sort()),
    ).toEqual(['pocketrec-history', 'pocketrec-models']);

    // The first list drawn is already the k most popular: no "browse a few products" first.
    const [first] = await updates(page);
    expect(first?.items.map((i) => i.item)).toEqual(popular.slice(0, K));
    expect(first?.items.every((i) => i.reason === 'popular')).toBe(true);
    expect(await cards(page)).toEqual(popular.slice(0, K).map((id) => [id, 'popular']));
    expect(await page.locator('pocket-recs .message').count()).toBe(0);
    const history = await page.evaluate(() =>
      (window as unknown as { pocketrec: { history(): Promise<unknown[]> } }).pocketrec.history(),
    );
    expect(history).toEqual([]);

    // An aisle: its own most popular, still with no history.
    const chip = page.locator('#categories .chip').nth(3);
    const aisle = (await chip.textContent()) as string;
    const inAisle = new Set(catalog.filter((p) => p.category === aisle).map((p) => p.id));
    const aisleList = await nextUpdate(page, () => chip.click());
    expect(aisleList.items.map((i) => i.item)).toEqual(
      popular.filter((id) => inAisle.has(id)).slice(0, K),
    );
    expect(aisleList.items.every((i) => i.reason === 'popular')).toBe(true);

    // The first click: the model's answer to a history of one.
    const product = page.locator('#products .product').first();
    const afterClick = await nextUpdate(page, () => product.click());
    expect(afterClick.items).toHaveLength(K);
    expect(afterClick.items.every((i) => i.reason === 'model')).toBe(true);
    expect(errors.lines()).toEqual([]);
  });

  test('the client API: info says so, recommend marks popular items, candidates narrow them', async () => {
    const page = await freshPage();
    const context = page.context();
    await context.route(`${server.url}${NO_PRIOR}/**`, serveNoPrior);
    await page.goto(`${server.url}/test/browser/pages/runtime.html`);
    await page.waitForSelector('body[data-ready="true"]');
    const category = popular.slice(10, 30).reverse();
    const seen = await page.evaluate(
      async ({ models, candidates }) => {
        const { createRecommender } = window.pocketrec;
        const rec = await createRecommender({ model: models[0] as string, backend: 'wasm' });
        const bare = await createRecommender({
          model: models[1] as string,
          backend: 'wasm',
          databases: { history: 'no-prior-history' },
        });
        const empty = await rec.recommend({ k: 6 });
        const within = await rec.recommend({ k: 3, candidates });
        const none = await bare.recommend({ k: 6 });
        await rec.track({ item: empty[0]?.item as string });
        const after = await rec.recommend({ k: 6 });
        const priors = [rec.info().model.prior, bare.info().model.prior];
        rec.dispose();
        bare.dispose();
        return { empty, within, none, after, priors };
      },
      { models: ['/models/storefront-compact', NO_PRIOR], candidates: category },
    );
    expect(seen.priors).toEqual([true, false]);
    expect(seen.empty.map((r) => [r.item, r.reason])).toEqual(
      popular.slice(0, K).map((id) => [id, 'popular']),
    );
    expect(seen.within.map((r) => r.item)).toEqual(popular.slice(10, 13));
    expect(seen.none).toEqual([]);
    expect(seen.after).toHaveLength(K);
    expect(seen.after.every((r) => r.reason === 'model')).toBe(true);
  });

  test('a package without a prior still asks the shopper to browse first', async () => {
    const page = await freshPage();
    const context = page.context();
    await context.route(`${server.url}${NO_PRIOR}/**`, serveNoPrior);
    await context.route(server.url + HOST_PAGE, (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html',
        headers: { 'Content-Security-Policy': contentSecurityPolicy },
        body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title></head><body>
<pocket-recs model="${NO_PRIOR}" catalog="/storefront/catalog.json" k="${K}"></pocket-recs>
<script type="module" src="/pocketrec-widget.js"></script></body></html>`,
      }),
    );
    const errors = collectErrors(page);
    await page.goto(server.url + HOST_PAGE);
    await page.waitForSelector('pocket-recs[state="ready"]');
    await page.waitForFunction(
      () => (window as unknown as { updates: unknown[] }).updates.length > 0,
    );
    const [first] = await updates(page);
    expect(first?.items).toEqual([]);
    expect(await page.locator('pocket-recs .message').textContent()).toMatch(
      /^Browse a few products/,
    );
    expect(errors.lines()).toEqual([]);
  });
});
