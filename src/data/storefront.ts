/**
 * A generated storefront: a seeded catalogue (storefront-catalog.ts) and simulated
 * shoppers whose histories have real sequential structure, so the demo can ship a model
 * trained on something real-shaped without redistributing anyone's data. Same options,
 * same storefront, bit for bit.
 *
 * Each shopper has a favourite brand (and so a price tier) and two favourite categories,
 * and comes back for several visits. A visit either buys a main item (browsing a few mains
 * of one category, perhaps looking at some other accessory of the aisle, then adding the
 * main's kit in order, and sometimes going on to a related category) or refills the
 * consumables of a main bought two or more visits before. What follows an aside or a kit's
 * first accessory depends on the main two or three items back, refills on mains long past,
 * brand and categories on the whole history: a first-order Markov chain sees none of that,
 * a sequence model can.
 */
import { seededRandom } from '../random.ts';
import type { UserSequences } from './sequences.ts';
import {
  BRANDS,
  type Catalogue,
  generateCatalogue,
  type Product,
  pick,
  TIERS,
} from './storefront-catalog.ts';

export type { Product };

export interface Storefront {
  products: Product[];
  /**
   * Each shopper's history over all their visits, as internal item ids
   * (1..products.length), oldest first. No item appears twice in one history: an event is
   * a first purchase, which is also what the demo recommends (seen items left out).
   */
  shoppers: Int32Array[];
  /** The ground truth: each main's accessories, in the order they follow it. */
  kits: ReadonlyMap<number, readonly number[]>;
  /** The ground truth: each main's consumables, bought on later visits. */
  refills: ReadonlyMap<number, readonly number[]>;
}

export interface StorefrontOptions {
  seed: number;
  /** The catalogue has 24 categories of this many products each. */
  productsPerCategory: number;
  shoppers: number;
  meanVisits: number;
}

export const DEFAULT_STOREFRONT: StorefrontOptions = {
  seed: 7,
  productsPerCategory: 125,
  shoppers: 10_000,
  meanVisits: 4,
};

/** How much more likely a product of the shopper's favourite brand is. */
const OWN_BRAND = 5;
/** How much less likely a main of another tier is than one of the shopper's own. */
const OFF_TIER = 0.15;
/** Chance that a visit goes to a favourite category rather than anywhere. */
const FAVOURITE = 0.8;
/** Chance that a visit refills a consumable of a main bought before, when one is due. */
const REFILL_VISIT = 0.4;
/** Consumables run out: a main's refills come this many visits after it, or later. */
const REFILL_AFTER = 2;
/** Chance that a main-item visit goes on to a related category. */
const JOURNEY = 0.3;
/** Chance of looking at another accessory of the aisle between a main and its kit. */
const ASIDE = 0.6;
/** Chance of adding the k-th accessory of the kit, given the ones before it. */
const KIT_STEP = [0.8, 0.5, 0.3];

/** Index drawn with probability proportional to weights. */
function draw(random: () => number, weights: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i] as number;
  let r = random() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/** Items a shopper picks from, and how likely each is. */
export interface Shelf {
  items: number[];
  weights: Float64Array;
}

/** The shelves a shopper buys from: mains per category and brand, accessories per category. */
export interface ShopperShelves {
  mains: Shelf[][];
  aisles: Shelf[];
}

/**
 * Per category and brand, its mains as that brand's loyal shoppers see them: by
 * popularity, the brand's own far ahead, its tier before the others. `tierFactor` weighs
 * the mains of each price tier further (storefront-context.ts: cheaper mains on a phone);
 * the storefront's own shelves have none.
 */
export function mainShelves(
  catalogue: Catalogue,
  tierFactor: readonly number[] = [1, 1, 1],
): Shelf[][] {
  const { brandOf, tierOf, popularity } = catalogue;
  return catalogue.categories.map(({ mains }) =>
    BRANDS.map((_, brand) => ({
      items: mains,
      weights: Float64Array.from(
        mains,
        (item) =>
          (popularity[item] as number) *
          (brandOf[item] === brand ? OWN_BRAND : 1) *
          (tierOf[item] === brand % TIERS.length ? 1 : OFF_TIER) *
          (tierFactor[tierOf[item] as number] as number),
      ),
    })),
  );
}

/** Per category, its accessories by popularity alone: what catches the eye in the aisle. */
export function accessoryAisles(catalogue: Catalogue): Shelf[] {
  return catalogue.categories.map(({ accessories }) => ({
    items: accessories,
    weights: Float64Array.from(accessories, (item) => catalogue.popularity[item] as number),
  }));
}

/**
 * What a visit's context may change in a shopper's behaviour (storefront-context.ts). A
 * hook left out, or one that answers undefined, keeps the storefront's own behaviour and
 * its draws from `random`: a shopper without hooks is the storefront's shopper, bit for bit.
 */
export interface ShopperHooks {
  /** Called as each visit starts, with its index and the number of events before it. */
  beginVisit?(visit: number, events: number): void;
  /** Chance that the visit refills consumables, when some are due; `base` is the storefront's. */
  refillChance?(base: number): number;
  /** Items bought right after a main, before the aside and the kit (none: the storefront's). */
  withMain?(main: number): readonly number[] | undefined;
  /** Chance of the look at another accessory after a main; `base` is the storefront's. */
  asideChance?(base: number): number;
  /** Mains browsed on a main-item visit (before any journey), or undefined for 1 to 3. */
  browse?(): number | undefined;
  /** The category of a main-item visit, or undefined for the usual choice (favourites first). */
  visitCategory?(): number | undefined;
  /** The category of a visit that skips the favourites, or undefined for one by popularity. */
  otherCategory?(): number | undefined;
  /** The mains of a category as the shopper (of brand `brand`) sees them on this visit. */
  mainShelf?(category: number, brand: number): Shelf | undefined;
}

