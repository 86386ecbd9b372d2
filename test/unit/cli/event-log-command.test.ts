// A shop's own log through the commands of docs/own-data.md: `data stats`, `train`, `verify`
// and `eval` on a CSV file with string item ids, and the package naming the shop's items.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directorySource } from '../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { runCli as run } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-event-log-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const USERS = 30;
const BAD_LINE = 7;

/**
 * 30 shoppers, each walking 4 to 7 steps along a ring of 10 SKUs (so every SKU has well over
 * 5 events), one SKU seen once, a column pocketrec ignores, and one bad timestamp on line 7.
 */
function writeShopLog(): { file: string; kept: string[] } {
  const rows: string[] = [];
  for (let u = 0; u < USERS; u++) {
    const length = 4 + (u % 4);
    for (let k = 0; k < length; k++) {
      const minute = String(k).padStart(2, '0');
      const day = String(1 + (u % 28)).padStart(2, '0');
      rows.push(`cust-${u},sku-${(u + k) % 10},2024-03-${day}T10:${minute}:00Z,view,web`);
    }
  }
  rows.push('cust-0,sku-rare,2024-04-01T00:00:00Z,view,app');
  rows.splice(BAD_LINE - 2, 0, 'cust-3,sku-1,not-a-time,view,web');
  const file = join(scratch, 'shop.csv');
  writeFileSync(file, `user_id,item_id,timestamp,event,channel\n${rows.join('\n')}\n`);
  // Item ids in order of first appearance, user by user (cust-0 walks sku-0, sku-1, ...).
  const kept = Array.from({ length: 10 }, (_, i) => `sku-${i}`);
  return { file, kept };
}

const { file: log, kept } = writeShopLog();

describe('an event log file through the commands', () => {
  it('`data stats --dataset <file>` counts what was read, skipped and dropped', async () => {
    const json = await run('data', 'stats', '--dataset', log, '--skip-bad-lines', '--json');
    expect(json.err).toBe('');
    expect(json.code).toBe(0);
    const stats = JSON.parse(json.out);
    expect(stats).toMatchObject({ kind: 'sequential', file: log, users: USERS, items: 10 });
    expect(stats.dataset).toMatch(/^shop\.csv@[0-9a-f]{12}$/);
    expect(stats.log.lines).toMatchObject({ skipped: { 'bad-timestamp': 1 }, events: 164 });
    expect(stats.log.columns.ignored).toEqual(['channel']);
    expect(stats.log.built.items).toMatchObject({ inLog: 11, belowMinCount: 1, kept: 10 });

    const text = await run('data', 'stats', '--dataset', log, '--skip-bad-lines');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      /^lines +165 records, 0 blank, 1 skipped as bad \(bad-timestamp 1\)$/m,
    );
    expect(text.out).toContain(
      `${log}:${BAD_LINE}: column "timestamp": "not-a-time" is not ISO 8601`,
    );
    expect(text.out).toMatch(/^items +11 in the log, 1 with fewer than 5 events dropped/m);
  });

  it('stops at a bad line without --skip-bad-lines, naming line and column', async () => {
    const { code, out, err } = await run('data', 'stats', '--dataset', log);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(
      `pocketrec: ${log}:${BAD_LINE}: column "timestamp": "not-a-time" is not ISO 8601 (2024-03-01T12:30:00Z) or Unix seconds`,
    );
  });

  it('trains, verifies and evaluates a package that names the shop`s items', async () => {
    const out = join(scratch, 'shop-model');
    const trained = await run(
      ...['train', '--model', 'sasrec', '--dataset', log, '--skip-bad-lines', '--out', out],
      ...['--dim', '8', '--max-len', '6', '--blocks', '1', '--heads', '1', '--epochs', '1'],
      ...['--loss', 'full', '--batch', '16', '--json'],
    );
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    const summary = JSON.parse(trained.out);
    expect(summary.dataset).toMatch(/^shop\.csv@[0-9a-f]{12}$/);
    expect(summary.eventLog.lines.skipped).toEqual({ 'bad-timestamp': 1 });

    expect((await run('verify', out)).code).toBe(0);
    const pkg = await readModelPackage(directorySource(out));
    expect(pkg.itemIds).toEqual(kept);
    expect(pkg.manifest.training.dataset).toBe(summary.dataset);
    expect(existsSync(join(out, 'items.txt'))).toBe(true);
    expect(JSON.parse(pkg.manifest.training.notes ?? '{}').eventLog.identity).toBe(summary.dataset);

    const evaluated = await run('eval', out, '--dataset', log, '--skip-bad-lines', '--json');
    expect(evaluated.code).toBe(0);
    // Every shopper has at least 4 steps: one leave-one-out test case each.
    expect(JSON.parse(evaluated.out)).toMatchObject({ cases: USERS, items: 10 });

    const otherItems = await run(
      ...['eval', out, '--dataset', log, '--skip-bad-lines', '--min-item-count', '1'],
    );
    expect(otherItems.code).toBe(2);
    expect(otherItems.err).toBe(
      `pocketrec: ${out} was trained on ${summary.dataset}, not ${summary.dataset} --min-item-count 1`,
    );

    const distilled = await run(
      ...['distill', '--teacher', out, '--rank', '2', '--cores', '2', '--out', join(scratch, 'tt')],
    );
    expect(distilled.code).toBe(2);
    expect(distilled.err).toContain(
      `'${summary.dataset}' is how a package records the event log it was trained on; give the log file's path with --dataset`,
    );
  }, 120_000);

  it('evaluates a session log on the sessions that end last', async () => {
    const rows = ['session_id,item_id,timestamp'];
    for (let s = 0; s < 40; s++) {
      for (let k = 0; k < 3; k++)
        rows.push(`s${s},sku-${(s + k) % 6},${1_700_000_000 + s * 3600 + k * 60}`);
    }
    const file = join(scratch, 'sessions.tsv');
    writeFileSync(file, `${rows.join('\n').replaceAll(',', '\t')}\n`);
    const { code, out } = await run('eval', 'markov', '--dataset', file, '--json');
    expect(code).toBe(0);
    // The span is 39 h 2 min; sessions ending in its last 10% (from 35.1 h on) are s36-s39.
    expect(JSON.parse(out)).toMatchObject({ cases: 4, items: 6 });
  });

  it('refuses the log options on a prepared data set, and a data set given twice', async () => {
    const prepared = await run('data', 'stats', 'storefront', '--min-item-count', '3');
    expect(prepared.code).toBe(2);
    expect(prepared.err).toBe(
      'pocketrec: --min-item-count: for event log files; storefront comes prepared',
    );
    const twice = await run('data', 'stats', 'storefront', '--dataset', log);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain(`give the data set once: storefront or --dataset ${log}`);
  });

  it('shows the log options with their defaults in --help', async () => {
    for (const command of ['train', 'eval', 'distill', 'tune-repeats']) {
      const { out } = await run(command, '--help');
      expect(out).toMatch(
        /--min-item-count <n> +event log file: drop the items with fewer events\s+\(default 5\)/,
      );
      expect(out).toMatch(
        /--events <types> +event log file: the event types to keep,[\s\S]*\(default\s+view,cart,purchase\)/,
      );
      expect(out).toContain('--skip-bad-lines');
    }
  });
});
