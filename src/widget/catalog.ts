/**
 * The product metadata the widget shows: a JSON array of { id, name, category?, price?,
 * hue?, image? } (public/storefront/catalog.json is one). Fetched once per URL and shared
 * by every element on the page; a host can also hand the element an array directly.
 */
import { ANY_IMAGE_ORIGIN, type ImageOrigins } from './attributes.ts';
import { WidgetError } from './errors.ts';

export interface CatalogProduct {
  /** The model's item id (as its package's id map lists it). */
  id: string;
  name: string;
  category?: string;
  price?: number;
  /** Hue (0-360) of the generated thumbnail, when there is no image. */
  hue?: number;
  /**
   * A thumbnail URL, made absolute against the catalogue's URL (the page's for a catalogue
   * given as a property). Shown only if imageSource allows it, and the page's CSP img-src.
   */
  image?: string;
}

export type Catalog = ReadonlyMap<string, CatalogProduct>;

const cache = new Map<string, Promise<Catalog>>();

/**
 * Checks every entry; the first bad one is named, so a broken export is found at once.
 * Relative `image` URLs are resolved against `base` here, where the catalogue's URL is known.
 * An image that will never be shown (javascript:, unparsable) is not a bad entry: the rule
 * is the widget's, applied when drawing (imageSource), and one row must not sink the list.
 */
export function parseCatalog(data: unknown, source: string, base: string): Catalog {
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
    // An empty image would resolve to the catalogue's own URL: it means none.
    if (image !== undefined && image !== '') product.image = absoluteUrl(image, base);
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
  return parseCatalog(data, url, url);
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

function absoluteUrl(url: string, base: string): string {
  try {
    return new URL(url, base).href;
  } catch {
    // Kept as given: imageSource refuses what the URL API cannot read.
    return url;
  }
}

/** Whether a catalogue image is requested: its URL, or why not. */
export type ImageSource =
  | { allowed: true; url: string }
  | {
      allowed: false;
      /** What was refused, once per which a host is told: an origin, a scheme, or 'invalid'. */
      key: string;
      reason: string;
    };

/**
 * Decides whether `image` (absolute, see parseCatalog) is requested. Only http: and https:
 * are: a javascript: URL must never reach a sink, and data:, blob: or file: ones are either
 * a way round the origin rule or a path into the shopper's machine. The page's own origin
 * may serve images (it serves the catalogue anyway); any other must be in `allowed`, since
 * which images a list fetches follows from the shopper's history.
 */
export function imageSource(image: string, pageOrigin: string, allowed: ImageOrigins): ImageSource {
  let url: URL;
  try {
    url = new URL(image);
  } catch {
    return { allowed: false, key: 'invalid', reason: `image ${image} is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      allowed: false,
      key: url.protocol,
      reason: `a ${url.protocol} image is never loaded, only http(s) ones`,
    };
  }
  if (url.origin === pageOrigin || allowed.has(ANY_IMAGE_ORIGIN) || allowed.has(url.origin)) {
    return { allowed: true, url: url.href };
  }
  return {
    allowed: false,
    key: url.origin,
    reason: `images from ${url.origin} are not loaded unless image-origins lists that origin`,
  };
}
