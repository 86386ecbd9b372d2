/**
 * A shop's own event log as a data set (docs/own-data.md): CSV, TSV or NDJSON rows of
 * `user_id` or `session_id`, `item_id`, `timestamp`, and optionally `event` and `weight`.
 * A user log becomes per-user histories for leave-one-out; a session log becomes sessions,
 * those ending in the last 10% of the log's time span held out as the test set. The shop's
 * item ids travel with the data, so a package trained on it names the shop's items.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { DataFormatError, PocketrecError } from '../../errors.ts';
import { SequencePacker } from '../growable.ts';
import type { UserSequences } from '../sequences.ts';
import type { SessionDataset } from '../sessions.ts';
import { type BuildCounts, type BuiltSequences, buildSequences } from './build.ts';
import {
  type LogColumns,
  type LogKind,
  type LogSyntax,
  logSyntaxOf,
  parseHeader,
  readHeaderLine,
} from './format.ts';
import { type ReadCounts, readLogRows } from './read.ts';
import { EVENT_TYPES, type EventType } from './values.ts';

export { EVENT_LOG_EXTENSIONS, type LogKind, type LogSyntax } from './format.ts';
export {
  BAD_LINE_REASONS,
  type BadLineReason,
  BadLogLineError,
  EVENT_TYPES,
  type EventType,
} from './values.ts';

export interface EventLogOptions {
  /** Items with fewer steps (events, after merging repeats) are dropped; SASRec's cut is 5. */
  readonly minItemCount: number;
  /** Skip lines that cannot be read, counting them by reason, instead of stopping. */
  readonly skipBadLines: boolean;
  /** Event types kept. The models see items, not types: this only chooses the rows. */
  readonly events: readonly EventType[];
  /** Characters; a longer line stops the load whatever --skip-bad-lines says (a wrong file). */
  readonly maxLineLength: number;
  /** Shortest user history or session kept: one item to go on and one to predict. */
  readonly minSequenceLength: number;
  /** Share of the log's time span at its end: sessions ending in it are the test set. */
  readonly testTimeShare: number;
}

export const DEFAULT_EVENT_LOG: EventLogOptions = {
  minItemCount: 5,
  skipBadLines: false,
  events: EVENT_TYPES,
  maxLineLength: 64 * 1024,
  minSequenceLength: 2,
  testTimeShare: 0.1,
};

/** Everything loading a log counted and decided, for `data stats`, `train` and the package. */
export interface EventLogReport {
  readonly file: string;
  /** What a package records as its data set: the file's name, its hash and any non-default setting. */
  readonly identity: string;
  readonly sha256: string;
  readonly syntax: LogSyntax;
  readonly kind: LogKind;
  readonly settings: Pick<
    EventLogOptions,
    'minItemCount' | 'events' | 'skipBadLines' | 'minSequenceLength'
  >;
  readonly columns: { read: string[]; ignored: string[] };
  readonly lines: ReadCounts;
  readonly built: BuildCounts;
  /** First and last kept event, ISO 8601. */
  readonly timeSpan: { first: string; last: string };
  /** Session logs: sessions ending at or after `testFrom` are the test set. */
  readonly split?: { testFrom: string; trainSessions: number; testSessions: number };
}

/** A log's layout and kind from its extension and header, without reading the rest. */
export function describeEventLog(file: string): { syntax: LogSyntax; columns: LogColumns } {
  const syntax = logSyntaxOf(file);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new PocketrecError('missing-data-file', `event log not found: ${resolve(file)}`);
  }
  const header = readHeaderLine(file, DEFAULT_EVENT_LOG.maxLineLength);
  if (header === null) {
    throw new DataFormatError(file, 1, 'the file is empty; an event log starts with a header');
  }
  return { syntax, columns: parseHeader(syntax, header.text, { file, line: header.number }) };
}

/**
 * The name a package trained on the log records, stable across machines and paths:
 * `shop-log.csv@3f9a1c0b7e2d` (its first 12 hex digits of SHA-256), then the settings that
 * change the data when not the defaults, written as the options that give them.
 */
export function eventLogIdentity(file: string, sha256: string, options: EventLogOptions): string {
  const parts = [`${basename(file)}@${sha256.slice(0, 12)}`];
  if (options.minItemCount !== DEFAULT_EVENT_LOG.minItemCount) {
    parts.push(`--min-item-count ${options.minItemCount}`);
  }
  if (options.events.length !== EVENT_TYPES.length)
    parts.push(`--events ${options.events.join(',')}`);
  return parts.join(' ');
}

/** Whether `name` is what eventLogIdentity makes (a package's record, not a path). */
export function isEventLogIdentity(name: string): boolean {
  return /@[0-9a-f]{12}( |$)/.test(name);
}

