import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeTable, loadCtrFields, storefrontClicksTable } from '../../../src/data/ctr/index.ts';
import {
  getDataset,
  isGenerated,
  loadUserSequences,
  needsDataDir,
} from '../../../src/data/datasets.ts';
import { DEFAULT_STOREFRONT, generateStorefront } from '../../../src/data/storefront.ts';
import {
  CONTEXT_FIELDS,
  type ContextStorefront,
  type ContextStorefrontOptions,
  contextFieldValues,
  DEFAULT_CONTEXT_STOREFRONT,
  DEVICES,
  generateContextStorefront,
  ITEM_FIELDS,
  isMorning,
  isWeekend,
  itemFieldValues,
  LOCALE_CATEGORIES,
  LOCALES,
  type ShopperContext,
  WEEKDAYS,
} from '../../../src/data/storefront-context.ts';
import { runCli } from '../cli/helpers.ts';

const SMALL: ContextStorefrontOptions = {
  ...DEFAULT_CONTEXT_STOREFRONT,
  seed: 11,
  productsPerCategory: 40,
  shoppers: 1000,
};
/** Enough shoppers for the effects to stand well clear of the noise. */
const EFFECTS: ContextStorefrontOptions = { ...DEFAULT_CONTEXT_STOREFRONT, shoppers: 2000 };

const small = generateContextStorefront(SMALL);
const strong = generateContextStorefront(EFFECTS);
const flat = generateContextStorefront({ ...EFFECTS, contextEffect: 0 });

const events = (sf: Pick<ContextStorefront, 'shoppers'>) =>
  sf.shoppers.reduce((n, history) => n + history.length, 0);

describe('the storefront regression pin', () => {
  it('keeps generateStorefront(DEFAULT_STOREFRONT) bit for bit (the shipped models were trained on it)', () => {
    const { shoppers, products } = generateStorefront(DEFAULT_STOREFRONT);
    const hash = createHash('sha256');
    for (const history of shoppers) {
      hash.update(new Uint8Array(history.buffer, history.byteOffset, history.byteLength));
    }
    expect(hash.digest('hex')).toBe(
      '315e5691d6eedf27952a343e9f596b1f1a87aaf635377dce800250b66754f672',
    );
    expect(createHash('sha256').update(JSON.stringify(products)).digest('hex')).toBe(
      '8a18f555be95cba5e08d2b1d9813e18f62304541869021ab8959170f3c0c2f4b',
    );
  });
});

