/**
 * A product picture drawn in CSS from the product's hue (the catalogue is generated and has
 * no photos). The hue goes through the CSSOM, which the page's CSP allows, and the initial
 * is text.
 */
import type { Product } from './catalogue.ts';

export function thumbnail(product: Product, className = 'thumb'): HTMLElement {
  const thumb = document.createElement('span');
  thumb.className = className;
  thumb.setAttribute('aria-hidden', 'true');
  thumb.style.setProperty('--hue', String(product.hue));
  thumb.textContent = product.name.trim().slice(0, 1).toUpperCase();
  return thumb;
}
