import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleShop } from '../../../scripts/generate-example-log.ts';
import { getDataset, loadSessionDataset, loadUserSequences } from '../../../src/data/datasets.ts';
import {
  BadLogLineError,
  DEFAULT_EVENT_LOG,
  loadSessionLog,
  loadUserLog,
} from '../../../src/data/event-log/index.ts';
import { DataFormatError, PocketrecError } from '../../../src/errors.ts';
import { useTempDir } from './helpers.ts';

const temp = useTempDir();
let fileCount = 0;

/** Writes `text` to a fresh file with the extension and returns its path. */
function logFile(text: string, extension = 'csv'): string {
  fileCount++;
  return temp.write(`log-${fileCount}.${extension}`, text);
}

/** Sequences as lists of the shop's ids. */
function idsOf(sequences: readonly Int32Array[], itemIds: readonly string[] | undefined) {
  return sequences.map((s) => Array.from(s, (item) => itemIds?.[item - 1]));
}

async function failure(run: () => Promise<unknown>): Promise<PocketrecError> {
  // A run that resolves yields its value, which fails the check as well.
  const error: unknown = await run().catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(PocketrecError);
  return error as PocketrecError;
}

/** Asserts a BadLogLineError at `line`, naming `column`, counted under `reason`. */
async function expectBadLine(
  text: string,
  line: number,
  column: string | null,
  reason: string,
  problem: RegExp,
  extension = 'csv',
) {
  const file = logFile(text, extension);
  const error = await failure(() => loadUserLog(file, { minItemCount: 1 }));
  expect(error).toBeInstanceOf(BadLogLineError);
  const bad = error as BadLogLineError;
  expect(bad.code).toBe('data-format');
  expect(bad.line).toBe(line);
  expect(bad.column).toBe(column);
  expect(bad.reason).toBe(reason);
  const where = column === null ? `${file}:${line}: ` : `${file}:${line}: column "${column}": `;
  expect(bad.message.startsWith(where)).toBe(true);
  expect(bad.message).toMatch(problem);
}

const USERS = [
  'user_id,item_id,timestamp',
  'a,x,2024-03-01T10:00:00Z',
  'a,y,2024-03-01T10:01:00Z',
  'b,x,2024-03-01T10:02:00Z',
  'b,y,2024-03-01T10:03:00Z',
].join('\n');

describe('event log syntax', () => {
  it('reads CSV with RFC 4180 quoting, columns by name in any order, others ignored', async () => {
    const file = logFile(
      [
        'Timestamp,Item_ID,shelf,User_ID',
        '2024-03-01T10:00:00Z,"sku ""deluxe"", 1",top,u1',
        '2024-03-01T10:01:00Z, "sku,2" ,"a, b",u1',
        '2024-03-01T10:02:00Z,plain,,u1',
        '',
      ].join('\r\n'),
    );
    const data = await loadUserLog(file, { minItemCount: 1 });
    expect(idsOf(data.sequences, data.itemIds)).toEqual([['sku "deluxe", 1', 'sku,2', 'plain']]);
    expect(data.log?.columns).toEqual({
      read: ['User_ID', 'Item_ID', 'Timestamp'],
      ignored: ['shelf'],
    });
    expect(data.log?.lines.blankLines).toBe(0);
  });

  it('reads TSV as plain tab-separated fields', async () => {
    const file = logFile(
      'user_id\titem_id\ttimestamp\tevent\nu1\t"q"\t100\tview\nu1\ta,b\t200\tCART\n',
      'tsv',
    );
    const data = await loadUserLog(file, { minItemCount: 1 });
    expect(idsOf(data.sequences, data.itemIds)).toEqual([['"q"', 'a,b']]);
    expect(data.log?.lines.byEvent).toEqual({ view: 1, cart: 1 });
  });

  it('reads NDJSON: keys as columns, numbers as ids and Unix seconds', async () => {
    const file = logFile(
      [
        '{"session_id": 7, "item_id": 101, "timestamp": 1709287200, "note": "x"}',
        '',
        '{"session_id": 7, "item_id": "sku-2", "timestamp": "2024-03-01T10:01:00Z"}',
        '{"session_id": 8, "item_id": 101, "timestamp": 1709290000}',
        '{"session_id": 8, "item_id": "sku-2", "timestamp": 1709290100}',
        '{"session_id": 9, "item_id": 101, "timestamp": 1709999000}',
        '{"session_id": 9, "item_id": "sku-2", "timestamp": 1709999100.5}',
      ].join('\n'),
      'jsonl',
    );
    expect(getDataset(file)).toMatchObject({
      kind: 'session',
      format: 'event-log',
      syntax: 'ndjson',
    });
    const data = await loadSessionLog(file, { minItemCount: 1 });
    expect(data.itemIds).toEqual(['101', 'sku-2']);
    expect(data.log?.columns.ignored).toEqual(['note']);
    expect(data.log?.lines).toMatchObject({ records: 6, blankLines: 1, events: 6 });
  });

  it('sorts each user by time, ties in file order, and merges an item repeated in a row', async () => {
    const file = logFile(
      [
        'user_id,item_id,timestamp,event',
        'u1,c,2024-03-01T12:00:00Z,view',
        'u2,x,2024-03-01T09:00:00Z,view',
        'u1,a,2024-03-01T10:00:00Z,view',
        'u1,a,2024-03-01T10:05:00Z,cart',
        'u1,b,2024-03-01T11:00:00+01:00,view',
        'u1,d,2024-03-01T11:00:00+01:00,view',
        'u1,a,2024-03-01,purchase',
        'u2,y,1709287200,view',
      ].join('\n'),
    );
    const data = await loadUserLog(file, { minItemCount: 1 });
    // 2024-03-01 is midnight UTC (first); 11:00+01:00 is 10:00Z, tied with a's view: file order.
    expect(idsOf(data.sequences, data.itemIds)).toEqual([
      ['a', 'b', 'd', 'a', 'c'],
      ['x', 'y'],
    ]);
    expect(data.log?.built.repeatsMerged).toBe(1);
    expect(data.numInteractions).toBe(7);
  });
});