export async function loadUserLog(
  file: string,
  options: Partial<EventLogOptions> = {},
): Promise<UserSequences> {
  const { built, report } = await loadLog(file, 'sequential', { ...DEFAULT_EVENT_LOG, ...options });
  const { sequences } = built;
  return {
    dataset: report.identity,
    numItems: built.itemIds.length,
    numInteractions: sequences.reduce((n, s) => n + s.length, 0),
    users: Int32Array.from(sequences, (_, k) => k + 1),
    sequences,
    sourceItemIds: null,
    itemIds: built.itemIds,
    log: report,
  };
}

export async function loadSessionLog(
  file: string,
  options: Partial<EventLogOptions> = {},
): Promise<SessionDataset> {
  const settings = { ...DEFAULT_EVENT_LOG, ...options };
  const { built, report } = await loadLog(file, 'session', settings);
  const split = splitByTime(built, settings.testTimeShare, file);
  return {
    dataset: report.identity,
    numItems: built.itemIds.length,
    minTrainPrefixLength: 1,
    trainSessions: split.train,
    testPrefixes: split.testPrefixes,
    testTargets: split.testTargets,
    itemIds: built.itemIds,
    log: {
      ...report,
      split: {
        testFrom: new Date(split.testFrom).toISOString(),
        trainSessions: split.train.length,
        testSessions: split.testTargets.length,
      },
    },
  };
}

async function loadLog(
  file: string,
  kind: LogKind,
  options: EventLogOptions,
): Promise<{ built: BuiltSequences; report: EventLogReport }> {
  const { syntax, columns } = describeEventLog(file);
  if (columns.kind !== kind) {
    throw new PocketrecError(
      'wrong-dataset-kind',
      `${file} is a ${columns.kind === 'session' ? 'session' : 'user'} log, not a ${kind === 'session' ? 'session' : 'user'} log`,
    );
  }
  const sha256 = await hashFile(file);
  const rows = await readLogRows(file, syntax, options);
  const built = buildSequences(rows, options);
  if (built.sequences.length === 0) {
    throw new PocketrecError(
      'empty-event-log',
      `${file}: no ${kind === 'session' ? 'session' : 'user'} is left with ${options.minSequenceLength} events of items seen ${options.minItemCount} times or more (${rows.counts.events} events read)`,
    );
  }
  const read = [columns.group, columns.item, columns.timestamp, columns.event, columns.weight];
  const report: EventLogReport = {
    file,
    identity: eventLogIdentity(file, sha256, options),
    sha256,
    syntax,
    kind,
    settings: {
      minItemCount: options.minItemCount,
      events: options.events,
      skipBadLines: options.skipBadLines,
      minSequenceLength: options.minSequenceLength,
    },
    columns: {
      read: read.filter((i) => i !== -1).map((i) => columns.names[i] as string),
      ignored: [...columns.ignored],
    },
    lines: rows.counts,
    built: built.counts,
    timeSpan: {
      first: new Date(minOf(built.firstTimes)).toISOString(),
      last: new Date(maxOf(built.lastTimes)).toISOString(),
    },
  };
  return { built, report };
}

/**
 * Sessions whose last event falls in the last `share` of the time span are the test set:
 * every training click then comes before the cut, and every test target after it. Each
 * test session is one case, its last item after the ones before it. Both parts are in the
 * order their sessions ended, so sessionHoldout validates on the latest training sessions.
 */
function splitByTime(built: BuiltSequences, share: number, file: string) {
  const first = minOf(built.firstTimes);
  const last = maxOf(built.lastTimes);
  const testFrom = last - share * (last - first);
  const byEnd = Array.from(built.sequences.keys()).sort(
    (a, b) => (built.lastTimes[a] as number) - (built.lastTimes[b] as number) || a - b,
  );
  const train = new SequencePacker();
  const prefixes = new SequencePacker();
  const targets: number[] = [];
  for (const k of byEnd) {
    const session = built.sequences[k] as Int32Array;
    if ((built.lastTimes[k] as number) >= testFrom && last > first) {
      prefixes.add(session.subarray(0, session.length - 1));
      targets.push(session[session.length - 1] as number);
    } else train.add(session);
  }
  if (targets.length === 0 || train.count === 0) {
    throw new PocketrecError(
      'empty-event-log',
      `${file}: cannot split ${built.sequences.length} sessions by time: ${targets.length} end in the last ${share * 100}% of the log's span (${new Date(first).toISOString()} to ${new Date(last).toISOString()}) and ${train.count} before it; both parts need sessions`,
    );
  }
  return {
    train: train.finish().sequences,
    testPrefixes: prefixes.finish().sequences,
    testTargets: Int32Array.from(targets),
    testFrom,
  };
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Loops rather than Math.min(...values): a spread of a million sessions overflows the stack.
function minOf(values: Float64Array): number {
  let min = Number.POSITIVE_INFINITY;
  for (const value of values) min = Math.min(min, value);
  return min;
}

function maxOf(values: Float64Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const value of values) max = Math.max(max, value);
  return max;
}