describe('generated context storefront', () => {
  it('is the same for the same options, and another for another seed', () => {
    expect(generateContextStorefront(SMALL)).toEqual(small);
    const other = generateContextStorefront({ ...SMALL, seed: 12 });
    expect(other.shoppers).not.toEqual(small.shoppers);
    expect(small.shoppers).toHaveLength(SMALL.shoppers);
  });

  it("has the storefront's catalogue, with each product's role, tier and brand", () => {
    const storefront = generateStorefront(SMALL);
    expect(small.products).toEqual(storefront.products);
    expect(small.products).toHaveLength(24 * SMALL.productsPerCategory);
    const odd = small.products.filter((product, i) => {
      const values = itemFieldValues(small, i + 1);
      return (
        values.item !== product.id ||
        values.brand !== product.brand ||
        values.category !== product.category ||
        !product.description.startsWith(`${values.price_tier} `) ||
        !['main', 'accessory', 'consumable'].includes(values.role)
      );
    });
    expect(odd).toEqual([]);
    const roles = new Set(small.roleOf.slice(1));
    expect([...roles].sort()).toEqual(['accessory', 'consumable', 'main']);
    // Kits are accessories, refills consumables, both keys are mains.
    for (const [main, kit] of storefront.kits) {
      expect(small.roleOf[main]).toBe('main');
      expect(kit.map((item) => small.roleOf[item])).toEqual(kit.map(() => 'accessory'));
    }
    for (const refills of storefront.refills.values()) {
      expect(refills.map((item) => small.roleOf[item])).toEqual(refills.map(() => 'consumable'));
    }
  });

  it("with the context's effect off, the histories are the storefront's own", () => {
    expect(generateContextStorefront({ ...SMALL, contextEffect: 0 }).shoppers).toEqual(
      generateStorefront(SMALL).shoppers,
    );
    // With it on, they are not (but keep the storefront's rules: no repeats, catalogue ids).
    expect(small.shoppers).not.toEqual(generateStorefront(SMALL).shoppers);
    const odd = small.shoppers.filter(
      (history) =>
        new Set(history).size !== history.length ||
        history.some((item) => item < 1 || item > small.products.length),
    );
    expect(odd).toEqual([]);
  });

  it('gives every event the context of its visit', () => {
    let visits = 0;
    for (const [s, history] of small.shoppers.entries()) {
      const contexts = small.contexts[s] ?? [];
      expect(contexts).toHaveLength(history.length);
      const distinct = new Set(contexts);
      visits += distinct.size;
      // A shopper's locale is fixed; a visit's events are consecutive.
      expect(new Set(contexts.map((c) => c.locale)).size).toBe(1);
      let changes = 1;
      for (let e = 1; e < contexts.length; e++) if (contexts[e] !== contexts[e - 1]) changes++;
      expect(changes).toBe(distinct.size);
    }
    const all = small.contexts.flat();
    const odd = all.filter(
      (c) =>
        !(Number.isInteger(c.hour) && c.hour >= 0 && c.hour < 24) ||
        !(Number.isInteger(c.weekday) && c.weekday >= 0 && c.weekday < 7) ||
        !DEVICES.includes(c.device) ||
        !(LOCALES as readonly string[]).includes(c.locale),
    );
    expect(odd).toEqual([]);
    // Several events per visit, several visits per shopper.
    expect(events(small) / visits).toBeGreaterThan(2);
    expect(visits / small.shoppers.length).toBeGreaterThan(2);
    const share = (test: (hour: number) => boolean) =>
      all.filter((c) => test(c.hour)).length / all.length;
    expect(share((h) => h >= 18)).toBeGreaterThan(0.3);
    expect(share((h) => h < 6)).toBeLessThan(0.1);
    expect(all.filter((c) => c.device === 'mobile').length / all.length).toBeGreaterThan(0.4);
  });

  it('shows each event as a slate of distinct items holding the clicked one once', () => {
    const size = SMALL.slateSize;
    const slots = new Array<number>(size).fill(0);
    let odd = 0;
    for (const [s, history] of small.shoppers.entries()) {
      const slates = small.slates[s] as Int32Array;
      expect(slates).toHaveLength(history.length * size);
      for (let e = 0; e < history.length; e++) {
        const slate = [...slates.subarray(e * size, (e + 1) * size)];
        const at = slate.indexOf(history[e] as number);
        if (
          new Set(slate).size !== size ||
          at < 0 ||
          slate.some((item) => item < 1 || item > small.products.length)
        )
          odd++;
        slots[at] = (slots[at] ?? 0) + 1;
      }
    }
    expect(odd).toBe(0);
    // The clicked item's slot is random.
    for (const count of slots) expect(count / events(small)).toBeCloseTo(1 / size, 1);
  });

  it('splits the shoppers 8:1:1', () => {
    const counts = [0, 0, 0];
    for (const part of small.split) counts[part] = (counts[part] ?? 0) + 1;
    expect(counts).toEqual([800, 100, 100]);
    // Not in blocks: the held-out shoppers are spread over the whole population.
    expect([...small.split.subarray(0, 200)].some((part) => part !== 0)).toBe(true);
  });

  it('refuses a slate larger than the catalogue, or an effect outside 0..1', () => {
    expect(() => generateContextStorefront({ ...SMALL, shoppers: 1, slateSize: 0 })).toThrow(
      /slateSize/,
    );
    expect(() => generateContextStorefront({ ...SMALL, shoppers: 1, contextEffect: 2 })).toThrow(
      /contextEffect/,
    );
  });
});

/** The measures of each effect: what a ranker reading the context can use. */
const OUTDOORS = ['Camping', 'Cycling', 'Garden', 'Running', 'Swimming', 'Photography'];
const INDOORS = ['Books', 'Gaming', 'Music', 'Wine', 'Audio', 'Art'];

/** The catalogue's kits: the same seed's storefront has the same catalogue. */
const KITS = generateStorefront({ ...DEFAULT_STOREFRONT, seed: EFFECTS.seed, shoppers: 1 }).kits;

