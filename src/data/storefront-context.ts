/**
 * The generated storefront with a local context on every visit (hour, weekday, device,
 * locale) and shoppers whose behaviour depends on it, plus an impression log: what each
 * shopper was shown at each event and which of it they clicked. It exists to show what a
 * ranker that reads the context adds to a sequence model that cannot see it.
 *
 * The catalogue and the shoppers' sequential structure are storefront.ts's own (same seed,
 * same products and internal ids; kits after mains, refills of mains bought visits before,
 * journeys): its shoppers run here with hooks (ShopperHooks) that let the visit's context
 * change four things, each scaled by `contextEffect`:
 *
 * - mornings (6-10h): a visit is a refill of consumables far more often (0.85 when one is
 *   due, 0.15 at other hours, against the storefront's 0.4 at every hour);
 * - weekends: a main-item visit goes to an outdoor category (WEEKEND_CATEGORIES) 60% of the
 *   time, browses 2 to 4 mains (weekdays mostly one), and Premium mains weigh 3 times as much;
 * - weekday evenings (18-23h): a main-item visit goes to an indoor category
 *   (EVENING_CATEGORIES) half the time;
 * - mornings, again: a main bought in the morning comes with its first consumable right
 *   after it (70% of the time), before the kit (the coffee beans with the grinder);
 * - mobile (the device of each visit drawn afresh: shoppers switch): Budget mains weigh 4
 *   times as much, Premium ones a quarter, and the look at another accessory of the aisle
 *   after a main is rare (0.15 against 0.85 on a desktop or a tablet, the storefront's 0.6);
 * - locale: a visit that skips the shopper's favourite categories goes to one of the
 *   locale's three preferred categories 70% of the time.
 *
 * Most of these act where a visit starts, which a history cannot foresee, and where the
 * item is rarely among any model's first candidates; the last two act within a visit, on
 * which of the few items a history makes likely comes next: what a ranker can re-order.
 *
 * Randomness comes from four streams of one seed: the storefront's own (catalogue and
 * behaviour), the contexts (and every draw the context rules add), the slates, and the
 * split of shoppers. A shopper's storefront draws are the storefront's as long as no hook
 * changes them, so with contextEffect 0 the histories are exactly `generateStorefront`'s
 * (with contexts drawn beside them that change nothing). Same options, same output.
 */
import { PocketrecError } from '../errors.ts';
import { seededRandom } from '../random.ts';
import { type DeviceClass, WEEKDAY_NAMES } from '../runtime/local-context.ts';
import { randomSplit } from './ctr/split.ts';
import type { UserSequences } from './sequences.ts';
import {
  accessoryAisles,
  DEFAULT_STOREFRONT,
  mainShelves,
  type Shelf,
  type ShopperHooks,
  type StorefrontOptions,
  shopperSequences,
  simulateShopper,
} from './storefront.ts';
import { generateCatalogue, type Product, pick, type Role, TIERS } from './storefront-catalog.ts';

export type { Product, Role };

/**
 * The device classes in the order of DEVICE_WEIGHTS; their names, and the weekdays', are the
 * runtime's (local-context.ts), so a page's local context finds them in a ranker's vocabulary.
 */
export const DEVICES: readonly DeviceClass[] = ['mobile', 'desktop', 'tablet'];
export const WEEKDAYS = WEEKDAY_NAMES;
export const LOCALES = ['en-GB', 'de-DE', 'fr-FR', 'es-ES', 'it-IT', 'nl-NL'] as const;

export type Device = DeviceClass;

export interface ShopperContext {
  /** Local hour, 0..23. */
  hour: number;
  /** 0 = Monday … 6 = Sunday. */
  weekday: number;
  device: Device;
  locale: string;
}

/**
 * The ranker's context fields and item fields, in this order: the raw string values of
 * contextFieldValues and itemFieldValues are exactly what a browser page sends.
 */
export const CONTEXT_FIELDS = ['hour', 'weekday', 'device', 'locale'] as const;
export const ITEM_FIELDS = ['item', 'category', 'brand', 'price_tier', 'role'] as const;

export type ContextField = (typeof CONTEXT_FIELDS)[number];
export type ItemField = (typeof ITEM_FIELDS)[number];

export interface ContextStorefrontOptions extends StorefrontOptions {
  /**
   * 1: behaviour depends on the context as described above; 0: contexts are drawn the same
   * way but change nothing (the histories are the storefront's). Values between scale the
   * effects.
   */
  contextEffect: number;
  /** Items shown per event in the impression log: the clicked one and slateSize - 1 others. */
  slateSize: number;
  /**
   * Shoppers split train : validation : test (seeded by `seed`), for the click data and the
   * two-stage evaluation on held-out shoppers.
   */
  shopperSplit: readonly [number, number, number];
}

