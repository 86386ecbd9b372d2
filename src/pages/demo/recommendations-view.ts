/** "Recommended next": the model's answer to the history as it is now. */
import type { Recommendation } from '../../index.ts';
import type { Catalogue, CatalogueItem } from './catalogue.ts';
import { byId } from './dom.ts';
import { plural } from './format.ts';
import { type Pick, recommendationRow } from './product-card.ts';

export class RecommendationsView {
  private readonly list = byId<HTMLOListElement>('recommendations');
  private readonly hint = byId('recs-hint');
  private updates = 0;

  constructor(
    private readonly catalogue: Catalogue,
    private readonly noun: { one: string; many: string },
    private readonly onPick: Pick,
  ) {}

  show(recommendations: readonly Recommendation[], historyLength: number): void {
    this.list.replaceChildren(
      ...recommendations.map((r, i) =>
        recommendationRow(this.itemOf(r.item), i + 1, r.score, this.onPick, r.ranking),
      ),
    );
    this.hint.textContent =
      recommendations.length === 0
        ? `Click a ${this.noun.one} and the model suggests what comes next.`
        : historyLength === 0
          ? `Popular ${this.noun.many} to start with. Click any ${this.noun.one} and this list follows you.`
          : `From your ${plural(historyLength, 'click')}, computed in this tab.`;
    this.updates++;
    this.list.dataset.updates = String(this.updates);
  }

  erased(): void {
    this.list.replaceChildren();
    this.hint.textContent = 'Everything was erased. “Start again” downloads the model afresh.';
  }

  /** The model may know items the catalogue lacks (a title missing from movies.dat). */
  private itemOf(id: string): CatalogueItem {
    return (
      this.catalogue.byId.get(id) ?? {
        id,
        name: `Item ${id}`,
        category: '?',
        tags: [],
        hue: 220,
        detail: 'not in the catalogue',
      }
    );
  }
}
