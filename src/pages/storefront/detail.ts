/**
 * The open product. "Add to cart" is marked `data-pocketrec-type="cart"`, so the widget
 * stores that click as a cart event rather than a plain click.
 */
import type { Product } from './catalogue.ts';
import { formatPrice } from './format.ts';
import { thumbnail } from './thumbnail.ts';

function text<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, value: string) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = value;
  return node;
}

export function renderDetail(
  container: HTMLElement,
  product: Product,
  addToCart: (product: Product) => void,
): void {
  const add = document.createElement('button');
  add.type = 'button';
  add.className = 'add';
  add.textContent = 'Add to cart';
  add.dataset.pocketrecItem = product.id;
  add.dataset.pocketrecType = 'cart';
  add.addEventListener('click', () => addToCart(product));
  const body = document.createElement('div');
  body.className = 'detail-body';
  body.append(
    text(
      'p',
      'detail-category',
      product.brand ? `${product.category} · ${product.brand}` : product.category,
    ),
    text('h2', 'detail-name', product.name),
    text('p', 'detail-description', product.description ?? ''),
    text('p', 'detail-price', formatPrice(product.price)),
    add,
  );
  container.replaceChildren(thumbnail(product, 'thumb detail-thumb'), body);
  container.dataset.item = product.id;
}
