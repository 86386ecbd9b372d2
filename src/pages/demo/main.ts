import type { Product } from '../../data/storefront.ts';
import { markovFromPackage, scoreMarkov } from '../../model/markov.ts';
import { readModelPackage } from '../../package/reader.ts';
import { urlSource } from '../../package/source.ts';

const MODEL_URL = '/models/storefront-markov/';
const CATALOG_URL = '/storefront/catalog.json';
const K = 6;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function formatBytes(bytes: number): string {
  return bytes < 1024 * 1024
    ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** A product card; catalogue text only ever reaches the DOM as text, never as HTML. */
function productCard(product: Product, onPick: (p: Product) => void): HTMLElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'card';
  button.dataset.item = product.id;
  const thumb = document.createElement('span');
  thumb.className = 'thumb';
  thumb.style.background = `linear-gradient(135deg, hsl(${product.hue} 70% 62%), hsl(${(product.hue + 40) % 360} 70% 45%))`;
  thumb.textContent = product.name.slice(0, 1);
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = product.name;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = `${product.category} · $${product.price.toFixed(2)}`;
  button.append(thumb, name, meta);
  button.addEventListener('click', () => onPick(product));
  return button;
}

async function start(): Promise<void> {
  const [catalog, pkg] = await Promise.all([
    fetch(CATALOG_URL).then((r) => r.json() as Promise<Product[]>),
    readModelPackage(urlSource(MODEL_URL)),
  ]);
  const model = markovFromPackage(pkg);
  const { manifest } = pkg;
  $('model-name').textContent = `${manifest.name} (${manifest.kind})`;
  $('model-size').textContent = formatBytes(manifest.size.bytes);
  $('model-compression').textContent = `${manifest.size.modelCompression.toFixed(1)}x vs dense`;
  $('model-status').textContent = `verified: ${manifest.files.length} files, SHA-256`;
  document.body.dataset.modelReady = 'true';

  const indexOf = new Map(catalog.map((p, i) => [p.id, i + 1]));
  // Browse order interleaves categories (each category's most popular first), so the
  // first screen shows the whole shop rather than one aisle.
  const rankInCategory = new Map<string, number>();
  const browseOrder = catalog
    .map((p) => {
      const rank = rankInCategory.get(p.category) ?? 0;
      rankInCategory.set(p.category, rank + 1);
      return { p, rank };
    })
    .sort((a, b) => a.rank - b.rank)
    .map(({ p }) => p);
  const history: number[] = [];

  const renderList = (list: HTMLElement, items: Product[]) => {
    list.replaceChildren(
      ...items.map((p) => {
        const li = document.createElement('li');
        li.append(productCard(p, pick));
        return li;
      }),
    );
  };

  function recommend(): void {
    const started = performance.now();
    const scores = scoreMarkov(model, history);
    for (const seen of history) scores[seen] = Number.NEGATIVE_INFINITY;
    const top = [...scores.keys()]
      .filter((i) => i > 0 && Number.isFinite(scores[i]))
      .sort((a, b) => (scores[b] as number) - (scores[a] as number))
      .slice(0, K);
    $('latency').textContent = `${(performance.now() - started).toFixed(2)} ms`;
    renderList(
      $('recommendations'),
      top.map((i) => catalog[i - 1] as Product),
    );
    const historyList = $('history');
    historyList.replaceChildren(
      ...history
        .slice(-10)
        .reverse()
        .map((i) => {
          const li = document.createElement('li');
          li.textContent = (catalog[i - 1] as Product).name;
          return li;
        }),
    );
  }

  function pick(product: Product): void {
    const item = indexOf.get(product.id);
    if (item === undefined) return;
    history.push(item);
    recommend();
  }

  const search = $<HTMLInputElement>('search');
  const showCatalogue = () => {
    const q = search.value.trim().toLowerCase();
    const matches = browseOrder.filter(
      (p) => !q || p.name.toLowerCase().includes(q) || p.category.toLowerCase().includes(q),
    );
    renderList($('catalogue'), matches.slice(0, 60));
  };
  search.addEventListener('input', showCatalogue);
  $('clear').addEventListener('click', () => {
    history.length = 0;
    recommend();
  });
  showCatalogue();
  recommend();
}

start().catch((error: unknown) => {
  const box = $('error');
  box.hidden = false;
  box.textContent = `Could not start: ${error instanceof Error ? error.message : String(error)}`;
  $('model-status').textContent = 'failed';
  document.body.dataset.modelReady = 'error';
});
