/**
 * <pocket-recs model="/models/storefront-compact" catalog="/storefront/catalog.json" k="6">
 *
 * Shows the next items for the shopper's history on this device (before the first event,
 * the package's most popular ones: pick-items.ts), in its shadow root. It
 * opens the model (in a worker, through the client API) only when it first comes near the
 * viewport or when an event has to be stored, whichever is first. A picked recommendation
 * is a cancelable `pocketrec-select` event; failures are `pocketrec-error` events. The
 * `state` attribute says where it is: idle, loading, ready or error.
 */
import type { Recommender } from '../index.ts';
import {
  DEFAULT_HEADING,
  DEFAULT_K,
  DEFAULT_NOTE,
  RENDER_ATTRIBUTES,
  RESTART_ATTRIBUTES,
  readConfig,
  type WidgetConfig,
} from './attributes.ts';
import {
  type Catalog,
  type CatalogProduct,
  imageSource,
  loadCatalog,
  parseCatalog,
} from './catalog.ts';
import { WidgetError } from './errors.ts';
import {
  ERROR_EVENT,
  type ErrorDetail,
  type RecommendedItem,
  SELECT_EVENT,
  type SelectDetail,
  UPDATE_EVENT,
  type UpdateDetail,
  widgetEvent,
} from './events.ts';
import { whenNearViewport } from './lazy-start.ts';
import { pickItems } from './pick-items.ts';
import { leaseRecommender, type RecommenderLease } from './recommenders.ts';
import { frame, message, placeholderList, recommendationList } from './render.ts';
import { widgetStyleSheet } from './styles.ts';
import { attachTarget, detachTarget, type TrackTarget, track } from './tracker.ts';

export type WidgetState = 'idle' | 'loading' | 'ready' | 'error';

/** The event type a picked recommendation is stored with. */
export const SELECT_EVENT_TYPE = 'select';

/** Only without a history and without a popularity prior in the package is there nothing to show. */
const EMPTY_TEXT = 'Browse a few products and suggestions for you appear here.';
const ERROR_TEXT = 'Recommendations are unavailable right now.';

export class PocketRecsElement extends HTMLElement implements TrackTarget {
  static readonly observedAttributes = [...RESTART_ATTRIBUTES, ...RENDER_ATTRIBUTES];

