/**
 * The shop's products, from the same JSON the widget reads (public/storefront/catalog.json).
 * A real shop would render these on its server; this one fetches them once.
 */
export interface Product {
  id: string;
  name: string;
  category: string;
  price: number;
  hue: number;
  brand?: string;
  description?: string;
}

export const CATALOGUE_URL = '/storefront/catalog.json';

export async function loadProducts(url = CATALOGUE_URL): Promise<Product[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const data: unknown = await response.json();
  if (!Array.isArray(data)) throw new Error(`${url}: expected a JSON array of products`);
  return data.filter(
    (p): p is Product =>
      typeof p?.id === 'string' && typeof p.name === 'string' && typeof p.price === 'number',
  );
}

/** Each category's first product, then each one's second, ...: the first screen shows every aisle. */
export function browseOrder(products: readonly Product[]): Product[] {
  const rank = new Map<string, number>();
  return products
    .map((product) => {
      const r = rank.get(product.category) ?? 0;
      rank.set(product.category, r + 1);
      return { product, r };
    })
    .sort((a, b) => a.r - b.r)
    .map(({ product }) => product);
}

export function categoriesOf(products: readonly Product[]): string[] {
  return [...new Set(products.map((p) => p.category))];
}
