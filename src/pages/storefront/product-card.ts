/**
 * A product in the grid. `data-pocketrec-item` is all the widget needs to learn from a
 * click on it; the shop's own handler opens the product. Text goes in as text only.
 */
import type { Product } from './catalogue.ts';
import { formatPrice } from './format.ts';
import { thumbnail } from './thumbnail.ts';

export function productCard(product: Product, open: (product: Product) => void): HTMLElement {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'product';
  button.dataset.pocketrecItem = product.id;
  const name = document.createElement('span');
  name.className = 'product-name';
  name.textContent = product.name;
  const meta = document.createElement('span');
  meta.className = 'product-meta';
  meta.textContent = product.category;
  const price = document.createElement('span');
  price.className = 'product-price';
  price.textContent = formatPrice(product.price);
  button.append(thumbnail(product), name, meta, price);
  button.addEventListener('click', () => open(product));
  li.append(button);
  return li;
}
