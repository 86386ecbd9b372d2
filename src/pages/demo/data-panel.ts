/**
 * "Your data": the history exactly as this browser stores it, a JSON export of it, and an
 * erase that deletes every pocketrec database (eraseLocalData), model cache included.
 */
import type { HistoryEvent } from '../../index.ts';
import type { Catalogue } from './catalogue.ts';
import { byId, el } from './dom.ts';
import { formatTime, plural } from './format.ts';
import { thumbnail } from './thumbnail.ts';

/** More would only make the panel long; the export has every event. */
const SHOWN = 50;

export interface DataPanelActions {
  erase(): Promise<void>;
}

export class DataPanel {
  private readonly list = byId<HTMLOListElement>('history');
  private readonly summary = byId('history-summary');
  private readonly exportButton = byId<HTMLButtonElement>('export');
  private readonly eraseButton = byId<HTMLButtonElement>('erase');
  private events: readonly HistoryEvent[] = [];

  constructor(
    private readonly catalogue: Catalogue,
    private readonly modelName: string,
    actions: DataPanelActions,
  ) {
    this.exportButton.addEventListener('click', () => this.download());
    this.eraseButton.addEventListener('click', async () => {
      this.eraseButton.disabled = true;
      this.exportButton.disabled = true;
      await actions.erase();
    });
    this.exportButton.disabled = false;
    this.eraseButton.disabled = false;
  }

  show(events: readonly HistoryEvent[]): void {
    this.events = events;
    this.list.dataset.count = String(events.length);
    this.summary.textContent =
      events.length === 0
        ? 'Nothing yet. What you click is stored here, in this browser’s IndexedDB, and nowhere else.'
        : `${plural(events.length, 'event')} stored in this browser’s IndexedDB. None of it has been sent anywhere.`;
    const recent = events.slice(-SHOWN).reverse();
    this.list.replaceChildren(...recent.map((event) => this.row(event)));
    if (events.length > SHOWN) {
      this.list.append(
        el('li', {
          className: 'more',
          text: `and ${plural(events.length - SHOWN, 'earlier event')}`,
        }),
      );
    }
    this.exportButton.disabled = events.length === 0;
  }

  erased(): void {
    this.events = [];
    this.list.replaceChildren();
    this.list.dataset.count = '0';
    this.summary.textContent =
      'Erased: your history and the stored model are gone from this browser. Nothing of pocketrec is left in IndexedDB.';
    this.exportButton.disabled = true;
    this.eraseButton.hidden = true;
    byId('restart').hidden = false;
  }

  private row(event: HistoryEvent): HTMLElement {
    const item = this.catalogue.byId.get(event.item);
    return el(
      'li',
      { data: { item: event.item } },
      item ? thumbnail(item, 28) : el('span', { className: 'thumb-missing' }),
      el('span', { className: 'history-name', text: item?.name ?? event.item }),
      el('span', { className: 'history-meta', text: `${event.type} · ${formatTime(event.ts)}` }),
    );
  }

  /** A file made here from what IndexedDB holds: a blob: URL, no request leaves the page. */
  private download(): void {
    const body = {
      exported: new Date().toISOString(),
      about:
        'Your pocketrec history as stored in this browser (IndexedDB). It was never sent anywhere.',
      model: this.modelName,
      events: this.events.map((e) => ({
        item: e.item,
        name: this.catalogue.byId.get(e.item)?.name ?? null,
        type: e.type,
        ts: e.ts,
        time: new Date(e.ts).toISOString(),
      })),
    };
    const url = URL.createObjectURL(
      new Blob([`${JSON.stringify(body, null, 2)}\n`], { type: 'application/json' }),
    );
    const link = el('a', { attrs: { href: url, download: 'pocketrec-history.json' } });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
