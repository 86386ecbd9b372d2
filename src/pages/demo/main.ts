/**
 * The demo page: browse and search a catalogue, click, and watch the next-item
 * recommendations follow, computed in a worker of this tab by the client API. The history
 * lives in this browser's IndexedDB; "Your data" shows, exports and erases it.
 */
import {
  createRecommender,
  eraseLocalData,
  type HistoryEvent,
  type Recommender,
} from '../../index.ts';
import type { Catalogue, CatalogueItem } from './catalogue.ts';
import { CatalogueView } from './catalogue-view.ts';
import { ContextPanel } from './context-panel.ts';
import { DataPanel } from './data-panel.ts';
import { byId } from './dom.ts';
import { showLatency, showModel } from './engine-panel.ts';
import { LoadProgress } from './load-progress.ts';
import { showDataNotice } from './notice.ts';
import { RecommendationsView } from './recommendations-view.ts';
import { type DemoSource, ml1mSource, probeMl1mTitles, STOREFRONT } from './sources.ts';

const K = 8;
const HISTORY_CAP = 1000;

/** The page's state for tests and CSS: loading, ready, erased or error. */
function setState(state: 'loading' | 'ready' | 'erased' | 'error'): void {
  document.body.dataset.state = state;
}

async function chooseSource(): Promise<DemoSource> {
  const wanted = new URLSearchParams(location.search).get('model');
  const titles = probeMl1mTitles();
  // The switch appears only where the dev server has the data; the storefront does not wait for it.
  void titles.then((found) => {
    if (found) showModelSwitch(wanted === 'ml-1m' ? 'ml-1m' : 'storefront');
  });
  if (wanted !== 'ml-1m') return STOREFRONT;
  const found = await titles;
  return found ? ml1mSource(found) : STOREFRONT;
}

function showModelSwitch(current: DemoSource['key']): void {
  const select = byId<HTMLSelectElement>('model-select');
  select.value = current;
  select.addEventListener('change', () => {
    const url = new URL(location.href);
    if (select.value === 'ml-1m') url.searchParams.set('model', 'ml-1m');
    else url.searchParams.delete('model');
    location.assign(url);
  });
  byId('model-choice').hidden = false;
}

async function start(): Promise<void> {
  setState('loading');
  const source = await chooseSource();
  document.body.dataset.source = source.key;
  showDataNotice(source.key);
  const progress = new LoadProgress();
  let catalogue: Catalogue;
  let rec: Recommender;
  try {
    [catalogue, rec] = await Promise.all([
      source.loadCatalogue(),
      createRecommender({
        model: source.model,
        ...(source.ranker ? { ranker: source.ranker } : {}),
        user: source.user,
        historyCap: HISTORY_CAP,
        onProgress: ({ loaded, total }) => progress.update(loaded, total),
      }),
    ]);
  } catch (error) {
    progress.failed();
    throw error;
  }
  progress.done();
  showModel(rec.info());

  let events: HistoryEvent[] = await rec.history();
  const seen = new Set(events.map((e) => e.item));
  let erased = false;
  let queue: Promise<void> = Promise.resolve();

  const pick = (item: CatalogueItem) => {
    queue = queue.then(() => (erased ? undefined : step(item))).catch(fail);
  };
  const catalogueView = new CatalogueView(catalogue, source.noun, seen, pick);
  const recommendations = new RecommendationsView(catalogue, source.noun, pick);
  const dataPanel = new DataPanel(catalogue, rec.info().model.name, {
    async erase() {
      erased = true;
      await queue;
      try {
        await eraseLocalData({ recommenders: [rec] });
      } finally {
        events = [];
        seen.clear();
        catalogueView.refresh();
        recommendations.erased();
        dataPanel.erased();
        setState('erased');
      }
    },
  });
  byId('restart').addEventListener('click', () => location.reload());

  const contextPanel = new ContextPanel(() => {
    queue = queue.then(() => (erased ? undefined : recommend())).catch(fail);
  });
  contextPanel.show(rec.info().ranker !== null);

  async function recommend(): Promise<void> {
    const context = contextPanel.value();
    const top = await rec.recommend({ k: K, context: { ...context }, explain: true });
    recommendations.show(top, events.length);
    // For tests and CSS: the context the list on screen was ranked in.
    document.body.dataset.context = `${context.hour} ${context.weekday} ${context.device}`;
    showLatency(rec.info());
  }

  async function step(item: CatalogueItem): Promise<void> {
    const event = await rec.track({ item: item.id, type: 'click' });
    events = [...events, event].slice(-HISTORY_CAP);
    seen.add(item.id);
    catalogueView.markSeen(item.id);
    dataPanel.show(events);
    await recommend();
    document.body.dataset.events = String(events.length);
  }

  dataPanel.show(events);
  await recommend();
  document.body.dataset.events = String(events.length);
  setState('ready');
}

function fail(error: unknown): void {
  const box = byId('error');
  box.hidden = false;
  box.textContent = describeError(error);
  setState('error');
}

/** A message a visitor can act on; the error's own text names the file or item. */
function describeError(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  const message = e?.message ?? String(error);
  if (e?.name === 'ModelPackageError') {
    return `The model package failed verification and was not used: ${message}. Your history on this device is untouched.`;
  }
  if (e?.code === 'model-unavailable') {
    return `The model could not be downloaded and there is no copy on this device: ${message}`;
  }
  return `Something went wrong: ${message}`;
}

start().catch(fail);
