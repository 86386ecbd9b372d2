/** The two ways an item is shown: a card in the catalogue grid, a row in the side panels. */
import type { RecommendationRanking } from '../../index.ts';
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
  ranking?: RecommendationRanking,
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
      ...(ranking ? [rankerMove(ranking)] : []),
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

/**
 * What the ranker did to an item: how many places it moved from the next-item model's
 * order, and the context field that moved it most (the hour, the device...).
 */
function rankerMove({ move, context }: RecommendationRanking): HTMLElement {
  const direction = move > 0 ? 'up' : move < 0 ? 'down' : 'same';
  const places = move === 0 ? 'kept its place' : `${move > 0 ? '▲' : '▼'} ${Math.abs(move)}`;
  const why =
    context && Math.abs(context.effect) >= 0.05
      ? ` · ${context.field} ${context.effect > 0 ? 'raised' : 'lowered'} it`
      : '';
  return el('span', {
    className: `rec-move rec-move-${direction}`,
    text: `${places}${why}`,
    data: { move: String(move), ...(context ? { field: context.field } : {}) },
    attrs: {
      title:
        'Places moved by the on-device ranker from the next-item model’s order, and the context field that moved it most',
    },
  });
}
