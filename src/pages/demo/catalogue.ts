/**
 * The catalogue the page shows, whichever model it runs: the generated storefront's
 * products or MovieLens films. Browsing is filtering and paging over an array, so a few
 * thousand items cost one page of cards in the DOM, never all of them.
 */

export interface CatalogueItem {
  /** The model's external item id (as its package's id map lists it). */
  id: string;
  name: string;
  /** Drawn on the thumbnail (storefront category, a film's first genre). */
  category: string;
  /** Every category chip the item appears under. */
  tags: string[];
  /** 0..359, the thumbnail's colour. */
  hue: number;
  /** The second line of a card: price, genres, year. */
  detail: string;
}

export interface Catalogue {
  /** In the order the page browses them. */
  items: CatalogueItem[];
  byId: Map<string, CatalogueItem>;
  /** Chip order: as first met in `items`. */
  categories: string[];
}

export function makeCatalogue(items: CatalogueItem[]): Catalogue {
  const categories: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    for (const tag of item.tags) {
      if (!seen.has(tag)) {
        seen.add(tag);
        categories.push(tag);
      }
    }
  }
  return { items, byId: new Map(items.map((item) => [item.id, item])), categories };
}

export interface Query {
  text: string;
  /** null: every category. */
  category: string | null;
}

/** Items matching every word of the search (in the name or a tag) and the category. */
export function filterCatalogue(catalogue: Catalogue, query: Query): CatalogueItem[] {
  const words = query.text.toLowerCase().split(/\s+/).filter(Boolean);
  return catalogue.items.filter((item) => {
    if (query.category !== null && !item.tags.includes(query.category)) return false;
    if (words.length === 0) return true;
    const haystack = `${item.name} ${item.tags.join(' ')}`.toLowerCase();
    return words.every((word) => haystack.includes(word));
  });
}

export interface PageOf<T> {
  items: T[];
  /** 0-based, clamped to the pages there are. */
  page: number;
  pages: number;
}

export function pageOf<T>(items: readonly T[], page: number, size: number): PageOf<T> {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const clamped = Math.min(Math.max(0, page), pages - 1);
  return { items: items.slice(clamped * size, (clamped + 1) * size), page: clamped, pages };
}

/**
 * Round-robin over the categories, each in its own order: the first screen of "All" shows
 * the whole shop rather than the first aisle.
 */
export function interleaveByCategory(items: readonly CatalogueItem[]): CatalogueItem[] {
  const rank = new Map<string, number>();
  return items
    .map((item, index) => {
      const r = rank.get(item.category) ?? 0;
      rank.set(item.category, r + 1);
      return { item, r, index };
    })
    .sort((a, b) => a.r - b.r || a.index - b.index)
    .map(({ item }) => item);
}