function effects(sf: ContextStorefront) {
  const count = () => ({ hit: 0, all: 0 });
  const morning = count();
  const evening = count();
  const budget = { mobile: count(), desktop: count() };
  const premium = { weekend: count(), weekday: count() };
  const mains = { weekend: count(), weekday: count() };
  const locale = { own: count(), other: count() };
  const outdoors = { weekend: count(), weekday: count() };
  const indoors = { evening: count(), day: count() };
  // After a main, in the same visit: its consumable next (morning or not), its kit's first
  // accessory next (mobile or not).
  const consumableNext = { morning: count(), other: count() };
  const kitNext = { mobile: count(), other: count() };
  for (const [s, history] of sf.shoppers.entries()) {
    const contexts = sf.contexts[s] ?? [];
    let previous: unknown;
    for (const [e, item] of history.entries()) {
      const context = contexts[e] as ShopperContext;
      const role = sf.roleOf[item];
      const next = history[e + 1];
      if (role === 'main' && next !== undefined && contexts[e + 1] === context) {
        const c = isMorning(context) ? consumableNext.morning : consumableNext.other;
        c.all++;
        if (sf.roleOf[next] === 'consumable') c.hit++;
        const k = context.device === 'mobile' ? kitNext.mobile : kitNext.other;
        k.all++;
        if (KITS.get(item)?.[0] === next) k.hit++;
      }
      const day = isWeekend(context) ? 'weekend' : 'weekday';
      if (context !== previous) mains[day].all++;
      previous = context;
      const time = isMorning(context) ? morning : context.hour >= 18 ? evening : undefined;
      if (time) {
        time.all++;
        if (role === 'consumable') time.hit++;
      }
      if (role !== 'main') continue;
      mains[day].hit++;
      const tier = sf.tierOf[item];
      if (context.device !== 'tablet') {
        budget[context.device].all++;
        if (tier === 0) budget[context.device].hit++;
      }
      premium[day].all++;
      if (tier === 2) premium[day].hit++;
      const category = sf.products[item - 1]?.category ?? '';
      outdoors[day].all++;
      if (OUTDOORS.includes(category)) outdoors[day].hit++;
      if (day === 'weekday') {
        const side = context.hour >= 18 ? indoors.evening : indoors.day;
        side.all++;
        if (INDOORS.includes(category)) side.hit++;
      }
      for (const [name, preferred] of Object.entries(LOCALE_CATEGORIES)) {
        const side = name === context.locale ? locale.own : locale.other;
        side.all++;
        if (preferred.includes(category)) side.hit++;
      }
    }
  }
  const rate = (c: { hit: number; all: number }) => c.hit / c.all;
  return {
    consumableMorning: rate(morning),
    consumableEvening: rate(evening),
    budgetMobile: rate(budget.mobile),
    budgetDesktop: rate(budget.desktop),
    premiumWeekend: rate(premium.weekend),
    premiumWeekday: rate(premium.weekday),
    mainsPerVisitWeekend: rate(mains.weekend),
    mainsPerVisitWeekday: rate(mains.weekday),
    ownLocaleCategories: rate(locale.own),
    otherLocaleCategories: rate(locale.other),
    outdoorsWeekend: rate(outdoors.weekend),
    outdoorsWeekday: rate(outdoors.weekday),
    indoorsEvening: rate(indoors.evening),
    indoorsDay: rate(indoors.day),
    consumableAfterMainMorning: rate(consumableNext.morning),
    consumableAfterMainOther: rate(consumableNext.other),
    kitAfterMainMobile: rate(kitNext.mobile),
    kitAfterMainOther: rate(kitNext.other),
  };
}

