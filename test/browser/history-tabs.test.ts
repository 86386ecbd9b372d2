// Two tabs of one browser profile share the history store in real Chromium: real IndexedDB
// serialising their transactions, a real BroadcastChannel between them. Appends from both at
// once must all land exactly once, each tab must hear the other's, and a clear in one tab
// must empty the other's view.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HistoryChange, HistoryEvent } from '../../src/runtime/history-store.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  startServer,
  type TestServer,
} from './harness.ts';
import type { HistoryTab } from './pages/history.ts';

const PAGE = '/test/browser/pages/history.html';
const PER_TAB = 50;

let server: TestServer;
let session: ChromiumSession;

beforeAll(async () => {
  server = await startServer();
  session = await launchChromium();
});

afterAll(async () => {
  await session?.close();
  await server?.close();
});

type TabPage = Awaited<ReturnType<ChromiumSession['newPage']>>;

async function openTab(): Promise<TabPage> {
  const page = await session.newPage();
  await page.goto(server.url + PAGE);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  return page;
}

function appendedItems(changes: HistoryChange[]): string[] {
  return changes.flatMap((c) => (c.kind === 'append' ? [c.event.item] : []));
}

describe('history store across two tabs', () => {
  // 'each-event': every append its own transaction. 'write-behind' (the recommender's
  // default): each tab's appends written in batches, a millisecond's worth at a time.
  test.each([
    { writes: 'each-event', writeDelayMs: undefined },
    { writes: 'write-behind', writeDelayMs: 1 },
  ] as const)(
    '$writes: concurrent appends land once each, each tab hears the other, clear empties both',
    async (options) => {
      const pageA = await openTab();
      const pageB = await openTab();
      const errors = [collectErrors(pageA), collectErrors(pageB)];
      const dbName = `history-tabs-${options.writes}-${Date.now()}`;
      const storeOptions =
        options.writeDelayMs === undefined
          ? { writes: options.writes }
          : { writes: options.writes, writeDelayMs: options.writeDelayMs };

      const [openedA, openedB] = await Promise.all(
        [pageA, pageB].map((page) =>
          page.evaluate(
            ([name, opts]) =>
              (window as unknown as { historyTab: HistoryTab }).historyTab.open(name, opts),
            [dbName, storeOptions] as const,
          ),
        ),
      );
      expect(openedA).toEqual({ persistent: true, warnings: [] });
      expect(openedB).toEqual({ persistent: true, warnings: [] });

      const itemsA = Array.from({ length: PER_TAB }, (_, i) => `tab-a-${i}`);
      const itemsB = Array.from({ length: PER_TAB }, (_, i) => `tab-b-${i}`);
      const barrier = `${dbName}-start`;
      await Promise.all(
        (
          [
            [pageA, itemsA],
            [pageB, itemsB],
          ] as const
        ).map(([page, items]) =>
          page.evaluate(
            ([list, name]) =>
              (window as unknown as { historyTab: HistoryTab }).historyTab.appendTogether(
                [...list],
                name,
                2,
              ),
            [items, barrier] as const,
          ),
        ),
      );

      const eventsOf = (page: TabPage) =>
        page.evaluate(() =>
          (window as unknown as { historyTab: HistoryTab }).historyTab.events(),
        ) as Promise<HistoryEvent[]>;
      const heardBy = (page: TabPage) =>
        page.evaluate(() =>
          (window as unknown as { historyTab: HistoryTab }).historyTab.heard(),
        ) as Promise<HistoryChange[]>;

      const everything = [...itemsA, ...itemsB].sort();
      const seenA = (await eventsOf(pageA)).map((e) => e.item);
      const seenB = (await eventsOf(pageB)).map((e) => e.item);
      expect(seenA).toEqual(seenB);
      expect(seenA).toHaveLength(2 * PER_TAB);
      expect([...seenA].sort()).toEqual(everything);
      // Each tab's own events stay in the order it appended them.
      expect(seenA.filter((item) => item.startsWith('tab-a-'))).toEqual(itemsA);
      expect(seenA.filter((item) => item.startsWith('tab-b-'))).toEqual(itemsB);
      // The tabs really ran at the same time: their events alternate somewhere in the middle
      // (with write-behind a tab's batch may hold all its events, so only 'each-event').
      const switches = seenA.filter((item, i) => i > 0 && item[4] !== seenA[i - 1]?.[4]).length;
      if (options.writes === 'each-event') expect(switches).toBeGreaterThan(1);

      await expect.poll(async () => appendedItems(await heardBy(pageA)).length).toBe(PER_TAB);
      await expect.poll(async () => appendedItems(await heardBy(pageB)).length).toBe(PER_TAB);
      expect(appendedItems(await heardBy(pageA)).sort()).toEqual([...itemsB].sort());
      expect(appendedItems(await heardBy(pageB)).sort()).toEqual([...itemsA].sort());

      await pageA.evaluate(() =>
        (window as unknown as { historyTab: HistoryTab }).historyTab.clear(),
      );
      await expect.poll(async () => (await heardBy(pageB)).at(-1)).toEqual({ kind: 'clear' });
      expect(await eventsOf(pageB)).toEqual([]);
      expect(await eventsOf(pageA)).toEqual([]);
      expect((await heardBy(pageA)).some((c) => c.kind === 'clear')).toBe(false);

      for (const collector of errors) expect(collector.lines()).toEqual([]);
      await pageA.close();
      await pageB.close();
    },
  );
});