export const DEFAULT_CONTEXT_STOREFRONT: ContextStorefrontOptions = {
  ...DEFAULT_STOREFRONT,
  contextEffect: 1,
  slateSize: 5,
  shopperSplit: [0.8, 0.1, 0.1],
};

export interface ContextStorefront {
  products: Product[];
  /** Per internal id (1-based; index 0 unused): role, tier index, brand index (from the catalogue). */
  roleOf: Role[];
  tierOf: Int32Array;
  brandOf: Int32Array;
  /** Each shopper's history (internal ids, oldest first, no repeats), as in Storefront.shoppers. */
  shoppers: Int32Array[];
  /** Per shopper, per event: the context of the visit the event happened in (shared by its events). */
  contexts: ShopperContext[][];
  /**
   * Per shopper: [events × slateSize] internal ids shown at each event, row-major; the
   * clicked item (the event's item) is among them at a seeded random slot, the others drawn
   * by the items' purchase counts over all shoppers (plus one: context-independent), never
   * the clicked item, no repeats within a slate.
   */
  slates: Int32Array[];
  /** Per shopper: 0 train, 1 validation, 2 test. */
  split: Uint8Array;
}

/** Each locale's three preferred categories (by name, as in the catalogue). */
export const LOCALE_CATEGORIES: Readonly<Record<(typeof LOCALES)[number], readonly string[]>> = {
  'en-GB': ['Tea', 'Garden', 'Books'],
  'de-DE': ['Cycling', 'Camping', 'Audio'],
  'fr-FR': ['Wine', 'Baking', 'Beauty'],
  'es-ES': ['Swimming', 'Running', 'Music'],
  'it-IT': ['Coffee', 'Kitchen', 'Art'],
  'nl-NL': ['Lighting', 'Photography', 'Gaming'],
};

/** How often a visit is made on each device. */
const DEVICE_WEIGHTS = [0.5, 0.4, 0.1];
/** Where weekend visits go, and how often (times contextEffect). */
const WEEKEND_CATEGORIES = ['Camping', 'Cycling', 'Garden', 'Running', 'Swimming', 'Photography'];
const WEEKEND_OUTDOORS = 0.6;
/** Where weekday evening visits go, and how often (times contextEffect). */
const EVENING_CATEGORIES = ['Books', 'Gaming', 'Music', 'Wine', 'Audio', 'Art'];
const EVENING_INDOORS = 0.5;
const EVENING = [18, 23] as const;
/** Chance that a main bought in the morning comes with its first consumable. */
const MORNING_CONSUMABLE = 0.7;
/** Chance of the look at another accessory after a main, on mobile and on the others. */
const ASIDE_MOBILE = 0.15;
const ASIDE_OTHERS = 0.85;
/** Visit hours: [first hour, last hour, share] of night, morning, daytime, evening. */
const HOUR_BANDS: readonly (readonly [number, number, number])[] = [
  [0, 5, 0.04],
  [6, 10, 0.25],
  [11, 17, 0.33],
  [18, 23, 0.38],
];
const MORNING = [6, 10] as const;
/** Chance of a refill visit, when one is due, in the morning and at other hours. */
const REFILL_MORNING = 0.85;
const REFILL_OTHERWISE = 0.15;
/** Weekday main-item visits browse one main with this chance, else two; weekends 2 to 4. */
const WEEKDAY_ONE_MAIN = 0.85;
/** Chance that a visit skipping the favourites goes to a locale-preferred category. */
const LOCALE_PREFERRED = 0.7;
/** Weight of a main by price tier (Budget, Mid-range, Premium). */
const MOBILE_TIER = [4, 1, 0.25];
const WEEKEND_TIER = [1, 1, 3];

/**
 * Stream `k`'s seed: mulberry32 has a single cycle of 2^32 states that every seed starts
 * somewhere on, and a step adds an odd constant, so seed + k·2^30 starts k quarters of the
 * cycle away: the streams never overlap.
 */
function streamSeed(seed: number, k: 1 | 2 | 3): number {
  return (seed + k * 2 ** 30) >>> 0;
}

