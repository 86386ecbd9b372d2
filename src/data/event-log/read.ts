/**
 * Streams an event log's rows into compact columns: a dense index per user or session and
 * per item (in order of first appearance), and each event's time. Memory is one line plus
 * the columns; a line longer than the limit stops the read (lines.ts). Rows a filter drops
 * and lines skipped as bad are counted, never lost without a trace.
 */
import { DataFormatError, UsageError } from '../../errors.ts';
import { Interner } from '../ctr/encode.ts';
import { quote } from '../fields.ts';
import { GrowableInt32Array } from '../growable.ts';
import { readLines } from '../lines.ts';
import {
  type LogColumns,
  type LogSyntax,
  parseHeader,
  parseJsonRecord,
  splitRecord,
} from './format.ts';
import {
  type BadLineReason,
  BadLogLineError,
  type Cell,
  EVENT_TYPES,
  type EventType,
  parseEventType,
  parseId,
  parseTimestamp,
  parseWeight,
} from './values.ts';

export interface ReadLogOptions {
  readonly skipBadLines: boolean;
  /** Event types kept; the others' rows are dropped and counted. */
  readonly events: readonly EventType[];
  readonly maxLineLength: number;
}

/** How many messages of skipped lines a report keeps, to show what was wrong. */
const SKIPPED_EXAMPLES = 5;

/** What became of the log's lines and rows on the way in. */
export interface ReadCounts {
  /** Lines after the header holding a record (NDJSON: every record, the first included). */
  records: number;
  /** Blank lines, ignored wherever they are: they hold no event. */
  blankLines: number;
  /** Lines skipped with --skip-bad-lines, by reason. */
  skipped: Partial<Record<BadLineReason, number>>;
  /** The first skipped lines' errors (file:line: column: problem). */
  skippedExamples: string[];
  /** Rows read of each event type, before the --events filter; empty without an event column. */
  byEvent: Partial<Record<EventType, number>>;
  /** Rows whose event type --events leaves out. */
  notInEvents: number;
  /** Rows of weight 0. */
  zeroWeight: number;
  /** Rows kept as events. */
  events: number;
}

/** The kept events as columns, indices into `groupIds` and `itemIds`. */
export interface LogRows {
  readonly columns: LogColumns;
  readonly groupIds: readonly string[];
  readonly itemIds: readonly string[];
  readonly groupOf: Int32Array;
  readonly itemOf: Int32Array;
  /** Milliseconds since 1970. */
  readonly timeOf: Float64Array;
  readonly counts: ReadCounts;
}

interface Row {
  group: string;
  item: string;
  time: number;
  event: EventType | null;
  weight: number | null;
}

export async function readLogRows(
  file: string,
  syntax: LogSyntax,
  options: ReadLogOptions,
): Promise<LogRows> {
  const rows = new RowCollector(options);
  let columns: LogColumns | null = null;
  for await (const { text, number } of readLines(file, { maxLineLength: options.maxLineLength })) {
    if (text.trim().length === 0) {
      rows.counts.blankLines++;
      continue;
    }
    const at = { file, line: number };
    if (columns === null) {
      columns = parseHeader(syntax, text, at);
      checkEventFilter(columns, options.events, file);
      // NDJSON has no header line: its first record names the columns and is data too.
      if (syntax !== 'ndjson') continue;
    }
    rows.counts.records++;
    try {
      rows.add(readRow(syntax, columns, text, at));
    } catch (error) {
      if (!(error instanceof BadLogLineError) || !options.skipBadLines) throw error;
      rows.skip(error);
    }
  }
  if (columns === null) {
    throw new DataFormatError(file, 1, 'the file is empty; an event log starts with a header');
  }
  return rows.finish(columns);
}

/** Keeps the rows the filters let through, as columns, and counts every other one. */
class RowCollector {
  readonly counts: ReadCounts = {
    records: 0,
    blankLines: 0,
    skipped: {},
    skippedExamples: [],
    byEvent: {},
    notInEvents: 0,
    zeroWeight: 0,
    events: 0,
  };
  private readonly groups = new Interner<string>();
  private readonly items = new Interner<string>();
  private readonly groupOf = new GrowableInt32Array(64 * 1024);
  private readonly itemOf = new GrowableInt32Array(64 * 1024);
  private readonly times: number[] = [];

