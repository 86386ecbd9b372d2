/**
 * What the demo can run: the generated storefront (always), and MovieLens 1M with real
 * titles when the dev server has the data directory (src/pages/dev-server/local-data.ts).
 */
import { readItemIds } from '../../package/reader.ts';
import { urlSource } from '../../package/source.ts';
import type { TitlesResponse } from '../dev-server/local-data.ts';
import {
  type Catalogue,
  type CatalogueItem,
  interleaveByCategory,
  makeCatalogue,
} from './catalogue.ts';
import { formatPrice } from './format.ts';

/** The storefront's model package. The one place to name it. */
export const STOREFRONT_MODEL = '/models/storefront-compact';

/**
 * The storefront's ranker: a DeepFM trained on the context storefront's impression log,
 * pruned by Shaver, its fusion weight fitted against STOREFRONT_MODEL
 * (scripts/pipeline-storefront-two-stage.sh; docs/results/storefront.md, "Two stages").
 */
export const STOREFRONT_RANKER = '/models/storefront-ranker';

/**
 * The ML-1M package the demo runs: the most accurate on validation among the packages of at
 * most 128 KiB on the ML-1M frontier (docs/results/ml-1m-frontier.md), picked by
 * scripts/pick-from-frontier.ts, since a shopper pays for every byte before the first answer.
 */
export const ML1M_MODEL = '/models/ml-1m-compact';

/** The storefront catalogue: [{ id, name, category, price, hue }], ids as in the model's id map. */
const STOREFRONT_CATALOG = '/storefront/catalog.json';

/** Served by the local-data dev-server plugin (ML1M_TITLES_PATH there). */
const ML1M_TITLES = '/local-data/ml-1m/titles.json';

export type SourceKey = 'storefront' | 'ml-1m';

export interface DemoSource {
  key: SourceKey;
  model: string;
  /** The second stage, re-ranking the model's candidates in the local context, if any. */
  ranker?: string;
  /** One history per source: their item ids have nothing in common. */
  user: string;
  /** What an item is, for the page's sentences. */
  noun: { one: string; many: string };
  loadCatalogue(): Promise<Catalogue>;
}

export const STOREFRONT: DemoSource = {
  key: 'storefront',
  model: STOREFRONT_MODEL,
  ranker: STOREFRONT_RANKER,
  user: 'demo-storefront',
  noun: { one: 'product', many: 'products' },
  loadCatalogue: loadStorefront,
};

/** The ML-1M source, when the titles endpoint has them. */
export function ml1mSource(titles: Extract<TitlesResponse, { available: true }>): DemoSource {
  return {
    key: 'ml-1m',
    model: ML1M_MODEL,
    user: 'demo-ml-1m',
    noun: { one: 'film', many: 'films' },
    loadCatalogue: () => loadMl1m(titles),
  };
}

/** The titles, or null when this server has none (no data directory, a static build). */
export async function probeMl1mTitles(): Promise<Extract<
  TitlesResponse,
  { available: true }
> | null> {
  // Only the dev server has the endpoint; a build does not even ask.
  if (!import.meta.env.DEV) return null;
  try {
    const response = await fetch(ML1M_TITLES, { cache: 'no-store' });
    if (!response.ok || !response.headers.get('content-type')?.includes('json')) return null;
    const body = (await response.json()) as TitlesResponse;
    return body.available && Array.isArray(body.movies) ? body : null;
  } catch {
    return null;
  }
}

interface StorefrontProduct {
  id: string;
  name: string;
  category: string;
  price: number;
  hue: number;
}

async function loadStorefront(): Promise<Catalogue> {
  const response = await fetch(STOREFRONT_CATALOG);
  if (!response.ok) throw new Error(`${STOREFRONT_CATALOG}: HTTP ${response.status}`);
  const products: unknown = await response.json();
  if (!Array.isArray(products) || !products.every(isProduct)) {
    throw new Error(`${STOREFRONT_CATALOG} is not a list of { id, name, category, price, hue }`);
  }
  const items = products.map(
    (p): CatalogueItem => ({
      id: p.id,
      name: p.name,
      category: p.category,
      tags: [p.category],
      hue: p.hue,
      detail: `${p.category} · ${formatPrice(p.price)}`,
    }),
  );
  return makeCatalogue(interleaveByCategory(items));
}

function isProduct(p: unknown): p is StorefrontProduct {
  const q = p as StorefrontProduct;
  return (
    typeof q === 'object' &&
    q !== null &&
    typeof q.id === 'string' &&
    typeof q.name === 'string' &&
    typeof q.category === 'string' &&
    typeof q.price === 'number' &&
    typeof q.hue === 'number'
  );
}

async function loadMl1m(titles: Extract<TitlesResponse, { available: true }>): Promise<Catalogue> {
  const known = await modelItemIds(ML1M_MODEL);
  const items = titles.movies
    .filter((movie) => known === null || known.has(movie.id))
    .map(
      (movie): CatalogueItem => ({
        id: movie.id,
        name: readableTitle(movie.title),
        category: movie.genres[0] ?? 'Film',
        tags: movie.genres,
        hue: hueOf(movie.id),
        detail: movie.genres.join(' · '),
      }),
    );
  return makeCatalogue(items);
}

/**
 * The ids the model knows (its id map, read and verified by the package reader whichever
 * file and encoding it uses): movies.dat lists films nobody rated, which the model has
 * never seen. null when the map cannot be read; every film is shown then, and the model's
 * own loading reports what is wrong with the package.
 */
async function modelItemIds(model: string): Promise<Set<string> | null> {
  try {
    const { itemIds } = await readItemIds(urlSource(model));
    return itemIds ? new Set(itemIds) : null;
  } catch {
    return null;
  }
}

/** "Matrix, The (1999)" as a person would write it: "The Matrix (1999)". */
export function readableTitle(title: string): string {
  const match = /^(.*), (The|A|An|Les|La|Le|L'|Il|El|Das|Der|Die) (\(\d{4}\))$/.exec(title);
  if (!match) return title;
  const [, rest, article, year] = match;
  return `${article}${article?.endsWith("'") ? '' : ' '}${rest} ${year}`;
}

/** A stable colour per id. */
function hueOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % 360;
}
