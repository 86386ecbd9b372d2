/**
 * The product metadata the widget shows: a JSON array of { id, name, category?, price?,
 * hue?, image? } (public/storefront/catalog.json is one). Fetched once per URL and shared
 * by every element on the page; a host can also hand the element an array directly.
 */
import { WidgetError } from './errors.ts';

export interface CatalogProduct {
  /** The model's item id (its items.txt). */
  id: string;
  name: string;
  category?: string;
  price?: number;
  /** Hue (0-360) of the generated thumbnail, when there is no image. */
  hue?: number;
  /** A thumbnail URL (the host page's CSP img-src decides where it may come from). */
  image?: string;
}

export type Catalog = ReadonlyMap<string, CatalogProduct>;

const cache = new Map<string, Promise<Catalog>>();

/** Checks every entry; the first bad one is named, so a broken export is found at once. */
export function parseCatalog(data: unknown, source: string): Catalog {
  if (!Array.isArray(data)) {
    throw new WidgetError('bad-catalog', `catalog ${source}: expected a JSON array of products`);
  }
  const products = new Map<string, CatalogProduct>();
  data.forEach((entry: unknown, i) => {
    const bad = (problem: string) =>
      new WidgetError('bad-catalog', `catalog ${source}: entry ${i} ${problem}`);
    if (entry === null || typeof entry !== 'object') throw bad('is not an object');
    const { id, name, category, price, hue, image } = entry as Record<string, unknown>;
    if (!((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id))))
      throw bad('has no id (a non-empty string or a number)');
    if (typeof name !== 'string') throw bad('has no name (a string)');
    if (category !== undefined && typeof category !== 'string')
      throw bad('has a non-string category');
    if (price !== undefined && !(typeof price === 'number' && Number.isFinite(price)))
      throw bad('has a price that is not a number');
    if (hue !== undefined && !(typeof hue === 'number' && Number.isFinite(hue)))
      throw bad('has a hue that is not a number');
    if (image !== undefined && typeof image !== 'string') throw bad('has a non-string image');
    const product: CatalogProduct = { id: String(id), name };
    if (category !== undefined) product.category = category;
    if (price !== undefined) product.price = price;
    if (hue !== undefined) product.hue = hue;
    if (image !== undefined) product.image = image;
    products.set(product.id, product);
  });
  return products;
}

async function fetchCatalog(url: string): Promise<Catalog> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'same-origin' });
  } catch (cause) {
    throw new WidgetError('catalog-unavailable', `catalog ${url}: ${String(cause)}`, { cause });
  }
  if (!response.ok) {
    throw new WidgetError('catalog-unavailable', `catalog ${url}: HTTP ${response.status}`);
  }
  let data: unknown;
  try {
    data = await response.json();
  } catch (cause) {
    throw new WidgetError('bad-catalog', `catalog ${url}: not JSON`, { cause });
  }
  return parseCatalog(data, url);
}

/** The catalogue at `url` (resolved against the page), fetched once; a failure is not kept. */
export function loadCatalog(url: string): Promise<Catalog> {
  const absolute = new URL(url, document.baseURI).href;
  let pending = cache.get(absolute);
  if (!pending) {
    pending = fetchCatalog(absolute);
    cache.set(absolute, pending);
    pending.catch(() => cache.delete(absolute));
  }
  return pending;
}