  constructor(private readonly options: ReadLogOptions) {}

  add(row: Row): void {
    const counts = this.counts;
    if (row.event !== null) {
      counts.byEvent[row.event] = (counts.byEvent[row.event] ?? 0) + 1;
      if (!this.options.events.includes(row.event)) {
        counts.notInEvents++;
        return;
      }
    }
    if (row.weight === 0) {
      counts.zeroWeight++;
      return;
    }
    counts.events++;
    this.groupOf.push(this.groups.code(row.group));
    this.itemOf.push(this.items.code(row.item));
    this.times.push(row.time);
  }

  skip(error: BadLogLineError): void {
    const counts = this.counts;
    counts.skipped[error.reason] = (counts.skipped[error.reason] ?? 0) + 1;
    if (counts.skippedExamples.length < SKIPPED_EXAMPLES)
      counts.skippedExamples.push(error.message);
  }

  finish(columns: LogColumns): LogRows {
    return {
      columns,
      groupIds: idsOf(this.groups),
      itemIds: idsOf(this.items),
      groupOf: this.groupOf.toArray(),
      itemOf: this.itemOf.toArray(),
      timeOf: Float64Array.from(this.times),
      counts: this.counts,
    };
  }
}

function idsOf(interner: Interner<string>): string[] {
  return Array.from({ length: interner.size }, (_, code) => interner.valueAt(code));
}

/** `--events` narrower than all types needs an event column to narrow by. */
function checkEventFilter(columns: LogColumns, events: readonly EventType[], file: string) {
  if (columns.event === -1 && events.length < EVENT_TYPES.length) {
    throw new UsageError(
      `--events ${events.join(',')} keeps some event types, but ${file} has no "event" column`,
    );
  }
}

/** One record's values, checked; a BadLogLineError names what is wrong. */
function readRow(
  syntax: LogSyntax,
  columns: LogColumns,
  text: string,
  at: { file: string; line: number },
): Row {
  const valueAt = recordValues(syntax, columns, text, at);
  const cell = (index: number): Cell => ({ ...at, column: columns.names[index] as string });
  const textOf = (index: number): string => {
    const value = valueAt(index);
    return typeof value === 'number' ? String(value) : value;
  };
  const group = parseId(valueAt(columns.group), cell(columns.group));
  const item = parseId(valueAt(columns.item), cell(columns.item));
  const time = parseTimestamp(valueAt(columns.timestamp), cell(columns.timestamp));
  const event =
    columns.event === -1 ? null : parseEventType(textOf(columns.event), cell(columns.event));
  const weight =
    columns.weight === -1 ? null : parseWeight(valueAt(columns.weight), cell(columns.weight));
  return { group, item, time, event, weight };
}

/**
 * The record's value of a column by its position in the header: trimmed text for CSV and
 * TSV, a string or number for NDJSON. A missing or empty value is a bad line, except an
 * empty id, which parseId reports as such.
 */
function recordValues(
  syntax: LogSyntax,
  columns: LogColumns,
  text: string,
  at: { file: string; line: number },
): (index: number) => string | number {
  const missing = (index: number, problem: string) =>
    new BadLogLineError(at.file, at.line, columns.names[index] ?? null, 'missing-value', problem);
  const isId = (index: number) => index === columns.group || index === columns.item;
  if (syntax === 'ndjson') {
    const record = parseJsonRecord(text, at);
    return (index) => {
      const value = record[columns.names[index] as string];
      if (
        typeof value === 'number' ||
        (typeof value === 'string' && (isId(index) || value.trim() !== ''))
      ) {
        return typeof value === 'string' ? value.trim() : value;
      }
      throw missing(
        index,
        value === undefined
          ? 'missing'
          : `${quote(JSON.stringify(value))} is not a string or number`,
      );
    };
  }
  const fields = splitRecord(syntax, text, at, columns.names);
  if (fields.length !== columns.names.length) {
    throw new BadLogLineError(
      at.file,
      at.line,
      null,
      'field-count',
      `${fields.length} fields, the header has ${columns.names.length}`,
    );
  }
  return (index) => {
    const value = (fields[index] as string).trim();
    if (value === '' && !isId(index)) throw missing(index, 'empty');
    return value;
  };
}
