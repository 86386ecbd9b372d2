/**
 * The layouts of an event log: CSV (RFC 4180 quoting), TSV (tab-separated, no quoting) or
 * newline-delimited JSON, told apart by the file's extension. Columns are found by their
 * header names (for NDJSON, the first record's keys), in any order; the header also says
 * what the log's rows are grouped by, users or sessions.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { DataFormatError, PocketrecError } from '../../errors.ts';
import { quote } from '../fields.ts';
import { BadLogLineError } from './values.ts';

export const EVENT_LOG_SYNTAXES = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.jsonl': 'ndjson',
  '.ndjson': 'ndjson',
} as const;
export type LogSyntax = (typeof EVENT_LOG_SYNTAXES)[keyof typeof EVENT_LOG_SYNTAXES];
export const EVENT_LOG_EXTENSIONS = Object.keys(EVENT_LOG_SYNTAXES);

/** What a log's rows are grouped into: per-user histories or sessions. */
export type LogKind = 'sequential' | 'session';

/** The column that groups the rows, by the kind it makes. */
export const GROUP_COLUMNS = { sequential: 'user_id', session: 'session_id' } as const;
const OPTIONAL_COLUMNS = ['event', 'weight'] as const;

/** The columns a header names, by position (NDJSON: by key), and what they make the log. */
export interface LogColumns {
  readonly kind: LogKind;
  /** Header names as written (trimmed), in file order; NDJSON: the first record's keys. */
  readonly names: readonly string[];
  /** Position in `names` of each column pocketrec reads; -1 for an optional one not there. */
  readonly group: number;
  readonly item: number;
  readonly timestamp: number;
  readonly event: number;
  readonly weight: number;
  /** Columns the header has that pocketrec does not read: reported, never an error. */
  readonly ignored: readonly string[];
}

/** The syntax of `file` by its extension; any other extension is refused by name. */
export function logSyntaxOf(file: string): LogSyntax {
  const extension = extname(file).toLowerCase();
  const syntax = EVENT_LOG_SYNTAXES[extension as keyof typeof EVENT_LOG_SYNTAXES];
  if (syntax === undefined) {
    throw new PocketrecError(
      'bad-event-log',
      `${file}: an event log is a ${EVENT_LOG_EXTENSIONS.join(', ')} file, not ${extension === '' ? 'a file without an extension' : extension}`,
    );
  }
  return syntax;
}

/**
 * The header's columns. Names are matched without regard to case or surrounding spaces.
 * Exactly one of user_id and session_id must be there: with both, which one groups the
 * rows would be a guess, and the two make different splits.
 */
export function parseHeader(
  syntax: LogSyntax,
  text: string,
  at: { file: string; line: number },
): LogColumns {
  const names = syntax === 'ndjson' ? jsonKeys(text, at) : splitHeader(syntax, text, at);
  const keys = names.map((name) => name.toLowerCase());
  const fail = (problem: string) => new DataFormatError(at.file, at.line, problem);
  const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
  if (duplicate !== undefined) throw fail(`the header names column "${duplicate}" twice`);
  const found = `(the header has ${names.map((n) => quote(n)).join(', ')})`;
  const hasUser = keys.includes(GROUP_COLUMNS.sequential);
  const hasSession = keys.includes(GROUP_COLUMNS.session);
  if (hasUser && hasSession) {
    throw fail(
      'the header has both "user_id" and "session_id": keep user_id for per-user histories (leave-one-out) or session_id for sessions (split by time)',
    );
  }
  if (!hasUser && !hasSession) throw fail(`missing column "user_id" or "session_id" ${found}`);
  for (const required of ['item_id', 'timestamp']) {
    if (!keys.includes(required)) throw fail(`missing column "${required}" ${found}`);
  }
  const kind: LogKind = hasUser ? 'sequential' : 'session';
  const known = new Set<string>([GROUP_COLUMNS[kind], 'item_id', 'timestamp', ...OPTIONAL_COLUMNS]);
  return {
    kind,
    names,
    group: keys.indexOf(GROUP_COLUMNS[kind]),
    item: keys.indexOf('item_id'),
    timestamp: keys.indexOf('timestamp'),
    event: keys.indexOf('event'),
    weight: keys.indexOf('weight'),
    ignored: names.filter((_, i) => !known.has(keys[i] as string)),
  };
}