describe('behaviour that depends on the context', () => {
  it('is strong with the effect on', () => {
    const m = effects(strong);
    expect(m.consumableMorning).toBeGreaterThan(4 * m.consumableEvening);
    expect(m.budgetMobile).toBeGreaterThan(m.budgetDesktop + 0.15);
    expect(m.premiumWeekend).toBeGreaterThan(1.3 * m.premiumWeekday);
    expect(m.mainsPerVisitWeekend).toBeGreaterThan(1.6 * m.mainsPerVisitWeekday);
    expect(m.ownLocaleCategories).toBeGreaterThan(1.5 * m.otherLocaleCategories);
    expect(m.outdoorsWeekend).toBeGreaterThan(1.5 * m.outdoorsWeekday);
    expect(m.indoorsEvening).toBeGreaterThan(1.5 * m.indoorsDay);
    expect(m.consumableAfterMainMorning).toBeGreaterThan(m.consumableAfterMainOther + 0.4);
    expect(m.kitAfterMainMobile).toBeGreaterThan(m.kitAfterMainOther + 0.2);
  });

  it('is absent, within noise, with the effect off', () => {
    const m = effects(flat);
    expect(Math.abs(m.consumableMorning - m.consumableEvening)).toBeLessThan(0.02);
    expect(Math.abs(m.budgetMobile - m.budgetDesktop)).toBeLessThan(0.04);
    expect(Math.abs(m.premiumWeekend - m.premiumWeekday)).toBeLessThan(0.04);
    expect(Math.abs(m.mainsPerVisitWeekend - m.mainsPerVisitWeekday)).toBeLessThan(0.15);
    expect(Math.abs(m.ownLocaleCategories - m.otherLocaleCategories)).toBeLessThan(0.03);
    expect(Math.abs(m.outdoorsWeekend - m.outdoorsWeekday)).toBeLessThan(0.04);
    expect(Math.abs(m.indoorsEvening - m.indoorsDay)).toBeLessThan(0.04);
    expect(Math.abs(m.consumableAfterMainMorning - m.consumableAfterMainOther)).toBeLessThan(0.03);
    expect(Math.abs(m.kitAfterMainMobile - m.kitAfterMainOther)).toBeLessThan(0.05);
  });

  it('scales with the effect in between', () => {
    const half = effects(generateContextStorefront({ ...EFFECTS, contextEffect: 0.5 }));
    const on = effects(strong);
    const off = effects(flat);
    const ratio = (m: typeof on) => m.consumableMorning / m.consumableEvening;
    expect(ratio(half)).toBeGreaterThan(ratio(off) + 0.5);
    expect(ratio(half)).toBeLessThan(ratio(on) - 0.5);
  });
});

describe('the storefront clicks (CTR data)', () => {
  const { table, splits } = storefrontClicksTable(small);
  const data = encodeTable(table, splits, 16);

  it('has the context fields then the item fields, all categorical, raw values as a page sends them', () => {
    expect(data.schema.fields.map((f) => f.name)).toEqual([...CONTEXT_FIELDS, ...ITEM_FIELDS]);
    expect(data.schema.fields.map((f) => f.kind)).toEqual(new Array(9).fill('categorical'));
    const values = Object.fromEntries(data.schema.fields.map((f) => [f.name, f.values ?? []]));
    expect([...(values.hour ?? [])].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 24 }, (_, h) => String(h)),
    );
    expect([...(values.weekday ?? [])].sort()).toEqual([...WEEKDAYS].sort());
    expect([...(values.device ?? [])].sort()).toEqual([...DEVICES].sort());
    expect([...(values.locale ?? [])].sort()).toEqual([...LOCALES].sort());
    expect([...(values.price_tier ?? [])].sort()).toEqual(['Budget', 'Mid-range', 'Premium']);
    expect([...(values.role ?? [])].sort()).toEqual(['accessory', 'consumable', 'main']);
    expect(values.item?.every((id) => /^p\d{4}$/.test(id))).toBe(true);
  });

  it('has a row per event and shown item, one positive per slate, decoding to the raw values', () => {
    const size = SMALL.slateSize;
    expect(table.numRows).toBe(events(small) * size);
    const numFields = data.schema.fields.length;
    let row = 0;
    let odd = 0;
    // Rows are in shopper order; decode the train rows back to the strings of the events.
    const trainAt = new Map<number, number>();
    for (const [i, r] of splits.train.entries()) trainAt.set(r, i);
    for (const [s, history] of small.shoppers.entries()) {
      for (let e = 0; e < history.length; e++) {
        let positives = 0;
        for (let k = 0; k < size; k++, row++) {
          const label = table.labels[row] as number;
          positives += label;
          const item = (small.slates[s] as Int32Array)[e * size + k] as number;
          if ((label === 1) !== (item === history[e])) odd++;
          const i = trainAt.get(row);
          if (i === undefined) continue;
          const expected = {
            ...contextFieldValues((small.contexts[s] ?? [])[e] as ShopperContext),
            ...itemFieldValues(small, item),
          } as Record<string, string>;
          for (let f = 0; f < numFields; f++) {
            const field = data.schema.fields[f];
            const id = (data.train.ids[f] as Int32Array)[i] as number;
            if (field?.values?.[id - 1] !== expected[field?.name ?? '']) odd++;
          }
        }
        if (positives !== 1) odd++;
      }
    }
    expect(odd).toBe(0);
    expect(row).toBe(table.numRows);
  });

  it("splits by shopper, as the storefront's split says", () => {
    const size = SMALL.slateSize;
    const partOf = new Int8Array(table.numRows).fill(-1);
    for (const [part, rows] of [splits.train, splits.validation, splits.test].entries()) {
      for (const r of rows) partOf[r] = part;
    }
    expect(partOf.includes(-1)).toBe(false);
    let row = 0;
    let odd = 0;
    for (const [s, history] of small.shoppers.entries()) {
      for (let r = 0; r < history.length * size; r++, row++) {
        if (partOf[row] !== small.split[s]) odd++;
      }
    }
    expect(odd).toBe(0);
    for (const rows of [splits.train, splits.validation, splits.test]) {
      expect([...rows]).toEqual([...rows].sort((a, b) => a - b));
    }
  });

  it('leaves the context out for the items-only data set', () => {
    const items = storefrontClicksTable(small, 'items');
    expect(items.table.columns.map((c) => c.name)).toEqual([...ITEM_FIELDS]);
    expect(items.table.labels).toEqual(table.labels);
    expect(items.splits).toEqual(splits);
  });
});

