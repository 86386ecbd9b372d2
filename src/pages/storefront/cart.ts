/** The shopper's cart, in this page's memory (a real shop keeps it on its server). */
import type { Product } from './catalogue.ts';
import { formatPrice } from './format.ts';

export class Cart {
  private readonly lines = new Map<string, { product: Product; quantity: number }>();

  constructor(
    private readonly list: HTMLElement,
    private readonly total: HTMLElement,
    private readonly count: HTMLElement,
  ) {
    this.render();
  }

  add(product: Product): void {
    const line = this.lines.get(product.id);
    if (line) line.quantity++;
    else this.lines.set(product.id, { product, quantity: 1 });
    this.render();
  }

  private render(): void {
    let sum = 0;
    let items = 0;
    const rows = [...this.lines.values()].map(({ product, quantity }) => {
      sum += product.price * quantity;
      items += quantity;
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = quantity > 1 ? `${quantity} × ${product.name}` : product.name;
      const price = document.createElement('span');
      price.textContent = formatPrice(product.price * quantity);
      li.append(name, price);
      return li;
    });
    if (rows.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'muted';
      empty.textContent = 'Nothing yet.';
      rows.push(empty);
    }
    this.list.replaceChildren(...rows);
    this.total.textContent = formatPrice(sum);
    this.count.textContent = String(items);
  }
}