function splitHeader(syntax: 'csv' | 'tsv', text: string, at: { file: string; line: number }) {
  const fields = splitRecord(syntax, text, at, []);
  return fields.map((name) => name.trim());
}

function jsonKeys(text: string, at: { file: string; line: number }): string[] {
  return Object.keys(parseJsonRecord(text, at)).map((key) => key.trim());
}

/** One NDJSON line: a JSON object, or a skippable bad line. */
export function parseJsonRecord(
  text: string,
  at: { file: string; line: number },
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadLogLineError(at.file, at.line, null, 'not-json', 'not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadLogLineError(at.file, at.line, null, 'not-json', 'not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * A CSV or TSV line's fields. CSV follows RFC 4180: a field in double quotes may hold
 * commas and doubled quotes (""), and spaces around the quotes are ignored; a quoted field
 * must close on its line, so a stray quote is reported where it is instead of swallowing
 * the lines after it. TSV fields are taken as they are. `names` names a field's column in
 * errors (the header's own line passes none).
 */
export function splitRecord(
  syntax: 'csv' | 'tsv',
  text: string,
  at: { file: string; line: number },
  names: readonly string[],
): string[] {
  if (syntax === 'tsv') return text.split('\t');
  const fields: string[] = [];
  let start = 0;
  for (;;) {
    const columnName = names[fields.length] ?? null;
    const open = skipSpaces(text, start);
    if (text.charCodeAt(open) !== QUOTE) {
      const comma = text.indexOf(',', start);
      fields.push(text.slice(start, comma === -1 ? text.length : comma));
      if (comma === -1) return fields;
      start = comma + 1;
      continue;
    }
    const { value, end } = quotedField(text, open, at, columnName);
    fields.push(value);
    if (end === text.length) return fields;
    start = end + 1;
  }
}

const QUOTE = 34;
const SPACE = 32;

function skipSpaces(text: string, from: number): number {
  let i = from;
  while (text.charCodeAt(i) === SPACE) i++;
  return i;
}

/** The field opening at `open` (a quote), and where it ends: at a comma or the line's end. */
function quotedField(
  text: string,
  open: number,
  at: { file: string; line: number },
  column: string | null,
): { value: string; end: number } {
  const bad = (problem: string) =>
    new BadLogLineError(at.file, at.line, column, 'bad-quote', problem);
  let value = '';
  let from = open + 1;
  for (;;) {
    const close = text.indexOf('"', from);
    if (close === -1) {
      throw bad(
        `unterminated quote opened at character ${open + 1} (a quoted field must close on its line)`,
      );
    }
    value += text.slice(from, close);
    if (text.charCodeAt(close + 1) === QUOTE) {
      value += '"';
      from = close + 2;
      continue;
    }
    const end = skipSpaces(text, close + 1);
    if (end < text.length && text[end] !== ',') {
      throw bad(`text after the closing quote at character ${close + 1}`);
    }
    return { value, end };
  }
}

/**
 * The first line of `file` that is not blank (the header, or NDJSON's first record) and its
 * number, read without streaming the rest: `getDataset` needs a log's kind synchronously.
 */
export function readHeaderLine(
  file: string,
  maxLineLength: number,
): { text: string; number: number } | null {
  const fd = openSync(file, 'r');
  try {
    const decoder = new TextDecoder('utf-8');
    const buffer = Buffer.alloc(64 * 1024);
    let pending = '';
    let number = 1;
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      pending += decoder.decode(buffer.subarray(0, read), { stream: read > 0 });
      for (;;) {
        const newline = pending.indexOf('\n');
        if (newline === -1) break;
        const text = pending.slice(0, newline).replace(/\r$/, '');
        if (text.trim().length > 0) return { text: text.replace(/^\uFEFF/, ''), number };
        pending = pending.slice(newline + 1);
        number++;
      }
      if (pending.length > maxLineLength) {
        throw new DataFormatError(
          file,
          number,
          `line longer than ${maxLineLength} characters; is this a text event log?`,
        );
      }
      if (read === 0) {
        const text = pending.replace(/^\uFEFF/, '');
        return text.trim().length > 0 ? { text, number } : null;
      }
    }
  } finally {
    closeSync(fd);
  }
}
