/**
 * The generated storefront's catalogue. Each category has lines from 8 brands; a line has
 * main items (what a shopper comes for), accessories that fit them and consumables they use
 * up, and its brand keeps to one price tier. Each main has a kit (accessories of its line,
 * added after it in a fixed order) and refills (its line's consumables, bought on later
 * visits): the structure the shoppers of storefront.ts follow and a next-item model can learn.
 */
import { shuffleInPlace } from '../random.ts';

export interface Product {
  /** External id, e.g. "p0042"; internal item id is the 1-based position in the catalogue. */
  id: string;
  name: string;
  category: string;
  price: number;
  /** Hue of the generated thumbnail. */
  hue: number;
  brand: string;
  /** One line for the product card, e.g. "Premium espresso machine by Alpine". */
  description: string;
}

export type Role = 'main' | 'accessory' | 'consumable';

/** Budget, mid-range, premium: a brand's products, and a shopper's taste, keep to one. */
export const TIERS = ['Budget', 'Mid-range', 'Premium'] as const;

interface CategorySpec {
  name: string;
  mains: string[];
  accessories: string[];
  consumables: string[];
  /** Where a visit to this category goes on to (category journeys). */
  next: string[];
}

const CATEGORIES: CategorySpec[] = [
  {
    name: 'Coffee',
    mains: ['Espresso Machine', 'Grinder', 'Pour-Over Kit', 'Moka Pot', 'Cold Brew Maker'],
    accessories: ['Tamper', 'Milk Jug', 'Coffee Scale', 'Knock Box', 'Dosing Cup'],
    consumables: ['Coffee Beans', 'Paper Filters', 'Descaler'],
    next: ['Baking', 'Kitchen'],
  },
  {
    name: 'Tea',
    mains: ['Teapot', 'Kettle', 'Tea Set', 'Samovar'],
    accessories: ['Infuser', 'Tea Cups', 'Tea Tray', 'Strainer'],
    consumables: ['Loose Leaf Tea', 'Matcha', 'Tea Bags'],
    next: ['Books', 'Baking'],
  },
  {
    name: 'Running',
    mains: ['Running Shoes', 'Trail Shoes', 'Rain Jacket', 'Sports Watch'],
    accessories: ['Water Bottle', 'Headlamp', 'Running Cap', 'Armband'],
    consumables: ['Energy Gels', 'Running Socks', 'Insoles'],
    next: ['Swimming', 'Cycling'],
  },
  {
    name: 'Camping',
    mains: ['Tent', 'Sleeping Bag', 'Backpack', 'Camp Stove'],
    accessories: ['Tent Pegs', 'Camp Mug', 'Lantern', 'Sleeping Mat'],
    consumables: ['Gas Canister', 'Fire Starters', 'Dried Meals'],
    next: ['Cycling', 'Photography'],
  },
  {
    name: 'Kitchen',
    mains: ['Chef Knife', 'Dutch Oven', 'Skillet', 'Stand Mixer'],
    accessories: ['Cutting Board', 'Whetstone', 'Spatula', 'Apron'],
    consumables: ['Baking Paper', 'Seasoning Oil', 'Dish Soap'],
    next: ['Baking', 'Wine'],
  },
  {
    name: 'Books',
    mains: ['Novel', 'Cookbook', 'Travel Guide', 'Atlas'],
    accessories: ['Bookmark', 'Reading Light', 'Book Sleeve', 'Bookend'],
    consumables: ['Notebook', 'Index Cards', 'Pencils'],
    next: ['Art', 'Tea'],
  },
  {
    name: 'Audio',
    mains: ['Headphones', 'Speaker', 'Turntable', 'Amplifier'],
    accessories: ['Audio Cable', 'Ear Pads', 'Speaker Stand', 'Record Cleaner'],
    consumables: ['Vinyl Sleeves', 'Stylus', 'AA Batteries'],
    next: ['Music', 'Gaming'],
  },
  {
    name: 'Gaming',
    mains: ['Console', 'Controller', 'Gaming Chair', 'Gaming Monitor'],
    accessories: ['Charging Dock', 'Gaming Headset', 'Grip Caps', 'Carry Case'],
    consumables: ['Gift Card', 'Screen Wipes', 'Rechargeable Cells'],
    next: ['Office', 'Audio'],
  },
  {
    name: 'Garden',
    mains: ['Lawn Mower', 'Pruner', 'Raised Bed', 'Hose Reel'],
    accessories: ['Garden Gloves', 'Watering Can', 'Trowel', 'Kneeler'],
    consumables: ['Seeds', 'Plant Food', 'Compost'],
    next: ['Pets', 'Lighting'],
  },
  {
    name: 'Yoga',
    mains: ['Yoga Mat', 'Meditation Cushion', 'Yoga Wheel', 'Balance Board'],
    accessories: ['Yoga Strap', 'Yoga Block', 'Mat Bag', 'Yoga Towel'],
    consumables: ['Mat Cleaner', 'Massage Oil', 'Incense'],
    next: ['Running', 'Bath'],
  },
  {
    name: 'Baby',
    mains: ['Stroller', 'Car Seat', 'High Chair', 'Crib'],
    accessories: ['Rain Cover', 'Baby Bottle', 'Baby Blanket', 'Bib'],
    consumables: ['Nappies', 'Baby Wipes', 'Formula'],
    next: ['Bath', 'Books'],
  },
  {
    name: 'Pets',
    mains: ['Dog Bed', 'Cat Tree', 'Aquarium', 'Dog Crate'],
    accessories: ['Leash', 'Chew Toy', 'Pet Bowl', 'Collar'],
    consumables: ['Treats', 'Cat Litter', 'Fish Food'],
    next: ['Garden', 'Cleaning'],
  },
  {
    name: 'Cycling',
    mains: ['Road Bike', 'Mountain Bike', 'Bike Helmet', 'Bike Trainer'],
    accessories: ['Bike Light', 'Bike Lock', 'Pump', 'Saddle Bag'],
    consumables: ['Inner Tube', 'Chain Lube', 'Energy Bars'],
    next: ['Running', 'Camping'],
  },
  {
    name: 'Photography',
    mains: ['Camera', 'Zoom Lens', 'Tripod', 'Drone'],
    accessories: ['Camera Bag', 'Lens Hood', 'Camera Strap', 'Remote Shutter'],
    consumables: ['Memory Card', 'Lens Wipes', 'Camera Battery'],
    next: ['Camping', 'Art'],
  },
  {
    name: 'Office',
    mains: ['Standing Desk', 'Office Chair', 'Monitor Arm', 'Desk Lamp'],
    accessories: ['Desk Mat', 'Cable Tray', 'Footrest', 'Desk Organizer'],
    consumables: ['Printer Paper', 'Sticky Notes', 'Gel Pens'],
    next: ['Lighting', 'Books'],
  },
  {
    name: 'Bath',
    mains: ['Towel Set', 'Bath Mat', 'Shower Head', 'Bathrobe'],
    accessories: ['Soap Dish', 'Toothbrush Holder', 'Bath Caddy', 'Towel Hooks'],
    consumables: ['Shampoo', 'Body Wash', 'Bath Salts'],
    next: ['Beauty', 'Cleaning'],
  },
  {
    name: 'Baking',
    mains: ['Bread Oven', 'Loaf Tin', 'Proofing Basket', 'Pizza Stone'],
    accessories: ['Dough Scraper', 'Rolling Pin', 'Bread Lame', 'Cooling Rack'],
    consumables: ['Bread Flour', 'Dried Yeast', 'Sourdough Starter'],
    next: ['Kitchen', 'Coffee'],
  },
  {
    name: 'Beauty',
    mains: ['Hair Dryer', 'Straightener', 'Facial Steamer', 'Vanity Mirror'],
    accessories: ['Paddle Brush', 'Wide Comb', 'Vanity Case', 'Hair Clips'],
    consumables: ['Moisturiser', 'Face Serum', 'Sunscreen'],
    next: ['Bath', 'Yoga'],
  },
  {
    name: 'Music',
    mains: ['Acoustic Guitar', 'Keyboard', 'Ukulele', 'Violin'],
    accessories: ['Capo', 'Clip Tuner', 'Music Stand', 'Gig Bag'],
    consumables: ['Guitar Strings', 'Picks', 'Rosin'],
    next: ['Audio', 'Books'],
  },
  {
    name: 'Wine',
    mains: ['Wine Fridge', 'Decanter', 'Wine Rack', 'Lever Corkscrew'],
    accessories: ['Wine Glasses', 'Aerator', 'Bottle Stopper', 'Drip Ring'],
    consumables: ['Red Wine', 'White Wine', 'Sparkling Wine'],
    next: ['Kitchen', 'Baking'],
  },
  {
    name: 'Cleaning',
    mains: ['Vacuum Cleaner', 'Steam Mop', 'Robot Vacuum', 'Carpet Cleaner'],
    accessories: ['Brush Head', 'Extension Wand', 'Mop Pad', 'Dust Bin'],
    consumables: ['Vacuum Bags', 'Cleaning Solution', 'Vacuum Filters'],
    next: ['Pets', 'Bath'],
  },
  {
    name: 'Lighting',
    mains: ['Floor Lamp', 'Pendant Light', 'Smart Hub', 'Table Lamp'],
    accessories: ['Dimmer Switch', 'Lamp Shade', 'Extension Cord', 'Smart Plug'],
    consumables: ['Light Bulb', 'LED Strip', 'Smart Bulb'],
    next: ['Office', 'Garden'],
  },
  {
    name: 'Swimming',
    mains: ['Wetsuit', 'Swimsuit', 'Swim Goggles', 'Paddle Board'],
    accessories: ['Swim Cap', 'Fins', 'Kickboard', 'Dry Bag'],
    consumables: ['Anti-Fog Spray', 'Earplugs', 'Chlorine Shampoo'],
    next: ['Running', 'Cycling'],
  },
  {
    name: 'Art',
    mains: ['Easel', 'Paint Set', 'Sketchbook', 'Drawing Tablet'],
    accessories: ['Brush Set', 'Palette', 'Art Bag', 'Tablet Stylus'],
    consumables: ['Canvas Board', 'Acrylic Paint', 'Charcoal'],
    next: ['Books', 'Photography'],
  },
];

