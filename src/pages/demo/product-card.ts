/** The two ways an item is shown: a card in the catalogue grid, a row in the side panels. */
import type { CatalogueItem } from './catalogue.ts';
import { el } from './dom.ts';
import { thumbnail } from './thumbnail.ts';

export type Pick = (item: CatalogueItem, from: 'catalogue' | 'recommendations') => void;

export function catalogueCard(item: CatalogueItem, seen: boolean, onPick: Pick): HTMLElement {
  const button = el(
    'button',
    {
      className: seen ? 'card seen' : 'card',
      attrs: { type: 'button', title: item.name },
      data: { item: item.id },
    },
    el('span', { className: 'card-art' }, thumbnail(item, 96)),
    el('span', { className: 'card-name', text: item.name }),
    el('span', { className: 'card-detail', text: item.detail }),
  );
  button.addEventListener('click', () => onPick(item, 'catalogue'));
  return el('li', {}, button);
}

export function recommendationRow(
  item: CatalogueItem,
  rank: number,
  score: number,
  onPick: Pick,
): HTMLElement {
  const button = el(
    'button',
    { className: 'rec', attrs: { type: 'button' }, data: { item: item.id, rank: String(rank) } },
    el('span', { className: 'rec-rank', text: String(rank) }),
    thumbnail(item, 44),
    el(
      'span',
      { className: 'rec-text' },
      el('span', { className: 'rec-name', text: item.name }),
      el('span', { className: 'rec-detail', text: item.detail }),
    ),
    el('span', {
      className: 'rec-score',
      text: score.toFixed(2),
      attrs: { title: 'The model’s score' },
    }),
  );
  button.addEventListener('click', () => onPick(item, 'recommendations'));
  return el('li', {}, button);
}
