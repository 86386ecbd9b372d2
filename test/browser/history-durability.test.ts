// What a killed browser leaves of the shopper's history, in real Chromium on a profile kept on
// disk: the browser is killed with SIGKILL (no unload, no shutdown), started again on the same
// profile, and the history read back. With write-behind (the recommender's default) the events
// flushed before the kill, and those older than the write delay, must all be there; of those
// tracked just before the kill, a prefix survives (never a hole, never a duplicate). With
// 'each-event', every event whose append resolved must be there. `pagehide` writes what is
// pending at once; leaving the page, that write lands whole or not at all.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HistoryEvent } from '../../src/runtime/history-store.ts';
import {
  type ChromiumSession,
  launchPersistentChromium,
  makeTempDir,
  removeDir,
  startServer,
  type TestServer,
} from './harness.ts';
import type { HistoryTab } from './pages/history.ts';

const PAGE = '/test/browser/pages/history.html';
const WRITE_DELAY_MS = 100;

let server: TestServer;
let profile: string;

beforeAll(async () => {
  server = await startServer();
  profile = await makeTempDir('pocketrec-durability-');
});

afterAll(async () => {
  await server?.close();
  if (profile) await removeDir(profile);
});

type TabPage = Awaited<ReturnType<ChromiumSession['newPage']>>;
const tabOf = (page: TabPage) =>
  ({
    open: (dbName: string, options?: Parameters<HistoryTab['open']>[1]) =>
      page.evaluate(
        ([name, opts]) =>
          (window as unknown as { historyTab: HistoryTab }).historyTab.open(name, opts),
        [dbName, options] as const,
      ),
    append: (items: string[]) =>
      page.evaluate(
        (list) => (window as unknown as { historyTab: HistoryTab }).historyTab.append(list),
        items,
      ),
    flush: () =>
      page.evaluate(() => (window as unknown as { historyTab: HistoryTab }).historyTab.flush()),
    events: () =>
      page.evaluate(() =>
        (window as unknown as { historyTab: HistoryTab }).historyTab.events(),
      ) as Promise<HistoryEvent[]>,
  }) as const;

async function startBrowser(): Promise<{ session: ChromiumSession; page: TabPage }> {
  const session = await launchPersistentChromium(profile);
  const page = await session.newPage();
  await page.goto(server.url + PAGE);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  return { session, page };
}

/** SIGKILL to every process of this profile's browser: no unload, no orderly shutdown. */
async function killBrowser(session: ChromiumSession): Promise<void> {
  execFileSync('pkill', ['-KILL', '-f', `user-data-dir=${profile}`]);
  await session.close().catch(() => {});
}

async function survivors(dbName: string): Promise<string[]> {
  const { session, page } = await startBrowser();
  try {
    await tabOf(page).open(dbName);
    return (await tabOf(page).events()).map((e) => e.item);
  } finally {
    await session.close();
  }
}

const itemsOf = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);

describe('history after the browser is killed', () => {
  test('write-behind: flushed and older-than-the-delay events survive; of the last, a prefix', async () => {
    const dbName = `durability-behind-${Date.now()}`;
    const { session, page } = await startBrowser();
    const tab = tabOf(page);
    await tab.open(dbName, { writes: 'write-behind', writeDelayMs: WRITE_DELAY_MS });
    const flushed = itemsOf('tab-a', 0, 30);
    await tab.append(flushed);
    await tab.flush();
    const older = itemsOf('tab-a', 30, 40);
    await tab.append(older);
    await page.waitForTimeout(10 * WRITE_DELAY_MS);
    const last = itemsOf('tab-a', 40, 50);
    await tab.append(last);
    await killBrowser(session);

    const seen = await survivors(dbName);
    const tracked = [...flushed, ...older, ...last];
    console.log(
      `[durability] write-behind (${WRITE_DELAY_MS} ms): ${seen.length} of ${tracked.length} events survived the kill; of the 10 tracked just before it, ${seen.length - 40}`,
    );
    expect(seen.length).toBeGreaterThanOrEqual(40);
    expect(seen).toEqual(tracked.slice(0, seen.length));
  });

  test("'each-event': every event whose append resolved survives", async () => {
    const dbName = `durability-each-${Date.now()}`;
    const { session, page } = await startBrowser();
    const tab = tabOf(page);
    await tab.open(dbName, { writes: 'each-event' });
    const tracked = itemsOf('tab-b', 0, 20);
    await tab.append(tracked);
    await killBrowser(session);
    expect(await survivors(dbName)).toEqual(tracked);
  });

  // Leaving the page starts one transaction with what is pending, which the page can no
  // longer wait on; IndexedDB aborts a departed document's unfinished transactions, so it
  // lands whole or not at all (in Chromium here it was lost in about 1 run of 5 beside a
  // training, still unwritten 10 s later). So the handler is first shown writing at once on a
  // `pagehide` the page survives (the timer, 60 s, never fires here); then the page is left
  // for real, and of that write the test asks all or nothing, logging which.
  test('write-behind: pagehide writes what is pending; leaving lands it whole or not at all', async () => {
    const dbName = `durability-pagehide-${Date.now()}`;
    const { session, page } = await startBrowser();
    const tab = tabOf(page);
    await tab.open(dbName, { writes: 'write-behind', writeDelayMs: 60_000 });
    const watcher = await session.newPage();
    await watcher.goto(server.url + PAGE);
    await watcher.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    await tabOf(watcher).open(dbName);
    const committed = async (count: number) => {
      const since = Date.now();
      let seen = (await tabOf(watcher).events()).map((e) => e.item);
      while (seen.length < count && Date.now() - since < 3_000) {
        await watcher.waitForTimeout(20); // leaves the two cores to the commit it waits on
        seen = (await tabOf(watcher).events()).map((e) => e.item);
      }
      return seen;
    };

    const hidden = itemsOf('tab-a', 0, 10);
    await tab.append(hidden);
    await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide')));
    expect(await committed(hidden.length)).toEqual(hidden);

    const pending = itemsOf('tab-a', 10, 20);
    await tab.append(pending);
    await page.goto('about:blank');
    const tracked = [...hidden, ...pending];
    const seen = await committed(tracked.length);
    await killBrowser(session);
    const survived = await survivors(dbName);
    console.log(
      `[durability] leaving: ${survived.length - hidden.length} of the ${pending.length} pending events survived (seen by another tab: ${seen.length - hidden.length})`,
    );
    expect([hidden, tracked]).toContainEqual(survived);
    expect(survived.length).toBeGreaterThanOrEqual(seen.length);
  });
});
