import { describe, expect, it } from 'vitest';
import { trainingData } from '../../../src/cli/training-data.ts';
import { getDataset, loadUserSequences } from '../../../src/data/datasets.ts';
import {
  DEFAULT_STOREFRONT,
  generateStorefront,
  type StorefrontOptions,
} from '../../../src/data/storefront.ts';
import { runCli } from '../cli/helpers.ts';
import { useTempDir } from './helpers.ts';

const temp = useTempDir();
const SMALL: StorefrontOptions = { seed: 3, productsPerCategory: 20, shoppers: 300, meanVisits: 3 };
const storefront = generateStorefront(DEFAULT_STOREFRONT);
const { products, shoppers, kits, refills } = storefront;

describe('generated storefront', () => {
  it('is the same for the same options, and another for another seed', () => {
    const a = generateStorefront(SMALL);
    expect(generateStorefront(SMALL)).toEqual(a);
    const b = generateStorefront({ ...SMALL, seed: 4 });
    expect(b.shoppers).not.toEqual(a.shoppers);
    expect(b.products.map((p) => p.name)).not.toEqual(a.products.map((p) => p.name));
    expect(a.products).toHaveLength(24 * SMALL.productsPerCategory);
    expect(a.shoppers).toHaveLength(SMALL.shoppers);
  });

  it('has a few thousand products in categories, with unique ids and names', () => {
    expect(products).toHaveLength(3000);
    expect(products.map((p) => p.id).slice(0, 2)).toEqual(['p0001', 'p0002']);
    expect(products[2999]?.id).toBe('p3000');
    expect(new Set(products.map((p) => p.id)).size).toBe(products.length);
    expect(new Set(products.map((p) => p.name)).size).toBe(products.length);
    expect(new Set(products.map((p) => p.category)).size).toBe(24);
    // One expect over the odd ones out: 3,000 expects each would make this test slow.
    const odd = products.filter(
      (p) =>
        !p.name.startsWith(`${p.brand} `) ||
        !new RegExp(`^(Budget|Mid-range|Premium) .+ by ${p.brand}$`).test(p.description) ||
        !(p.price > 0 && Math.round(p.price * 100) % 100 === 99) ||
        !(Number.isInteger(p.hue) && p.hue >= 0 && p.hue < 360),
    );
    expect(odd).toEqual([]);
  });

  it("keeps each shopper's history to catalogue items, none twice", () => {
    expect(shoppers).toHaveLength(DEFAULT_STOREFRONT.shoppers);
    let events = 0;
    const odd = shoppers.filter(
      (history) =>
        new Set(history).size !== history.length ||
        history.some((item) => item < 1 || item > products.length),
    );
    for (const history of shoppers) events += history.length;
    expect(odd).toEqual([]);
    expect(events).toBeGreaterThan(100_000);
  });

  it('browses within a category, with a popularity skew', () => {
    let same = 0;
    let pairs = 0;
    const counts = new Map<number, number>();
    for (const history of shoppers) {
      for (let i = 0; i < history.length; i++) {
        const item = history[i] as number;
        counts.set(item, (counts.get(item) ?? 0) + 1);
        if (i === 0) continue;
        pairs++;
        if (products[item - 1]?.category === products[(history[i - 1] as number) - 1]?.category)
          same++;
      }
    }
    // 24 categories: 1/24 of the pairs would share one by chance.
    expect(same / pairs).toBeGreaterThan(0.6);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const total = sorted.reduce((a, b) => a + b, 0);
    const top10pc = sorted.slice(0, products.length / 10).reduce((a, b) => a + b, 0);
    expect(top10pc / total).toBeGreaterThan(0.2);
  });

  it("adds a main's first kit accessory right after it or one item later, far above chance", () => {
    let bought = 0;
    let followed = 0;
    for (const history of shoppers) {
      for (let i = 0; i < history.length - 2; i++) {
        const kit = kits.get(history[i] as number);
        if (!kit) continue;
        bought++;
        if (history[i + 1] === kit[0] || history[i + 2] === kit[0]) followed++;
      }
    }
    // By chance: about 2 in 3,000. Mains that were only browsed are not followed by a kit.
    expect(followed / bought).toBeGreaterThan(0.3);
  });

  it('after an accessory looked at aside, the main before it says what comes next', () => {
    // Every (main, aside, next) triple: how often "next is the main's first kit item" is
    // right, against the best any rule looking only at the aside could do on the same
    // triples (its most frequent successor, counted in-sample, which flatters it).
    let triples = 0;
    let secondOrder = 0;
    const successors = new Map<number, Map<number, number>>();
    for (const history of shoppers) {
      for (let i = 0; i + 2 < history.length; i++) {
        const main = history[i] as number;
        const aside = history[i + 1] as number;
        const kit = kits.get(main);
        if (!kit || kits.has(aside) || kit.includes(aside) || refills.get(main)?.includes(aside))
          continue;
        const next = history[i + 2] as number;
        triples++;
        if (next === kit[0]) secondOrder++;
        const counts = successors.get(aside) ?? new Map<number, number>();
        counts.set(next, (counts.get(next) ?? 0) + 1);
        successors.set(aside, counts);
      }
    }
    let firstOrder = 0;
    for (const counts of successors.values()) firstOrder += Math.max(...counts.values());
    expect(triples).toBeGreaterThan(5000);
    expect(secondOrder / triples).toBeGreaterThan(0.6);
    expect(secondOrder / triples).toBeGreaterThan(2 * (firstOrder / triples));
  });

  it('buys consumables as refills of a main bought several items before', () => {
    const refilledBy = new Map<number, number[]>();
    for (const [main, items] of refills) {
      for (const item of items) refilledBy.set(item, [...(refilledBy.get(item) ?? []), main]);
    }
    const gaps: number[] = [];
    let consumables = 0;
    for (const history of shoppers) {
      const at = new Map<number, number>();
      history.forEach((item, i) => {
        at.set(item, i);
        const mains = refilledBy.get(item);
        if (!mains) return;
        consumables++;
        const earlier = mains.map((m) => at.get(m)).filter((j) => j !== undefined);
        if (earlier.length > 0) gaps.push(i - Math.max(...earlier));
      });
    }
    expect(consumables).toBeGreaterThan(5000);
    expect(gaps.length / consumables).toBeGreaterThan(0.95);
    gaps.sort((a, b) => a - b);
    // Refills come on a later visit, past the main's kit: a first-order chain cannot see them.
    expect(gaps[gaps.length >> 1]).toBeGreaterThanOrEqual(3);
  });
});