/** Brand names; brand b keeps to tier b % 3. */
export const BRANDS = [
  'Alpine',
  'Nordic',
  'Urban',
  'Classic',
  'Compact',
  'Summit',
  'Everyday',
  'Studio',
  'Field',
  'Cloud',
  'Harbor',
  'Ember',
  'Willow',
  'Slate',
  'Coral',
  'Meridian',
  'Juniper',
  'Atlas',
];
const VARIANTS = ['', ' Mini', ' II', ' Plus', ' XL', ' Go', ' Max', ' Air', ' One', ' S', ' Duo'];

/** Brands with a line in each category: its mains and the accessories and consumables for them. */
const LINES_PER_CATEGORY = 8;
/** Of every 5 products of a line, 2 mains, 2 accessories and a consumable. */
const ROLE_CYCLE: readonly Role[] = ['main', 'accessory', 'main', 'accessory', 'consumable'];
const BASE_PRICE: Record<Role, [number, number]> = {
  main: [60, 400],
  accessory: [12, 60],
  consumable: [4, 25],
};
const TIER_PRICE = [0.6, 1, 1.8];
/** Zipf exponents of popularity: of a category's lines, and of a line's products of one role. */
const LINE_SKEW = 0.7;
const ITEM_SKEW = 0.5;
/** Accessories in a main's kit, consumables in its refills. */
const KIT_SIZE = 3;
const REFILLS = 2;

