/** The line that says plainly where the demo's data comes from. */
import { byId, el } from './dom.ts';
import type { SourceKey } from './sources.ts';

/** The accuracy figures on real data sets, in the repository. */
const RESULTS = { href: '/docs/results/ml-1m.md', label: 'docs/results/' };

export function showDataNotice(source: SourceKey): void {
  const results = el('a', { text: RESULTS.label, attrs: { href: RESULTS.href } });
  const notice = byId('data-notice');
  notice.dataset.source = source;
  if (source === 'storefront') {
    notice.replaceChildren(
      el('strong', { text: 'Generated data. ' }),
      'The catalogue and the shopping behaviour this model learnt from come from a seeded simulator, because no real shop’s data may be shipped. The model’s accuracy on real data sets is in ',
      results,
      '.',
    );
  } else {
    notice.replaceChildren(
      el('strong', { text: 'MovieLens 1M. ' }),
      'Real film titles, read from your local data directory by the dev server (never part of the repository), and a tensor-train model trained on the ML-1M ratings. Its accuracy is in ',
      results,
      '.',
    );
  }
}
