/**
 * The element's attributes, read and checked in one place. A value that cannot be used is
 * a WidgetError naming the attribute, shown by the element instead of a silent default.
 */
import type { BackendPreference } from '../index.ts';
import { WidgetError } from './errors.ts';

export const DEFAULT_K = 6;
/** A widget shows a handful of items; the runtime itself allows up to 1000. */
export const MAX_K = 50;
export const DEFAULT_HEADING = 'Recommended for you';
export const DEFAULT_NOTE = 'Picked in your browser. Your history stays on this device.';
/**
 * No other origin: which images a list shows follows from the shopper's history, so a
 * request to an image host tells it something derived from that history. Only the page's own
 * origin, which serves the catalogue anyway, is trusted without the host saying so.
 */
export const DEFAULT_IMAGE_ORIGINS = '';
/** In `image-origins`, any http(s) origin. */
export const ANY_IMAGE_ORIGIN = '*';

/** Origins (`https://cdn.shop.example`, no path) the host lets images come from; may hold '*'. */
export type ImageOrigins = ReadonlySet<string>;

export interface WidgetConfig {
  model: string;
  /**
   * A ranker package's URL, or null: the second stage that re-orders the model's candidates
   * in the shopper's local context (hour, weekday, device, locale), read on the device.
   */
  ranker: string | null;
  k: number;
  /** The catalogue's URL, or null (a catalogue given as a property, or none). */
  catalog: string | null;
  /** Passed to createRecommender, which rejects a name it does not know. */
  backend: BackendPreference;
  user: string;
  heading: string;
  note: string;
  currency: string;
  /** Other origins catalogue images may come from (the page's own always may). */
  imageOrigins: ImageOrigins;
  /**
   * The catalogue category of the page the shopper is on: with no history yet, the most
   * popular items of it come first. Null: the whole shop's.
   */
  category: string | null;
}

/** Attributes whose change needs a new recommender (a new model or another user's history). */
export const RESTART_ATTRIBUTES = ['model', 'ranker', 'backend', 'user'] as const;
/** Attributes whose change only needs the list drawn again. */
export const RENDER_ATTRIBUTES = [
  'k',
  'catalog',
  'heading',
  'note',
  'currency',
  'image-origins',
  'category',
] as const;

/**
 * `image-origins`: space-separated http(s) origins, or `*`. A token with a path, a query or
 * credentials is refused rather than cut down to its origin, so that a host who wrote
 * `https://cdn.example/shop/` does not believe the rest of that origin is still shut.
 */
export function parseImageOrigins(text: string | null): ImageOrigins {
  const origins = new Set<string>();
  for (const token of (text ?? DEFAULT_IMAGE_ORIGINS).split(/\s+/)) {
    if (token === '') continue;
    if (token === ANY_IMAGE_ORIGIN) {
      origins.add(token);
      continue;
    }
    const bad = () =>
      new WidgetError(
        'bad-attribute',
        `<pocket-recs image-origins="${text}">: "${token}" is not an http(s) origin ` +
          '(such as https://cdn.shop.example) or *',
      );
    let url: URL;
    try {
      url = new URL(token);
    } catch {
      throw bad();
    }
    const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !bare) throw bad();
    origins.add(url.origin);
  }
  return origins;
}

export function readConfig(element: Element): WidgetConfig {
  const model = element.getAttribute('model')?.trim() ?? '';
  if (model === '') {
    throw new WidgetError(
      'bad-attribute',
      '<pocket-recs> needs a model attribute: the URL of a model package directory',
    );
  }
  const kText = element.getAttribute('k');
  const k = kText === null ? DEFAULT_K : Number(kText);
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new WidgetError(
      'bad-attribute',
      `<pocket-recs k="${kText}">: k must be a whole number from 1 to ${MAX_K}`,
    );
  }
  const currency = (element.getAttribute('currency') ?? 'USD').toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new WidgetError(
      'bad-attribute',
      `<pocket-recs currency="${currency}">: currency must be a three-letter ISO 4217 code`,
    );
  }
  return {
    model,
    ranker: element.getAttribute('ranker')?.trim() || null,
    k,
    catalog: element.getAttribute('catalog') || null,
    backend: (element.getAttribute('backend') || 'auto') as BackendPreference,
    user: element.getAttribute('user') || 'default',
    heading: element.getAttribute('heading') ?? DEFAULT_HEADING,
    note: element.getAttribute('note') ?? DEFAULT_NOTE,
    currency,
    imageOrigins: parseImageOrigins(element.getAttribute('image-origins')),
    category: element.getAttribute('category') || null,
  };
}