describe('bad lines', () => {
  it('names the missing column from the header', async () => {
    const file = logFile('user_id,sku,timestamp\nu1,x,100\n');
    const error = await failure(() => loadUserLog(file));
    expect(error).toBeInstanceOf(DataFormatError);
    expect(error.message).toBe(
      `${file}:1: missing column "item_id" (the header has "user_id", "sku", "timestamp")`,
    );
    const both = logFile('user_id,session_id,item_id,timestamp\n');
    expect(() => getDataset(both)).toThrow(/both "user_id" and "session_id"/);
    const neither = logFile('item_id,timestamp\n');
    expect(() => getDataset(neither)).toThrow(/:1: missing column "user_id" or "session_id"/);
  });

  it('reports each bad value with its line and column', async () => {
    const header = 'user_id,item_id,timestamp,event,weight\nu1,a,100,view,1\n';
    await expectBadLine(
      `${header}u1,b,yesterday,view,1\n`,
      3,
      'timestamp',
      'bad-timestamp',
      /"yesterday" is not ISO 8601 \(2024-03-01T12:30:00Z\) or Unix seconds$/,
    );
    await expectBadLine(
      `${header}u1,b,2024-02-30T10:00:00Z,view,1\n`,
      3,
      'timestamp',
      'bad-timestamp',
      /"2024-02-30T10:00:00Z" is not ISO 8601/,
    );
    await expectBadLine(
      `${header}u1,b,1709287200000,view,1\n`,
      3,
      'timestamp',
      'millisecond-timestamp',
      /looks like Unix milliseconds; give seconds/,
    );
    await expectBadLine(
      `${header}u1,b,200,click,1\n`,
      3,
      'event',
      'unknown-event',
      /"click" is not one of view, cart, purchase/,
    );
    await expectBadLine(
      `${header}u1,b,200,view,-2\n`,
      3,
      'weight',
      'bad-weight',
      /"-2" is negative/,
    );
    await expectBadLine(
      `${header}u1,b,200,view,lots\n`,
      3,
      'weight',
      'bad-weight',
      /not a finite number/,
    );
    await expectBadLine(`${header}u1, ,200,view,1\n`, 3, 'item_id', 'empty-id', /empty id/);
    await expectBadLine(`${header}u1,b,,view,1\n`, 3, 'timestamp', 'missing-value', /empty/);
    await expectBadLine(
      `${header}u1,b,200,view\n`,
      3,
      null,
      'field-count',
      /4 fields, the header has 5/,
    );
    await expectBadLine(
      `${header}u1,"b,200,view,1\n`,
      3,
      'item_id',
      'bad-quote',
      /unterminated quote opened at character 4/,
    );
    await expectBadLine(
      `${header}u1,"b"x,200,view,1\n`,
      3,
      'item_id',
      'bad-quote',
      /text after the closing quote/,
    );
    await expectBadLine(
      '{"user_id": "u1", "item_id": "a", "timestamp": 1}\n{"user_id": "u1", "item_id": "b"}\n',
      2,
      'timestamp',
      'missing-value',
      /missing/,
      'ndjson',
    );
    await expectBadLine(
      '{"user_id": "u1", "item_id": "a", "timestamp": 1}\n{"user_id": "u1", \n',
      2,
      null,
      'not-json',
      /not valid JSON/,
      'ndjson',
    );
  });

  it('refuses a line longer than the limit, with or without --skip-bad-lines', async () => {
    const file = logFile(`user_id,item_id,timestamp\nu1,${'x'.repeat(200)},100\nu1,b,200\n`);
    for (const skipBadLines of [false, true]) {
      const error = await failure(() => loadUserLog(file, { maxLineLength: 100, skipBadLines }));
      expect(error).toBeInstanceOf(DataFormatError);
      expect(error.message).toBe(
        `${file}:2: line longer than 100 characters; is this a text data file (not a pickle or binary)?`,
      );
    }
  });

  it('--skip-bad-lines skips and counts by reason, keeping the first messages', async () => {
    const file = logFile(
      [
        'user_id,item_id,timestamp,event',
        'u1,a,100,view',
        'u1,b,soon,view',
        'u1,c,300,click',
        'u1,d,400,view',
        'u1,e,later,view',
        'u1,f,600',
      ].join('\n'),
    );
    const data = await loadUserLog(file, { minItemCount: 1, skipBadLines: true });
    expect(idsOf(data.sequences, data.itemIds)).toEqual([['a', 'd']]);
    expect(data.log?.lines.skipped).toEqual({
      'bad-timestamp': 2,
      'unknown-event': 1,
      'field-count': 1,
    });
    expect(data.log?.lines.records).toBe(6);
    expect(data.log?.lines.skippedExamples[0]).toBe(
      `${file}:3: column "timestamp": "soon" is not ISO 8601 (2024-03-01T12:30:00Z) or Unix seconds`,
    );
    // Without the option the first bad line stops the load.
    await expect(loadUserLog(file, { minItemCount: 1 })).rejects.toThrow(`${file}:3: `);
  });
});

