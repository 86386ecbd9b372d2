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

export interface WidgetConfig {
  model: string;
  k: number;
  /** The catalogue's URL, or null (a catalogue given as a property, or none). */
  catalog: string | null;
  /** Passed to createRecommender, which rejects a name it does not know. */
  backend: BackendPreference;
  user: string;
  heading: string;
  note: string;
  currency: string;
}

/** Attributes whose change needs a new recommender (a new model or another user's history). */
export const RESTART_ATTRIBUTES = ['model', 'backend', 'user'] as const;
/** Attributes whose change only needs the list drawn again. */
export const RENDER_ATTRIBUTES = ['k', 'catalog', 'heading', 'note', 'currency'] as const;

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
    k,
    catalog: element.getAttribute('catalog') || null,
    backend: (element.getAttribute('backend') || 'auto') as BackendPreference,
    user: element.getAttribute('user') || 'default',
    heading: element.getAttribute('heading') ?? DEFAULT_HEADING,
    note: element.getAttribute('note') ?? DEFAULT_NOTE,
    currency,
  };
}
