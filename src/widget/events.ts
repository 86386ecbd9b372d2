/**
 * The events <pocket-recs> dispatches. All bubble and are composed, so a listener on the
 * element, on document or on any ancestor (across shadow roots) hears them.
 */
import type { RecommendationReason } from '../index.ts';
import type { CatalogProduct } from './catalog.ts';

/** A shopper picked a recommendation. Cancelable: preventDefault() keeps the pick out of the history. */
export const SELECT_EVENT = 'pocketrec-select';
/** Something failed: a bad attribute, the model or catalogue, an event the model does not know. */
export const ERROR_EVENT = 'pocketrec-error';
/** New recommendations are on screen. */
export const UPDATE_EVENT = 'pocketrec-update';

export interface RecommendedItem {
  item: string;
  score: number;
  /** 'model': after the shopper's history; 'popular': no history yet, the most popular. */
  reason: RecommendationReason;
  /** The catalogue's entry for the item; null when the element has no catalogue. */
  product: CatalogProduct | null;
}

export interface SelectDetail extends RecommendedItem {
  /** 0-based position in the list the shopper saw. */
  rank: number;
}

export interface ErrorDetail {
  /** A RuntimeError, ModelPackageError or WidgetError code, e.g. 'unknown-item'. */
  code: string;
  message: string;
  /** The item of the event that failed, when an event failed. */
  item?: string;
}

export interface UpdateDetail {
  items: RecommendedItem[];
}

export function widgetEvent<T>(type: string, detail: T, cancelable = false): CustomEvent<T> {
  return new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable });
}
