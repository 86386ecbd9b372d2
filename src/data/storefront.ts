/**
 * A generated storefront: a seeded catalogue and simulated shoppers whose sessions have
 * real sequential structure (category-coherent browsing, complements after a main item,
 * popularity skew, repeat visits). It lets the demo ship a model trained on something
 * real-shaped without redistributing anyone's data. Same seed, same storefront.
 */
import { seededRandom } from '../random.ts';

export { seededRandom };

export interface Product {
  /** External id, e.g. "p0042"; internal item id is the 1-based position in the catalogue. */
  id: string;
  name: string;
  category: string;
  price: number;
  /** Hue of the generated thumbnail. */
  hue: number;
}

export interface Storefront {
  products: Product[];
  /** Each session as internal item ids (1..products.length), in click order. */
  sessions: Int32Array[];
}

export interface StorefrontOptions {
  seed: number;
  productsPerCategory: number;
  sessions: number;
  meanSessionLength: number;
}

export const DEFAULT_STOREFRONT: StorefrontOptions = {
  seed: 7,
  productsPerCategory: 50,
  sessions: 4000,
  meanSessionLength: 9,
};

const CATEGORIES: { name: string; nouns: string[]; accessories: string[] }[] = [
  {
    name: 'Coffee',
    nouns: ['Espresso Machine', 'Grinder', 'Pour-Over Kit', 'Moka Pot'],
    accessories: ['Beans', 'Filters', 'Tamper', 'Milk Jug'],
  },
  {
    name: 'Tea',
    nouns: ['Teapot', 'Kettle', 'Tea Set'],
    accessories: ['Loose Leaf', 'Infuser', 'Cups'],
  },
  {
    name: 'Running',
    nouns: ['Running Shoes', 'Trail Shoes', 'Rain Jacket'],
    accessories: ['Socks', 'Water Bottle', 'Headlamp', 'Cap'],
  },
  {
    name: 'Camping',
    nouns: ['Tent', 'Sleeping Bag', 'Backpack', 'Camp Stove'],
    accessories: ['Gas Canister', 'Pegs', 'Mug', 'Lantern'],
  },
  {
    name: 'Kitchen',
    nouns: ['Chef Knife', 'Dutch Oven', 'Skillet', 'Stand Mixer'],
    accessories: ['Cutting Board', 'Whetstone', 'Spatula', 'Apron'],
  },
  {
    name: 'Books',
    nouns: ['Novel', 'Cookbook', 'Travel Guide', 'Atlas'],
    accessories: ['Bookmark', 'Reading Light', 'Book Sleeve'],
  },
  {
    name: 'Audio',
    nouns: ['Headphones', 'Speaker', 'Turntable', 'Amplifier'],
    accessories: ['Cable', 'Ear Pads', 'Stand', 'Record Cleaner'],
  },
  {
    name: 'Gaming',
    nouns: ['Console', 'Controller', 'Gaming Chair'],
    accessories: ['Charging Dock', 'Headset', 'Grip Caps'],
  },
  {
    name: 'Garden',
    nouns: ['Lawn Mower', 'Pruner', 'Raised Bed', 'Hose Reel'],
    accessories: ['Seeds', 'Gloves', 'Plant Food', 'Watering Can'],
  },
  {
    name: 'Yoga',
    nouns: ['Yoga Mat', 'Meditation Cushion', 'Yoga Wheel'],
    accessories: ['Strap', 'Block', 'Mat Cleaner'],
  },
  {
    name: 'Baby',
    nouns: ['Stroller', 'Car Seat', 'High Chair', 'Crib'],
    accessories: ['Bib', 'Rain Cover', 'Bottle', 'Blanket'],
  },
  {
    name: 'Pets',
    nouns: ['Dog Bed', 'Cat Tree', 'Aquarium', 'Leash'],
    accessories: ['Treats', 'Toy', 'Bowl', 'Filter'],
  },
];
const ADJECTIVES = [
  'Alpine',
  'Nordic',
  'Urban',
  'Classic',
  'Compact',
  'Pro',
  'Everyday',
  'Studio',
  'Field',
  'Cloud',
  'Summit',
  'Harbor',
  'Ember',
  'Willow',
  'Slate',
  'Coral',
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** Index drawn with probability proportional to weights. */
function draw(random: () => number, weights: Float64Array | number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = random() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

export function generateStorefront(options: StorefrontOptions = DEFAULT_STOREFRONT): Storefront {
  const random = seededRandom(options.seed);
  const products: Product[] = [];
  const byCategory: { mains: number[]; accessories: number[]; all: number[] }[] = [];
  const popularity: number[] = [];
  const usedNames = new Set<string>();
  CATEGORIES.forEach((category, c) => {
    const group = { mains: [] as number[], accessories: [] as number[], all: [] as number[] };
    for (let k = 0; k < options.productsPerCategory; k++) {
      const isMain = k % 3 === 0;
      const noun = pick(random, isMain ? category.nouns : category.accessories);
      let name = `${pick(random, ADJECTIVES)} ${noun}`;
      for (let n = 2; usedNames.has(name); n++) name = `${pick(random, ADJECTIVES)} ${noun} ${n}`;
      usedNames.add(name);
      const id = products.length + 1;
      const basePrice = isMain ? 60 + random() * 440 : 5 + random() * 45;
      products.push({
        id: `p${String(id).padStart(4, '0')}`,
        name,
        category: category.name,
        price: Math.round(basePrice) - 0.01,
        hue: Math.round((c * 360) / CATEGORIES.length + random() * 20) % 360,
      });
      // Zipf-like popularity inside each category.
      popularity[id] = 1 / (1 + k) ** 0.9;
      (isMain ? group.mains : group.accessories).push(id);
      group.all.push(id);
    }
    byCategory.push(group);
  });

  // Each main item has a few fixed complements: accessories of its own category.
  const complements = new Map<number, number[]>();
  for (const group of byCategory) {
    for (const main of group.mains) {
      complements.set(
        main,
        [0, 1, 2].map(() => pick(random, group.accessories)),
      );
    }
  }
  const categoryWeights = CATEGORIES.map((_, c) => 1 / (1 + c) ** 0.7);
  const categoryOf = (item: number) => Math.floor((item - 1) / options.productsPerCategory);
  const popularIn = (items: number[]) =>
    items[
      draw(
        random,
        items.map((i) => popularity[i] as number),
      )
    ] as number;

  const sessions: Int32Array[] = [];
  for (let s = 0; s < options.sessions; s++) {
    const length = 2 + Math.floor(-Math.log(1 - random()) * (options.meanSessionLength - 2));
    const session: number[] = [];
    let category = draw(random, categoryWeights);
    let current = popularIn((byCategory[category] as (typeof byCategory)[number]).all);
    session.push(current);
    while (session.length < length) {
      const r = random();
      const group = byCategory[category] as (typeof byCategory)[number];
      const itsComplements = complements.get(current);
      if (itsComplements && r < 0.35) current = pick(random, itsComplements);
      else if (r < 0.75) current = popularIn(group.all);
      else if (r < 0.85 && session.length > 1) current = pick(random, session);
      else {
        category = draw(random, categoryWeights);
        current = popularIn((byCategory[category] as (typeof byCategory)[number]).all);
      }
      category = categoryOf(current);
      session.push(current);
    }
    sessions.push(Int32Array.from(session));
  }
  return { products, sessions };
}
