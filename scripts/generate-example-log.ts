/**
 * Writes the example shop log of docs/own-data.md: `examples/shop-log.csv` (user_id,
 * item_id, timestamp, event) and the catalogue the widget shows with it,
 * `examples/shop-catalogue.json`. Generated, not a real data set: the shoppers and products
 * of a small seeded storefront (src/data/storefront.ts), the products renamed to SKUs, each
 * step of a history a view, some followed by a cart and a purchase, at made-up times from
 * September 2024 on. Seeded, so the same bytes every run (test/unit/data/event-log.test.ts
 * checks the committed files against it).
 *
 *   npx tsx scripts/generate-example-log.ts [out-dir]      (default: examples)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateStorefront, type StorefrontOptions } from '../src/data/storefront.ts';
import { seededRandom } from '../src/random.ts';

/** 24 categories of 10 products, 400 shoppers: a few hundred KB of CSV. */
export const EXAMPLE_STOREFRONT: StorefrontOptions = {
  seed: 2024,
  productsPerCategory: 10,
  shoppers: 400,
  meanVisits: 3,
};

/** The shape of the made-up times and events. */
const EXAMPLE_LOG = {
  seed: 11,
  /** Shoppers start within the first 60 days from here. */
  start: Date.UTC(2024, 8, 1, 8, 0, 0),
  firstVisitDays: 60,
  /** Chance that the next step of a history is on a later visit, 1 to 14 days on. */
  newVisit: 0.25,
  /** Chance that a viewed item goes in the cart, and that a carted one is bought. */
  cart: 0.35,
  purchase: 0.6,
} as const;

const DAY = 86_400_000;

export const skuOf = (product: number): string => `sku-${String(product).padStart(5, '0')}`;

interface Row {
  user: string;
  item: string;
  time: number;
  event: 'view' | 'cart' | 'purchase';
}

/** The log's CSV text and the catalogue's JSON text. */
export function exampleShop(): { log: string; catalogue: string } {
  const { products, shoppers } = generateStorefront(EXAMPLE_STOREFRONT);
  const random = seededRandom(EXAMPLE_LOG.seed);
  const rows: Row[] = [];
  shoppers.forEach((history, s) => {
    const user = `cust-${String(s + 1).padStart(4, '0')}`;
    let time = EXAMPLE_LOG.start + Math.floor(random() * EXAMPLE_LOG.firstVisitDays * DAY);
    for (const product of history) {
      time +=
        random() < EXAMPLE_LOG.newVisit
          ? DAY + Math.floor(random() * 13 * DAY)
          : 20_000 + Math.floor(random() * 220_000);
      const item = skuOf(product);
      rows.push({ user, item, time, event: 'view' });
      if (random() >= EXAMPLE_LOG.cart) continue;
      time += 10_000 + Math.floor(random() * 60_000);
      rows.push({ user, item, time, event: 'cart' });
      if (random() >= EXAMPLE_LOG.purchase) continue;
      time += 30_000 + Math.floor(random() * 120_000);
      rows.push({ user, item, time, event: 'purchase' });
    }
  });
  // A shop's export is in time order, its shoppers interleaved (stable: ties keep their order).
  rows.sort((a, b) => a.time - b.time);
  const lines = rows.map(
    (r) => `${r.user},${r.item},${new Date(r.time).toISOString().slice(0, 19)}Z,${r.event}`,
  );
  const log = `user_id,item_id,timestamp,event\n${lines.join('\n')}\n`;
  const entries = products.map((p, i) => ({
    id: skuOf(i + 1),
    name: p.name,
    category: p.category,
    price: p.price,
    hue: p.hue,
  }));
  // Indented as the repository's formatter (biome) leaves JSON, so that checks pass on it.
  return { log, catalogue: `${JSON.stringify(entries, null, 2)}\n` };
}

export function writeExampleShop(dir: string): { log: string; catalogue: string } {
  const { log, catalogue } = exampleShop();
  mkdirSync(dir, { recursive: true });
  const files = { log: join(dir, 'shop-log.csv'), catalogue: join(dir, 'shop-catalogue.json') };
  writeFileSync(files.log, log);
  writeFileSync(files.catalogue, catalogue);
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = writeExampleShop(process.argv[2] ?? 'examples');
  console.log(`wrote ${files.log} and ${files.catalogue}`);
}