function drawIndex(random: () => number, weights: readonly number[]): number {
  let r = random();
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

function drawHour(random: () => number): number {
  const [from, to] = HOUR_BANDS[
    drawIndex(
      random,
      HOUR_BANDS.map((band) => band[2]),
    )
  ] as readonly [number, number, number];
  return from + Math.floor(random() * (to - from + 1));
}

function drawDevice(random: () => number): Device {
  return DEVICES[drawIndex(random, DEVICE_WEIGHTS)] as Device;
}

export function isWeekend(context: ShopperContext): boolean {
  return context.weekday >= 5;
}

export function isWeekdayEvening(context: ShopperContext): boolean {
  return !isWeekend(context) && context.hour >= EVENING[0] && context.hour <= EVENING[1];
}

export function isMorning(context: ShopperContext): boolean {
  return context.hour >= MORNING[0] && context.hour <= MORNING[1];
}

function checkOptions(options: ContextStorefrontOptions, numItems: number): void {
  const { contextEffect, slateSize } = options;
  if (!(contextEffect >= 0 && contextEffect <= 1)) {
    throw new PocketrecError(
      'bad-option',
      `contextEffect must be between 0 and 1, not ${contextEffect}`,
    );
  }
  if (!Number.isInteger(slateSize) || slateSize < 1 || slateSize > numItems) {
    throw new PocketrecError(
      'bad-option',
      `slateSize must be an integer from 1 to the ${numItems} products, not ${slateSize}`,
    );
  }
}

export function generateContextStorefront(
  options: ContextStorefrontOptions = DEFAULT_CONTEXT_STOREFRONT,
): ContextStorefront {
  // As generateStorefront: the catalogue, then the shoppers, from one stream.
  const random = seededRandom(options.seed);
  const catalogue = generateCatalogue(random, options.productsPerCategory);
  checkOptions(options, catalogue.products.length);
  const effect = options.contextEffect;
  const shelves = { mains: mainShelves(catalogue), aisles: accessoryAisles(catalogue) };
  // Mains as seen on [desktop or tablet, mobile] × [weekday, weekend]: index mobile + 2·weekend.
  const scaled = [0, 1, 2, 3].map((variant) =>
    mainShelves(
      catalogue,
      TIERS.map(
        (_, tier) =>
          ((variant & 1 ? (MOBILE_TIER[tier] as number) : 1) *
            (variant & 2 ? (WEEKEND_TIER[tier] as number) : 1)) **
          effect,
      ),
    ),
  );
  const categoryIndex = new Map<string, number>();
  for (const [c, category] of catalogue.categories.entries()) {
    categoryIndex.set(
      (catalogue.products[(category.mains[0] as number) - 1] as Product).category,
      c,
    );
  }
  const localeCategories = LOCALES.map((locale) =>
    LOCALE_CATEGORIES[locale].map((name) => categoryIndex.get(name) as number),
  );

  const indices = (names: readonly string[]) => names.map((n) => categoryIndex.get(n) as number);
  const weekendCategories = indices(WEEKEND_CATEGORIES);
  const eveningCategories = indices(EVENING_CATEGORIES);

  const contextRandom = seededRandom(streamSeed(options.seed, 1));
  const shoppers: Int32Array[] = [];
  const contexts: ShopperContext[][] = [];
  for (let s = 0; s < options.shoppers; s++) {
    const locale = Math.floor(contextRandom() * LOCALES.length);
    const visitStarts: number[] = [];
    const visitContexts: ShopperContext[] = [];
    let context = undefined as unknown as ShopperContext;
    const hooks: ShopperHooks = {
      beginVisit(_visit, events) {
        context = {
          hour: drawHour(contextRandom),
          weekday: Math.floor(contextRandom() * WEEKDAYS.length),
          device: drawDevice(contextRandom),
          locale: LOCALES[locale] as string,
        };
        visitStarts.push(events);
        visitContexts.push(context);
      },
      refillChance: (base) =>
        base + effect * ((isMorning(context) ? REFILL_MORNING : REFILL_OTHERWISE) - base),
      browse() {
        if (effect === 0 || (effect < 1 && contextRandom() >= effect)) return undefined;
        if (isWeekend(context)) return 2 + Math.floor(contextRandom() * 3);
        return contextRandom() < WEEKDAY_ONE_MAIN ? 1 : 2;
      },
      visitCategory() {
        if (effect === 0) return undefined;
        const [categories, share] = isWeekend(context)
          ? [weekendCategories, WEEKEND_OUTDOORS]
          : isWeekdayEvening(context)
            ? [eveningCategories, EVENING_INDOORS]
            : [null, 0];
        if (categories === null || contextRandom() >= share * effect) return undefined;
        return pick(contextRandom, categories);
      },
      withMain(main) {
        if (effect === 0 || !isMorning(context)) return undefined;
        if (contextRandom() >= MORNING_CONSUMABLE * effect) return undefined;
        return catalogue.refills.get(main)?.slice(0, 1);
      },
      asideChance: (base) =>
        base + effect * ((context.device === 'mobile' ? ASIDE_MOBILE : ASIDE_OTHERS) - base),
      otherCategory() {
        if (effect === 0 || contextRandom() >= LOCALE_PREFERRED * effect) return undefined;
        return pick(contextRandom, localeCategories[locale] as number[]);
      },
      mainShelf(category, brand) {
        if (effect === 0) return undefined;
        const variant = (context.device === 'mobile' ? 1 : 0) + (isWeekend(context) ? 2 : 0);
        return ((scaled[variant] as Shelf[][])[category] as Shelf[])[brand];
      },
    };
    const history = simulateShopper(random, catalogue, shelves, options.meanVisits, hooks);
    const perEvent: ShopperContext[] = new Array(history.length);
    for (let v = 0; v < visitStarts.length; v++) {
      const end = v + 1 < visitStarts.length ? (visitStarts[v + 1] as number) : history.length;
      perEvent.fill(visitContexts[v] as ShopperContext, visitStarts[v], end);
    }
    shoppers.push(history);
    contexts.push(perEvent);
  }

  const { validation, test } = randomSplit(
    options.shoppers,
    streamSeed(options.seed, 3),
    options.shopperSplit,
  );
  const split = new Uint8Array(options.shoppers);
  for (const s of validation) split[s] = 1;
  for (const s of test) split[s] = 2;

  return {
    products: catalogue.products,
    roleOf: catalogue.roleOf,
    tierOf: catalogue.tierOf,
    brandOf: catalogue.brandOf,
    shoppers,
    contexts,
    slates: drawSlates(shoppers, catalogue.products.length, options, streamSeed(options.seed, 2)),
    split,
  };
}

/**
 * Each event's slate: the clicked item at a random slot, the others drawn by how often each
 * item was bought over all shoppers, plus one (every product can be shown; what is shown
 * does not depend on the context, so only the clicks do).
 */
function drawSlates(
  shoppers: readonly Int32Array[],
  numItems: number,
  options: ContextStorefrontOptions,
  seed: number,
): Int32Array[] {
  const random = seededRandom(seed);
  const size = options.slateSize;
  const cumulative = new Float64Array(numItems + 1);
  for (const history of shoppers) for (const item of history) (cumulative[item] as number)++;
  for (let item = 1; item <= numItems; item++) {
    cumulative[item] = (cumulative[item - 1] as number) + (cumulative[item] as number) + 1;
  }
  const total = cumulative[numItems] as number;
  /** The item whose share of the cumulative weights a uniform draw falls in. */
  const shown = (): number => {
    const r = random() * total;
    let lo = 1;
    let hi = numItems;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  return shoppers.map((history) => {
    const slates = new Int32Array(history.length * size);
    for (let e = 0; e < history.length; e++) {
      const from = e * size;
      const clicked = history[e] as number;
      const at = Math.floor(random() * size);
      slates[from + at] = clicked;
      for (let k = 0; k < size; k++) {
        if (k === at) continue;
        for (;;) {
          const item = shown();
          let repeated = item === clicked;
          for (let j = 0; j < k && !repeated; j++) repeated = slates[from + j] === item;
          if (!repeated) {
            slates[from + k] = item;
            break;
          }
        }
      }
    }
    return slates;
  });
}

/** Raw field values as strings: hour "0".."23", weekday "mon".."sun", device, locale. */
export function contextFieldValues(context: ShopperContext): Record<ContextField, string> {
  return {
    hour: String(context.hour),
    weekday: WEEKDAYS[context.weekday] as string,
    device: context.device,
    locale: context.locale,
  };
}

/**
 * item: the product's external id ("p0042"), category, brand, price_tier ("Budget" |
 * "Mid-range" | "Premium"), role ("main" | "accessory" | "consumable").
 */
export function itemFieldValues(
  storefront: Pick<ContextStorefront, 'products' | 'roleOf' | 'tierOf'>,
  item: number,
): Record<ItemField, string> {
  const product = storefront.products[item - 1];
  if (product === undefined) throw new RangeError(`no product with internal id ${item}`);
  return {
    item: product.id,
    category: product.category,
    brand: product.brand,
    price_tier: TIERS[storefront.tierOf[item] as number] as string,
    role: storefront.roleOf[item] as Role,
  };
}

/**
 * The training shoppers' sequences (split 0), for the sequence models, users numbered by
 * shopper (1-based). The validation and test shoppers are left out altogether: they are the
 * held-out shoppers that `pocketrec ranker` fits and measures both stages on, step by step.
 */
export function contextStorefrontSequences(
  dataset: string,
  options: ContextStorefrontOptions = DEFAULT_CONTEXT_STOREFRONT,
): UserSequences {
  const { products, shoppers, split } = generateContextStorefront(options);
  const kept = shoppers.flatMap((_, s) => (split[s] === 0 ? [s] : []));
  const sequences = shopperSequences(dataset, {
    products,
    shoppers: kept.map((s) => shoppers[s] as Int32Array),
  });
  return { ...sequences, users: Int32Array.from(kept, (s) => s + 1) };
}
