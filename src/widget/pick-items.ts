/**
 * What the element lists: the model's next items for the shopper's history or, with no
 * history yet, the package's most popular items (reason 'popular'). The engine knows no
 * catalogue, so "popular in the category of this page" is worked out here, where the
 * catalogue is: the prior is asked again with that category's items as candidates, and
 * those come first, the whole shop's most popular after them.
 */
import type { Recommendation, Recommender } from '../index.ts';
import type { WidgetConfig } from './attributes.ts';
import type { Catalog } from './catalog.ts';
import type { RecommendedItem } from './events.ts';

/** Items without catalogue metadata are left out, so this many times k are asked for. */
export const SPARE_FACTOR = 4;

export async function pickItems(
  recommender: Recommender,
  config: Pick<WidgetConfig, 'k' | 'category'>,
  catalog: Catalog | null,
): Promise<RecommendedItem[]> {
  const asked = catalog ? Math.min(1000, config.k * SPARE_FACTOR) : config.k;
  let found = await recommender.recommend({ k: asked });
  if (config.category !== null && catalog && found[0]?.reason === 'popular') {
    found = await popularInCategory(recommender, config.category, catalog, asked, found);
  }
  return found
    .map(({ item, score, reason }) => ({
      item,
      score,
      reason,
      product: catalog?.get(item) ?? null,
    }))
    .filter((entry) => !catalog || entry.product !== null)
    .slice(0, config.k);
}

/**
 * The most popular of the category's items the model knows, then `everywhere` (the whole
 * shop's most popular) without them; `everywhere` alone when the model knows none of them.
 */
async function popularInCategory(
  recommender: Recommender,
  category: string,
  catalog: Catalog,
  k: number,
  everywhere: Recommendation[],
): Promise<Recommendation[]> {
  const candidates = [...catalog.values()]
    .filter((product) => product.category === category && recommender.knows(product.id))
    .map((product) => product.id);
  if (candidates.length === 0) return everywhere;
  const local = await recommender.recommend({ k, candidates });
  const listed = new Set(local.map((r) => r.item));
  return [...local, ...everywhere.filter((r) => !listed.has(r.item))];
}