describe('what is dropped, and counted', () => {
  it('drops items under min-item-count and users left too short', async () => {
    const rows = ['user_id,item_id,timestamp'];
    for (let u = 1; u <= 5; u++) rows.push(`u${u},hot,100`, `u${u},warm,200`);
    // "gift" has 5 events, but each of its users is left with it alone once "r<u>" goes.
    for (let u = 6; u <= 10; u++) rows.push(`u${u},gift,100`, `u${u},r${u},200`);
    const data = await loadUserLog(logFile(rows.join('\n')));
    expect(DEFAULT_EVENT_LOG.minItemCount).toBe(5);
    expect(data.itemIds).toEqual(['hot', 'warm']);
    expect(data.sequences).toHaveLength(5);
    expect(data.log?.built.items).toEqual({
      inLog: 8,
      belowMinCount: 5,
      belowMinCountSteps: 5,
      onlyInShortSequences: 1,
      kept: 2,
    });
    expect(data.log?.built.sequences).toEqual({
      inLog: 10,
      tooShort: 5,
      tooShortSteps: 5,
      kept: 5,
    });
  });

  it('refuses a log with nothing left to train on', async () => {
    const file = logFile(USERS);
    const error = await failure(() => loadUserLog(file));
    expect(error.code).toBe('empty-event-log');
    expect(error.message).toContain('no user is left with 2 events of items seen 5 times or more');
  });

  it('keeps what min-item-count 4 keeps, and reports the rest', async () => {
    const rows = ['user_id,item_id,timestamp'];
    for (const user of ['u1', 'u2', 'u3', 'u4']) rows.push(`${user},hot,100`, `${user},warm,200`);
    rows.push('u5,hot,100', 'u5,rare,200', 'u5,warm,300');
    const data = await loadUserLog(logFile(rows.join('\n')), { minItemCount: 4 });
    expect(data.itemIds).toEqual(['hot', 'warm']);
    expect(data.sequences).toHaveLength(5);
    expect(data.log?.built.items).toMatchObject({ belowMinCount: 1, belowMinCountSteps: 1 });
    expect(data.log?.identity).toMatch(/^log-\d+\.csv@[0-9a-f]{12} --min-item-count 4$/);
  });

  it('drops rows of weight 0 and event types outside --events, counting each', async () => {
    const file = logFile(
      [
        'user_id,item_id,timestamp,event,weight',
        'u1,a,100,view,1',
        'u1,b,200,cart,0',
        'u1,c,300,purchase,2.5',
        'u1,d,400,view,0.0',
        'u1,e,500,purchase,1e0',
      ].join('\n'),
    );
    const data = await loadUserLog(file, { minItemCount: 1, events: ['cart', 'purchase'] });
    expect(idsOf(data.sequences, data.itemIds)).toEqual([['c', 'e']]);
    expect(data.log?.lines).toMatchObject({ notInEvents: 2, zeroWeight: 1, events: 2 });
    const noEvents = logFile(USERS);
    await expect(loadUserLog(noEvents, { events: ['purchase'] })).rejects.toThrow(
      /--events purchase keeps some event types, but .* has no "event" column/,
    );
  });
});