export interface Catalogue {
  products: Product[];
  /** Internal id (1-based) to its brand's tier (0..2); index 0 unused. */
  tierOf: Int32Array;
  /** Internal id to its brand's index in BRANDS; index 0 unused. */
  brandOf: Int32Array;
  /** Internal id to its role in its line; index 0 unused (a hole). */
  roleOf: Role[];
  /** Internal id to its popularity weight (Zipf over lines, and within a line). */
  popularity: Float64Array;
  /** Per category: its main items and accessories, and the categories its visits go on to. */
  categories: { mains: number[]; accessories: number[]; next: number[] }[];
  /** Category popularity weights (Zipf). */
  categoryWeights: number[];
  /** Each main item's accessories from its line, in the order shoppers add them to it. */
  kits: Map<number, number[]>;
  /** Each main item's consumables from its line, in the order shoppers buy them later. */
  refills: Map<number, number[]>;
}

export function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** A line's products by role, each with the index of its noun in the category's list. */
type Line = Record<Role, { id: number; noun: number }[]>;

/** The line's first product of each noun, in the nouns' order; nouns it lacks are skipped. */
function byNoun(items: Line[Role], nouns: readonly number[]): number[] {
  return nouns.flatMap((noun) => items.find((item) => item.noun === noun)?.id ?? []);
}