/** One shopper's history over all their visits (internal ids, oldest first, no repeats). */
export function simulateShopper(
  random: () => number,
  catalogue: Catalogue,
  shelves: ShopperShelves,
  meanVisits: number,
  hooks: ShopperHooks = {},
): Int32Array {
  const brand = Math.floor(random() * BRANDS.length);
  const first = draw(random, catalogue.categoryWeights);
  let second = first;
  while (second === first) second = draw(random, catalogue.categoryWeights);
  const favourites = [first, second];
  const history: number[] = [];
  const seen = new Set<number>();
  const add = (item: number): boolean => {
    if (seen.has(item)) return false;
    seen.add(item);
    history.push(item);
    return true;
  };
  const fromShelf = (shelf: Shelf): number => shelf.items[draw(random, shelf.weights)] as number;
  /** Mains bought so far, with the visit they were bought on, whose refills are not all bought. */
  const owned: { main: number; visit: number }[] = [];
  let visit = 0;

  const buyMain = (category: number, browse: number): void => {
    const mains =
      hooks.mainShelf?.(category, brand) ?? ((shelves.mains[category] as Shelf[])[brand] as Shelf);
    let chosen = 0;
    for (let b = 0; b < browse; b++) {
      // A few tries for an unseen main; a loyal shopper may have seen the popular ones.
      for (let attempt = 0; attempt < 8; attempt++) {
        const main = fromShelf(mains);
        if (add(main)) {
          chosen = main;
          break;
        }
      }
    }
    if (chosen === 0) return;
    owned.push({ main: chosen, visit });
    // A consumable taken along with the main, before anything else of its line.
    for (const item of hooks.withMain?.(chosen) ?? []) add(item);
    // A look at some other accessory of the aisle before the ones that fit the main: what
    // comes after it depends on the main, not on the item just before.
    if (random() < (hooks.asideChance?.(ASIDE) ?? ASIDE)) {
      add(fromShelf(shelves.aisles[category] as Shelf));
    }
    const kit = catalogue.kits.get(chosen) as number[];
    for (let k = 0; k < kit.length && random() < (KIT_STEP[k] as number); k++)
      add(kit[k] as number);
  };

  /** Buys one or two refills of a main bought visits ago; false when there was none to buy. */
  const refill = (): boolean => {
    const due = owned.filter((o) => o.visit <= visit - REFILL_AFTER);
    if (due.length === 0) return false;
    const chosen = pick(random, due);
    const left = (catalogue.refills.get(chosen.main) as number[]).filter((item) => !seen.has(item));
    const bought = left.slice(0, random() < 0.5 ? 1 : 2);
    for (const item of bought) add(item);
    if (bought.length === left.length) owned.splice(owned.indexOf(chosen), 1);
    return bought.length > 0;
  };

  const visits = 1 + Math.floor(-Math.log(1 - random()) * (meanVisits - 1));
  for (; visit < visits; visit++) {
    hooks.beginVisit?.(visit, history.length);
    const refillChance = hooks.refillChance?.(REFILL_VISIT) ?? REFILL_VISIT;
    if (random() < refillChance && refill()) continue;
    const category =
      hooks.visitCategory?.() ??
      (random() < FAVOURITE
        ? pick(random, favourites)
        : (hooks.otherCategory?.() ?? draw(random, catalogue.categoryWeights)));
    buyMain(category, hooks.browse?.() ?? 1 + (random() < 0.6 ? 1 : 0) + (random() < 0.3 ? 1 : 0));
    if (random() < JOURNEY) {
      const next = (catalogue.categories[category] as Catalogue['categories'][number]).next;
      buyMain(pick(random, next), 1 + (random() < 0.4 ? 1 : 0));
    }
  }
  return Int32Array.from(history);
}

export function generateStorefront(options: StorefrontOptions = DEFAULT_STOREFRONT): Storefront {
  const random = seededRandom(options.seed);
  const catalogue = generateCatalogue(random, options.productsPerCategory);
  const shelves = { mains: mainShelves(catalogue), aisles: accessoryAisles(catalogue) };
  const shoppers: Int32Array[] = [];
  for (let s = 0; s < options.shoppers; s++) {
    shoppers.push(simulateShopper(random, catalogue, shelves, options.meanVisits));
  }
  return {
    products: catalogue.products,
    shoppers,
    kits: catalogue.kits,
    refills: catalogue.refills,
  };
}

/** The storefront as a user data set: one sequence per shopper, items named by product id. */
export function storefrontSequences(
  dataset: string,
  options: StorefrontOptions = DEFAULT_STOREFRONT,
): UserSequences {
  return shopperSequences(dataset, generateStorefront(options));
}

/** Generated shoppers as a user data set (this storefront's, or the context storefront's). */
export function shopperSequences(
  dataset: string,
  { products, shoppers }: { products: readonly Product[]; shoppers: Int32Array[] },
): UserSequences {
  return {
    dataset,
    numItems: products.length,
    numInteractions: shoppers.reduce((n, s) => n + s.length, 0),
    users: Int32Array.from(shoppers, (_, i) => i + 1),
    sequences: shoppers,
    sourceItemIds: null,
    itemIds: products.map((p) => p.id),
  };
}