describe('splits and the registry', () => {
  it('holds out the sessions that end in the last 10% of the time span', async () => {
    const day = 86_400;
    const rows = ['session_id,item_id,timestamp'];
    // Sessions s0..s9 start on days 0..9; s8 ends on day 9.2, s9 on day 10 (the end).
    for (let s = 0; s < 10; s++) {
      const start = s * day;
      const end = s === 8 ? 9.2 * day : start + 600;
      rows.push(`s${s},i${s % 3},${start}`, `s${s},i${(s + 1) % 3},${end}`);
    }
    rows.push(`s9,i0,${10 * day}`);
    const data = await loadSessionLog(logFile(rows.join('\n')), { minItemCount: 1 });
    // Day 9.2 is at or after 10 - 0.1 * 10 = 9 days: s8 and s9 are the test set.
    expect(data.trainSessions).toHaveLength(8);
    expect(data.testPrefixes.map((p) => p.length)).toEqual([1, 2]);
    expect(Array.from(data.testTargets, (t) => data.itemIds?.[t - 1])).toEqual(['i0', 'i0']);
    expect(data.log?.split).toEqual({
      testFrom: new Date(9 * day * 1000).toISOString(),
      trainSessions: 8,
      testSessions: 2,
    });
  });

  it('loads a log file wherever a data set name goes, its kind from the header', async () => {
    const file = logFile(USERS);
    expect(getDataset(file)).toMatchObject({ kind: 'sequential', format: 'event-log', file });
    const data = await loadUserSequences(file, { eventLog: { minItemCount: 1 } });
    expect(data.itemIds).toEqual(['x', 'y']);
    expect(data.dataset).toMatch(/^log-\d+\.csv@[0-9a-f]{12} --min-item-count 1$/);
    await expect(loadSessionDataset(file)).rejects.toThrow(
      /cannot load .*: it is a sequential data set/,
    );
  });

  it('refuses other extensions, missing files and a package record by name', () => {
    const text = temp.write('shop.txt', USERS);
    expect(() => getDataset(text)).toThrow(
      `${text}: an event log is a .csv, .tsv, .jsonl, .ndjson file, not .txt`,
    );
    expect(() => getDataset(join(temp.dir, 'absent.csv'))).toThrow(/event log not found: /);
    expect(() => getDataset('shop.csv@0123456789ab')).toThrow(
      /how a package records the event log .*give the log file's path with --dataset/,
    );
    expect(() => getDataset('ml-2m')).toThrow(
      /unknown data set 'ml-2m'.*or the path of an event log/,
    );
  });
});

describe('the example shop log', () => {
  it('is what scripts/generate-example-log.ts writes, byte for byte', () => {
    const { log, catalogue } = exampleShop();
    expect(readFileSync('examples/shop-log.csv', 'utf8')).toBe(log);
    expect(readFileSync('examples/shop-catalogue.json', 'utf8')).toBe(catalogue);
    expect(log.startsWith('user_id,item_id,timestamp,event\n')).toBe(true);
    const ids = new Set((JSON.parse(catalogue) as { id: string }[]).map((p) => p.id));
    const items = log
      .trim()
      .split('\n')
      .slice(1)
      .map((row) => row.split(',')[1] as string);
    expect(items.every((item) => ids.has(item))).toBe(true);
  });
});
