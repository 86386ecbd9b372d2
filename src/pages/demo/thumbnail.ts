/**
 * A product's picture, drawn rather than downloaded: a tile in the product's hue with a
 * shape chosen from its id and its category's initial. Built with DOM calls (the initial is
 * a text node), so no catalogue text is ever parsed as markup.
 */
import type { CatalogueItem } from './catalogue.ts';
import { svg } from './dom.ts';

export function thumbnail(item: CatalogueItem, size: number): SVGSVGElement {
  const seed = hash(item.id);
  const { hue } = item;
  const initial = (item.category.trim()[0] ?? '?').toUpperCase();
  const picture = svg(
    'svg',
    {
      viewBox: '0 0 64 64',
      width: size,
      height: size,
      class: 'thumb',
      role: 'img',
      'aria-hidden': 'true',
      focusable: 'false',
    },
    svg('rect', { width: 64, height: 64, rx: 12, fill: `hsl(${hue} 70% 92%)` }),
    shape(seed, hue),
    svg('circle', {
      cx: 12 + (seed % 7) * 6,
      cy: 50 - ((seed >> 3) % 5) * 4,
      r: 5 + ((seed >> 6) % 4),
      fill: `hsl(${(hue + 40) % 360} 75% 78%)`,
      opacity: 0.8,
    }),
  );
  const letter = svg('text', {
    x: 32,
    y: 33,
    'text-anchor': 'middle',
    'dominant-baseline': 'central',
    'font-size': 24,
    'font-weight': 700,
    'font-family': 'system-ui, sans-serif',
    fill: `hsl(${hue} 55% 28%)`,
  });
  letter.textContent = initial;
  picture.append(letter);
  return picture;
}

/** One of three backdrops, so neighbouring products of one hue still look apart. */
function shape(seed: number, hue: number): SVGElement {
  const fill = `hsl(${hue} 65% 74%)`;
  switch (seed % 3) {
    case 0:
      return svg('circle', { cx: 32, cy: 32, r: 20, fill });
    case 1:
      return svg('rect', {
        x: 14,
        y: 14,
        width: 36,
        height: 36,
        rx: 9,
        fill,
        transform: `rotate(${(seed >> 4) % 30} 32 32)`,
      });
    default:
      return svg('path', { d: 'M32 10 L54 50 L10 50 Z', fill, 'stroke-linejoin': 'round' });
  }
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