export function generateCatalogue(random: () => number, productsPerCategory: number): Catalogue {
  const total = CATEGORIES.length * productsPerCategory;
  const products: Product[] = [];
  const tierOf = new Int32Array(total + 1);
  const brandOf = new Int32Array(total + 1);
  const roleOf: Role[] = [];
  const popularity = new Float64Array(total + 1);
  const usedNames = new Set<string>();
  const categories: Catalogue['categories'] = [];
  const kits = new Map<number, number[]>();
  const refills = new Map<number, number[]>();
  const indexOf = new Map(CATEGORIES.map((c, i) => [c.name, i]));

  CATEGORIES.forEach((category, c) => {
    const brands = shuffleInPlace(
      BRANDS.map((_, b) => b),
      random,
    ).slice(0, LINES_PER_CATEGORY);
    const lines: Line[] = brands.map(() => ({ main: [], accessory: [], consumable: [] }));
    const nounsOf: Record<Role, string[]> = {
      main: category.mains,
      accessory: category.accessories,
      consumable: category.consumables,
    };
    for (let k = 0; k < productsPerCategory; k++) {
      const l = k % brands.length;
      const line = lines[l] as Line;
      const role = ROLE_CYCLE[Math.floor(k / brands.length) % ROLE_CYCLE.length] as Role;
      // Each line makes every kind of product in turn, so its kits are complete.
      const noun = line[role].length % nounsOf[role].length;
      const nounName = nounsOf[role][noun] as string;
      const b = brands[l] as number;
      const brand = BRANDS[b] as string;
      const tier = b % TIERS.length;
      let name = '';
      for (let v = 0; name === '' || usedNames.has(name); v++) {
        const variant = v < VARIANTS.length ? (VARIANTS[v] as string) : ` ${v}`;
        name = `${brand} ${nounName}${variant}`;
      }
      usedNames.add(name);
      const id = products.length + 1;
      const [low, high] = BASE_PRICE[role];
      const price = (low + random() * (high - low)) * (TIER_PRICE[tier] as number);
      products.push({
        id: `p${String(id).padStart(4, '0')}`,
        name,
        category: category.name,
        price: Math.max(1, Math.round(price)) - 0.01,
        hue: Math.round((c * 360) / CATEGORIES.length + random() * 12) % 360,
        brand,
        description: `${TIERS[tier]} ${nounName.toLowerCase()} by ${brand}`,
      });
      tierOf[id] = tier;
      brandOf[id] = b;
      roleOf[id] = role;
      popularity[id] = 1 / ((1 + l) ** LINE_SKEW * (1 + line[role].length) ** ITEM_SKEW);
      line[role].push({ id, noun });
    }

    // What fits what goes by kind of product, the same in every line of the category, and
    // comes from the main's own line: a model can learn both halves from any main, a Markov
    // chain only item by item. Every kit of a category starts with the same kind of
    // accessory (a scale, whatever the coffee maker); what follows it depends on the main.
    const first = Math.floor(random() * category.accessories.length);
    const kitNouns = category.mains.map(() => [
      first,
      ...shuffleInPlace(
        category.accessories.map((_, i) => i).filter((i) => i !== first),
        random,
      ).slice(0, KIT_SIZE - 1),
    ]);
    const refillNouns = category.mains.map(() =>
      shuffleInPlace(
        category.consumables.map((_, i) => i),
        random,
      ).slice(0, REFILLS),
    );
    for (const line of lines) {
      for (const main of line.main) {
        kits.set(main.id, byNoun(line.accessory, kitNouns[main.noun] as number[]));
        refills.set(main.id, byNoun(line.consumable, refillNouns[main.noun] as number[]));
      }
    }
    categories.push({
      mains: lines.flatMap((line) => line.main.map((item) => item.id)),
      accessories: lines.flatMap((line) => line.accessory.map((item) => item.id)),
      next: category.next.map((name) => indexOf.get(name) as number),
    });
  });

  return {
    products,
    tierOf,
    brandOf,
    roleOf,
    popularity,
    categories,
    categoryWeights: CATEGORIES.map((_, c) => 1 / (1 + c) ** 0.6),
    kits,
    refills,
  };
}