describe('the registry entries', () => {
  const names = [
    'storefront-context',
    'storefront-flat',
    'storefront-context-clicks',
    'storefront-context-clicks-items',
    'storefront-flat-clicks',
  ];

  it('are made in memory: no data directory (the unit tests run with none)', async () => {
    for (const name of names) {
      const spec = getDataset(name);
      expect(isGenerated(spec), name).toBe(true);
      expect(needsDataDir(spec), name).toBe(false);
    }
    expect(getDataset('storefront-flat')).toMatchObject({ generator: { contextEffect: 0 } });
    // The sequence models train on the training shoppers alone, numbered by shopper.
    const sequences = await loadUserSequences('storefront-context', { dataDir: 'none' });
    const storefront = generateContextStorefront(DEFAULT_CONTEXT_STOREFRONT);
    const training = storefront.shoppers.flatMap((_, s) => (storefront.split[s] === 0 ? [s] : []));
    expect(Array.from(sequences.users)).toEqual(training.map((s) => s + 1));
    expect(sequences.sequences).toEqual(training.map((s) => storefront.shoppers[s]));
    expect(sequences.itemIds?.slice(0, 2)).toEqual(['p0001', 'p0002']);
    const clicks = await loadCtrFields('storefront-context-clicks', { dataDir: 'none' });
    expect(clicks.schema.fields).toHaveLength(9);
    expect(clicks.notes?.[0]).toMatch(/^split by shopper/);
    const slate = DEFAULT_CONTEXT_STOREFRONT.slateSize;
    expect(clicks.train.numRows).toBe(sequences.numInteractions * slate);
    const rows = clicks.train.numRows + clicks.validation.numRows + clicks.test.numRows;
    const events = storefront.shoppers.reduce((n, s) => n + s.length, 0);
    expect(rows).toBe(events * slate);
    expect(clicks.validation.numRows / rows).toBeCloseTo(0.1, 1);
  });

  it('run through `pocketrec data stats`', async () => {
    const stats = await runCli('data', 'stats', 'storefront-context-clicks-items', '--json');
    expect(stats.code).toBe(0);
    const report = JSON.parse(stats.out) as { dataDir: string; fields: { name: string }[] };
    expect(report.dataDir).toBe('none (made in memory)');
    expect(report.fields.map((f) => f.name)).toEqual([...ITEM_FIELDS]);
  }, 60_000);
});