describe('the storefront data set', () => {
  it('loads with no data directory, items named by product id', async () => {
    const spec = getDataset('storefront');
    expect(spec).toMatchObject({ kind: 'sequential', format: 'generated-storefront' });
    expect(spec.description).toContain('3,000 products');
    expect(spec.description).toContain('10,000 shoppers');
    // An empty directory: nothing is read from it.
    const data = await loadUserSequences('storefront', { dataDir: temp.dir });
    expect(data.numItems).toBe(products.length);
    expect(data.sequences).toEqual(shoppers);
    expect(data.numInteractions).toBe(shoppers.reduce((n, s) => n + s.length, 0));
    expect(data.itemIds).toEqual(products.map((p) => p.id));
  });

  it('gives train and distill product ids for the package', async () => {
    const data = await trainingData('storefront', { dataDir: temp.dir });
    expect(data.numItems).toBe(3000);
    expect(data.itemIds?.slice(0, 2)).toEqual(['p0001', 'p0002']);
    expect(data.train).toHaveLength(shoppers.length);
    expect(data.validation.inputs.length).toBe(shoppers.filter((s) => s.length >= 3).length);
  });

  it('runs through `pocketrec data stats` and `pocketrec eval`', async () => {
    const stats = await runCli('data', 'stats', 'storefront', '--json');
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out)).toMatchObject({
      dataDir: 'none (made in memory)',
      users: 10_000,
      items: 3000,
    });
    const evalOf = async (model: string) => {
      const result = await runCli('eval', model, '--dataset', 'storefront', '--json');
      expect(result.code).toBe(0);
      return JSON.parse(result.out) as { cases: number; metrics: Record<string, number> };
    };
    const mostPop = await evalOf('mostpop');
    const markov = await evalOf('markov');
    expect(markov.cases).toBe(shoppers.filter((s) => s.length >= 3).length);
    // Sequential structure: the last item predicts the next far better than popularity.
    expect(markov.metrics['NDCG@10']).toBeGreaterThan(10 * (mostPop.metrics['NDCG@10'] as number));
  }, 60_000);
});
