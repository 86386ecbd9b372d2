/**
 * Builds the element's shadow DOM. Catalogue text (names, categories, ids) only ever
 * reaches the DOM through textContent and attribute setters, never as HTML, so a product
 * name such as `<img src=x onerror=...>` is shown as those characters and runs nothing.
 */
import type { CatalogProduct } from './catalog.ts';
import type { RecommendedItem } from './events.ts';

export interface Frame {
  heading: string;
  note: string;
}

export interface ListOptions {
  currency: string;
  locale: string | undefined;
  onSelect: (entry: RecommendedItem, rank: number) => void;
  /** The URL to load for the product's image, or null for the generated thumbnail. */
  imageUrl: (product: CatalogProduct) => string | null;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  part = className,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (part) node.setAttribute('part', part);
  return node;
}

/** The heading, the note and `body` (a list or a message) inside one section. */
export function frame({ heading, note }: Frame, body: Node): HTMLElement {
  const section = el('section', '', 'container');
  const title = el('h2', '', 'heading');
  title.textContent = heading;
  const small = el('p', 'note');
  small.textContent = note;
  section.setAttribute('aria-label', heading);
  section.append(title, small, body);
  return section;
}

/** Grey cards while the model loads (or before the element has been scrolled to). */
export function placeholderList(k: number): HTMLElement {
  const list = el('ol', 'list');
  list.setAttribute('aria-busy', 'true');
  for (let i = 0; i < k; i++) list.append(el('li', 'skeleton', ''));
  return list;
}

export function message(text: string, kind: 'info' | 'error'): HTMLElement {
  const p = el('p', kind === 'error' ? 'message error' : 'message', 'message');
  p.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  p.textContent = text;
  return p;
}

function thumbnail(entry: RecommendedItem, options: ListOptions): HTMLElement {
  const thumb = el('span', 'thumb');
  const product = entry.product;
  const src = product?.image === undefined ? null : options.imageUrl(product);
  if (src !== null) {
    const img = document.createElement('img');
    img.alt = '';
    // All set before src, which starts the request: the image host learns which products
    // were shown, and not also the page they were shown on (no Referer), nor who the shopper
    // is (crossOrigin 'anonymous' sends another origin no cookies and takes none back; the
    // host must answer with Access-Control-Allow-Origin, or the drawn thumbnail is shown).
    img.referrerPolicy = 'no-referrer';
    img.crossOrigin = 'anonymous';
    img.loading = 'lazy';
    // A broken, blocked or refused image (404, CSP, CORS) leaves the drawn thumbnail, not a hole.
    img.addEventListener('error', () => drawnThumbnail(thumb, entry), { once: true });
    img.src = src;
    thumb.append(img);
  } else {
    drawnThumbnail(thumb, entry);
  }
  thumb.setAttribute('aria-hidden', 'true');
  return thumb;
}

/** The generated thumbnail: the name's first letter on the product's hue. */
function drawnThumbnail(thumb: HTMLElement, entry: RecommendedItem): void {
  const product = entry.product;
  // A custom property set through the CSSOM, which a CSP without 'unsafe-inline' allows.
  if (product?.hue !== undefined) thumb.style.setProperty('--_hue', String(product.hue));
  thumb.textContent = (product?.name ?? entry.item).trim().slice(0, 1).toUpperCase();
}

function price(entry: RecommendedItem, options: ListOptions): HTMLElement | null {
  const amount = entry.product?.price;
  if (amount === undefined) return null;
  const line = el('span', 'price');
  line.textContent = new Intl.NumberFormat(options.locale, {
    style: 'currency',
    currency: options.currency,
  }).format(amount);
  return line;
}

export function recommendationList(items: RecommendedItem[], options: ListOptions): HTMLElement {
  const list = el('ol', 'list');
  items.forEach((entry, rank) => {
    const li = document.createElement('li');
    const card = el('button', 'card', 'item');
    card.type = 'button';
    card.dataset.item = entry.item;
    card.dataset.reason = entry.reason;
    const name = el('span', 'name');
    name.textContent = entry.product?.name ?? entry.item;
    card.append(thumbnail(entry, options), name);
    if (entry.product?.category) {
      const category = el('span', 'meta');
      category.textContent = entry.product.category;
      card.append(category);
    }
    const cost = price(entry, options);
    if (cost) card.append(cost);
    card.addEventListener('click', () => options.onSelect(entry, rank));
    li.append(card);
    list.append(li);
  });
  return list;
}
