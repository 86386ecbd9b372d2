/**
 * The catalogue: search, category chips, one page of cards and a pager. Only the page on
 * screen is in the DOM, so a catalogue of thousands stays as quick as one of dozens.
 */
import {
  type Catalogue,
  type CatalogueItem,
  filterCatalogue,
  pageOf,
  type Query,
} from './catalogue.ts';
import { byId, el } from './dom.ts';
import { formatCount } from './format.ts';
import { catalogueCard, type Pick } from './product-card.ts';

const PAGE_SIZE = 24;

export class CatalogueView {
  private readonly grid = byId<HTMLUListElement>('catalogue');
  private readonly search = byId<HTMLInputElement>('search');
  private readonly chips = byId('categories');
  private readonly count = byId('result-count');
  private readonly prev = byId<HTMLButtonElement>('page-prev');
  private readonly next = byId<HTMLButtonElement>('page-next');
  private readonly status = byId('page-status');
  private query: Query = { text: '', category: null };
  private matches: CatalogueItem[] = [];
  private page = 0;

  constructor(
    private readonly catalogue: Catalogue,
    private readonly noun: { one: string; many: string },
    private readonly seen: ReadonlySet<string>,
    private readonly onPick: Pick,
  ) {
    this.search.placeholder = `Search ${formatCount(catalogue.items.length)} ${noun.many}`;
    this.search.addEventListener('input', () => this.setQuery({ text: this.search.value }));
    this.prev.addEventListener('click', () => this.turn(-1));
    this.next.addEventListener('click', () => this.turn(1));
    this.renderChips();
    this.setQuery({});
  }

  /** Redraws the page on screen, e.g. after the history was erased. */
  refresh(): void {
    this.renderPage();
  }

  /** Marks a card on screen as clicked, without redrawing (the focus stays where it is). */
  markSeen(id: string): void {
    this.grid.querySelector(`[data-item="${CSS.escape(id)}"]`)?.classList.add('seen');
  }

  private setQuery(change: Partial<Query>): void {
    this.query = { ...this.query, ...change };
    this.matches = filterCatalogue(this.catalogue, this.query);
    this.page = 0;
    this.count.textContent =
      this.matches.length === this.catalogue.items.length
        ? `${formatCount(this.matches.length)} ${this.noun.many}`
        : `${formatCount(this.matches.length)} of ${formatCount(this.catalogue.items.length)}`;
    for (const chip of this.chips.querySelectorAll<HTMLButtonElement>('button')) {
      const selected = (chip.dataset.category ?? null) === (this.query.category ?? null);
      chip.setAttribute('aria-pressed', String(selected));
    }
    this.renderPage();
  }

  private turn(step: number): void {
    this.page += step;
    this.renderPage();
    this.grid.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  private renderChips(): void {
    const chip = (label: string, category: string | null) => {
      const button = el('button', {
        className: 'chip',
        text: label,
        attrs: { type: 'button', 'aria-pressed': 'false' },
        ...(category === null ? {} : { data: { category } }),
      });
      button.addEventListener('click', () => this.setQuery({ category }));
      return button;
    };
    this.chips.replaceChildren(
      chip('All', null),
      ...this.catalogue.categories.map((c) => chip(c, c)),
    );
  }

  private renderPage(): void {
    const shown = pageOf(this.matches, this.page, PAGE_SIZE);
    this.page = shown.page;
    if (shown.items.length === 0) {
      this.grid.replaceChildren(
        el('li', { className: 'empty', text: `No ${this.noun.many} match “${this.query.text}”.` }),
      );
    } else {
      this.grid.replaceChildren(
        ...shown.items.map((item) => catalogueCard(item, this.seen.has(item.id), this.onPick)),
      );
    }
    this.grid.dataset.page = String(shown.page + 1);
    this.status.textContent = `Page ${shown.page + 1} of ${shown.pages}`;
    this.prev.disabled = shown.page === 0;
    this.next.disabled = shown.page >= shown.pages - 1;
  }
}
