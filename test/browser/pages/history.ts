// One tab's side of the history-tabs test: opens the history store on the page's real
// IndexedDB, appends when told, and records what onChange hears from other tabs. Exposed as
// `window.historyTab` for page.evaluate (not `window.history`, which the browser owns).
import {
  type HistoryChange,
  type HistoryEvent,
  type HistoryStore,
  type HistoryStoreOptions,
  openHistoryStore,
} from '../../../src/runtime/history-store.ts';

export interface HistoryTab {
  open(
    dbName: string,
    options?: Pick<HistoryStoreOptions, 'writes' | 'writeDelayMs'>,
  ): Promise<{ persistent: boolean; warnings: readonly string[] }>;
  /** Appends `items` one by one, each awaited. */
  append(items: string[]): Promise<void>;
  flush(): Promise<void>;
  /**
   * Waits until every other tab on `barrier` has called this too, then appends `items` one
   * by one, so the tabs' appends overlap in time instead of running one tab after the other.
   */
  appendTogether(items: string[], barrier: string, tabs: number): Promise<void>;
  events(): Promise<HistoryEvent[]>;
  /** What onChange has delivered so far, oldest first. */
  heard(): HistoryChange[];
  clear(): Promise<void>;
}

let store: HistoryStore | null = null;
const heard: HistoryChange[] = [];

function opened(): HistoryStore {
  if (!store) throw new Error('call open() first');
  return store;
}

/** Resolves once `tabs - 1` other tabs have announced themselves on the channel. */
function meet(barrier: string, tabs: number): Promise<void> {
  const channel = new BroadcastChannel(barrier);
  const me = crypto.randomUUID();
  const others = new Set<string>();
  return new Promise((resolve) => {
    channel.onmessage = (event: MessageEvent<{ tab: string; reply: boolean }>) => {
      if (!others.has(event.data.tab)) {
        others.add(event.data.tab);
        // A tab that arrived earlier has already announced itself: answer it so it hears us.
        if (!event.data.reply) channel.postMessage({ tab: me, reply: true });
      }
      if (others.size >= tabs - 1) {
        channel.close();
        resolve();
      }
    };
    channel.postMessage({ tab: me, reply: false });
  });
}

const tab: HistoryTab = {
  async open(dbName, options = {}) {
    store = await openHistoryStore({
      dbName,
      isKnownItem: (id) => /^tab-[ab]-\d+$/.test(id),
      ...options,
    });
    store.onChange((change) => heard.push(change));
    return { persistent: store.persistent, warnings: store.warnings };
  },
  async appendTogether(items, barrier, tabs) {
    const history = opened();
    await meet(barrier, tabs);
    for (const item of items) await history.append({ item });
  },
  async append(items) {
    for (const item of items) await opened().append({ item });
  },
  flush: () => opened().flush(),
  events: () => opened().events(),
  heard: () => [...heard],
  clear: () => opened().clear(),
};

(window as unknown as { historyTab: HistoryTab }).historyTab = tab;
document.getElementById('status')?.replaceChildren('ready');
