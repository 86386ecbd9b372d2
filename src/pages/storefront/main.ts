/**
 * The example shop around the widget. The shop's only ties to pocketrec are the ones a real
 * shop would have: `data-pocketrec-item` on its product buttons, the <pocket-recs> element,
 * its `pocketrec-select` event (open the picked product) and `window.pocketrec` for the
 * "erase my history" link. The widget itself comes from its own script tag.
 */
import type { PocketrecWidgetApi, SelectDetail } from '../../widget/index.ts';
import { Cart } from './cart.ts';
import { browseOrder, categoriesOf, loadProducts, type Product } from './catalogue.ts';
import { renderDetail } from './detail.ts';
import { productCard } from './product-card.ts';

const PAGE_SIZE = 24;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const widget = () => (globalThis as unknown as { pocketrec?: PocketrecWidgetApi }).pocketrec;

async function start(): Promise<void> {
  const products = await loadProducts();
  const byId = new Map(products.map((p) => [p.id, p]));
  const ordered = browseOrder(products);
  const cart = new Cart($('cart-items'), $('cart-total'), $('cart-count'));
  let category: string | null = null;
  let query = '';
  let shown = PAGE_SIZE;

  const open = (product: Product) => renderDetail($('detail'), product, (p) => cart.add(p));

  const showListing = () => {
    const q = query.trim().toLowerCase();
    const matches = ordered.filter(
      (p) =>
        (category === null || p.category === category) &&
        (!q || `${p.name} ${p.category} ${p.brand ?? ''}`.toLowerCase().includes(q)),
    );
    $('products').replaceChildren(...matches.slice(0, shown).map((p) => productCard(p, open)));
    $('listing-title').textContent = category ?? (q ? 'Search results' : 'All products');
    $('listing-count').textContent = `${matches.length.toLocaleString('en-US')} products`;
    $('more').hidden = matches.length <= shown;
  };

  const aisles = [null, ...categoriesOf(products)];
  const chips = aisles.map((name) => {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.textContent = name ?? 'All';
    return chip;
  });
  const selectAisle = (name: string | null) => {
    category = name;
    shown = PAGE_SIZE;
    // Before the shopper's first click the widget shows what is popular in this aisle.
    if (name === null) $('recs').removeAttribute('category');
    else $('recs').setAttribute('category', name);
    chips.forEach((chip, i) => {
      chip.setAttribute('aria-pressed', String(aisles[i] === name));
    });
  };
  chips.forEach((chip, i) => {
    chip.addEventListener('click', () => {
      selectAisle(aisles[i] ?? null);
      showListing();
    });
  });
  selectAisle(null);
  $('categories').replaceChildren(
    ...chips.map((chip) => {
      const li = document.createElement('li');
      li.append(chip);
      return li;
    }),
  );

  // The search looks through the whole shop, whichever aisle was open.
  $<HTMLInputElement>('search').addEventListener('input', (event) => {
    query = (event.target as HTMLInputElement).value;
    selectAisle(null);
    showListing();
  });
  $('more').addEventListener('click', () => {
    shown += PAGE_SIZE;
    showListing();
  });
  $('cart-toggle').addEventListener('click', () => $('cart').scrollIntoView({ block: 'nearest' }));

  const recs = $('recs');
  recs.addEventListener('pocketrec-select', (event) => {
    const product = byId.get((event as CustomEvent<SelectDetail>).detail.item);
    if (!product) return;
    open(product);
    $('detail').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  });
  const showHistoryCount = async () => {
    const events = (await widget()?.history()) ?? [];
    $('history-count').textContent = events.length === 0 ? 'no' : String(events.length);
  };
  recs.addEventListener('pocketrec-update', () => void showHistoryCount().catch(() => {}));
  $('erase').addEventListener('click', () => void widget()?.clear());

  showListing();
  document.body.dataset.ready = 'true';
}

start().catch((error: unknown) => {
  $('listing-count').textContent =
    `The shop could not load: ${error instanceof Error ? error.message : String(error)}`;
  document.body.dataset.ready = 'error';
});