  readonly #root: ShadowRoot;
  #started: Promise<Recommender> | null = null;
  #lease: RecommenderLease | null = null;
  #stopObserving: (() => void) | null = null;
  #catalogProperty: Catalog | null = null;
  #items: RecommendedItem[] = [];
  #error: ErrorDetail | null = null;
  /** Only the latest of overlapping refreshes draws. */
  #drawn = 0;
  /** Bumped by every start and stop, so a start that was overtaken does nothing more. */
  #generation = 0;
  /** Origins and schemes already reported as refused: every redraw would repeat them. */
  readonly #refusedImages = new Set<string>();

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    this.#root.adoptedStyleSheets = [widgetStyleSheet()];
  }

  /** idle (not started), loading, ready or error; mirrored in the `state` attribute. */
  get state(): WidgetState {
    return (this.getAttribute('state') as WidgetState | null) ?? 'idle';
  }

  /** The recommendations on screen. */
  get recommendations(): RecommendedItem[] {
    return [...this.#items];
  }

  /** The last failure shown, or null. */
  get error(): ErrorDetail | null {
    return this.#error;
  }

  get user(): string {
    return this.getAttribute('user') || 'default';
  }

  /** Product metadata given by the host instead of a `catalog` URL (same shape as the JSON). */
  get catalog(): CatalogProduct[] | null {
    return this.#catalogProperty ? [...this.#catalogProperty.values()] : null;
  }

  set catalog(products: readonly CatalogProduct[] | null) {
    this.#catalogProperty = products
      ? parseCatalog(products, '(catalog property)', document.baseURI)
      : null;
    if (this.#started) void this.refresh().catch(() => {});
  }

  connectedCallback(): void {
    attachTarget(this);
    if (this.#started) return;
    this.#setState('idle');
    this.#drawPlaceholder();
    this.#stopObserving = whenNearViewport(this, () => {
      this.ensureStarted().catch(() => {});
    });
  }

  disconnectedCallback(): void {
    detachTarget(this);
    this.#stopObserving?.();
    this.#stopObserving = null;
    // Moving the element fires disconnect then connect in one go: keep the model then.
    queueMicrotask(() => {
      if (!this.isConnected) this.#stop();
    });
  }

  attributeChangedCallback(name: string, before: string | null, after: string | null): void {
    if (before === after || !this.isConnected) return;
    if (!this.#started) {
      this.#drawPlaceholder();
      return;
    }
    if ((RESTART_ATTRIBUTES as readonly string[]).includes(name)) {
      this.#stop();
      this.ensureStarted().catch(() => {});
    } else {
      this.refresh().catch(() => {});
    }
  }

  /** Starts the element (model and catalogue) if it has not started; resolves when ready. */
  ensureStarted(): Promise<Recommender> {
    this.#stopObserving?.();
    this.#stopObserving = null;
    this.#started ??= this.#start();
    return this.#started;
  }

  /** Asks for recommendations again and draws them; starts the element if need be. */
  async refresh(): Promise<RecommendedItem[]> {
    const recommender = await this.ensureStarted();
    const ticket = ++this.#drawn;
    try {
      const config = readConfig(this);
      const catalog = await this.#catalogFor(config);
      const items = await pickItems(recommender, config, catalog);
      if (ticket !== this.#drawn) return items;
      this.#items = items;
      this.#error = null;
      this.#setState('ready');
      this.#drawItems(config);
      this.dispatchEvent(widgetEvent<UpdateDetail>(UPDATE_EVENT, { items: this.recommendations }));
      return items;
    } catch (error) {
      if (ticket === this.#drawn) this.#fail(error);
      throw error;
    }
  }

  historyChanged(): void {
    if (this.#started) this.refresh().catch(() => {});
  }

  reportError(error: unknown, item?: string): void {
    const detail = errorDetail(error, item);
    console.warn(`<pocket-recs>: ${detail.message}`);
    this.dispatchEvent(widgetEvent<ErrorDetail>(ERROR_EVENT, detail));
  }

  async #start(): Promise<Recommender> {
    const generation = ++this.#generation;
    try {
      const config = readConfig(this);
      this.#setState('loading');
      this.#drawPlaceholder();
      this.#lease = leaseRecommender(config);
      const [recommender] = await Promise.all([this.#lease.recommender, this.#catalogFor(config)]);
      // The first list (its own failure is shown by refresh), unless stopped meanwhile.
      if (generation === this.#generation) queueMicrotask(() => this.refresh().catch(() => {}));
      return recommender;
    } catch (error) {
      if (generation === this.#generation) {
        // The next trigger (an event, an attribute change) tries again.
        this.#lease?.release();
        this.#lease = null;
        this.#started = null;
        this.#fail(error);
      }
      throw error;
    }
  }

  #stop(): void {
    this.#generation++;
    this.#lease?.release();
    this.#lease = null;
    this.#started = null;
    this.#drawn++;
    this.#items = [];
    this.#setState('idle');
  }

  #catalogFor(config: WidgetConfig): Promise<Catalog | null> {
    if (this.#catalogProperty) return Promise.resolve(this.#catalogProperty);
    return config.catalog ? loadCatalog(config.catalog) : Promise.resolve(null);
  }

  #fail(error: unknown): void {
    this.#items = [];
    this.#error = errorDetail(error);
    this.#setState('error');
    this.reportError(error);
    this.#root.replaceChildren(frame(this.#frameText(), message(ERROR_TEXT, 'error')));
  }

  #setState(state: WidgetState): void {
    if (this.getAttribute('state') !== state) this.setAttribute('state', state);
  }

  #frameText() {
    return {
      heading: this.getAttribute('heading') ?? DEFAULT_HEADING,
      note: this.getAttribute('note') ?? DEFAULT_NOTE,
    };
  }

  #drawPlaceholder(): void {
    const k = Number(this.getAttribute('k') ?? DEFAULT_K);
    const count = Number.isInteger(k) && k >= 1 && k <= 12 ? k : DEFAULT_K;
    this.#root.replaceChildren(frame(this.#frameText(), placeholderList(count)));
  }

  #drawItems(config: WidgetConfig): void {
    const body =
      this.#items.length === 0
        ? message(EMPTY_TEXT, 'info')
        : recommendationList(this.#items, {
            currency: config.currency,
            locale: document.documentElement.lang || undefined,
            onSelect: (entry, rank) => this.#select(entry, rank),
            imageUrl: (product) => this.#imageUrl(product, config),
          });
    this.#root.replaceChildren(frame(config, body));
  }

  #imageUrl(product: CatalogProduct, config: WidgetConfig): string | null {
    if (product.image === undefined) return null;
    const source = imageSource(product.image, window.origin, config.imageOrigins);
    if (source.allowed) return source.url;
    if (!this.#refusedImages.has(source.key)) {
      this.#refusedImages.add(source.key);
      this.reportError(
        new WidgetError('image-refused', `catalog item ${product.id}: ${source.reason}`),
      );
    }
    return null;
  }

  #select(entry: RecommendedItem, rank: number): void {
    const event = widgetEvent<SelectDetail>(SELECT_EVENT, { ...entry, rank }, true);
    if (!this.dispatchEvent(event)) return;
    track({ item: entry.item, type: SELECT_EVENT_TYPE }).catch(() => {});
  }
}

function errorDetail(error: unknown, item?: string): ErrorDetail {
  return {
    code: (error as { code?: unknown })?.code ? String((error as { code: unknown }).code) : 'error',
    message: error instanceof Error ? error.message : String(error),
    ...(item === undefined ? {} : { item }),
  };
}
