/**
 * The widget's entry (built as dist/pocketrec-widget.js): one module script tag defines
 * <pocket-recs>, records clicks on the host page's `data-pocketrec-item` elements and puts
 * `pocketrec.track(id)`, `pocketrec.history()` and `pocketrec.clear()` on window.
 * Loading it twice (two tags, two copies) defines and listens only once.
 */
import type { HistoryEvent } from '../index.ts';
import { trackHostClicks } from './click-tracking.ts';
import { PocketRecsElement } from './pocket-recs-element.ts';
import { clear, history, track } from './tracker.ts';

export const TAG_NAME = 'pocket-recs';

export interface PocketrecWidgetApi {
  /** Records that the shopper engaged with an item (type defaults to 'view'). */
  track(item: string | number, type?: string): Promise<void>;
  /** The stored history of the first widget's user, oldest first. */
  history(): Promise<HistoryEvent[]>;
  /** Erases the history of every user the widgets on this page show, on this device. */
  clear(): Promise<void>;
}

export const pocketrec: PocketrecWidgetApi = {
  track: (item, type) => track(type === undefined ? { item } : { item, type }),
  history,
  clear,
};

declare global {
  interface HTMLElementTagNameMap {
    'pocket-recs': PocketRecsElement;
  }
}

if (!customElements.get(TAG_NAME)) {
  customElements.define(TAG_NAME, PocketRecsElement);
  trackHostClicks(document, (item, type) => track({ item, type }));
  // Not declared on Window: a page may keep its own `pocketrec` global typed otherwise.
  (globalThis as unknown as { pocketrec: PocketrecWidgetApi }).pocketrec = pocketrec;
}

export type { CatalogProduct } from './catalog.ts';
export { WidgetError, type WidgetProblem } from './errors.ts';
export type * from './events.ts';
export { PocketRecsElement };
