/**
 * The values of one event-log row: ids, timestamps, event types and weights, each checked
 * with an error that names the line, the column and the value, and the reason it is counted
 * under when `--skip-bad-lines` skips it.
 */
import { DataFormatError } from '../../errors.ts';
import { quote } from '../fields.ts';

export const EVENT_TYPES = ['view', 'cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Why a line was refused: what `--skip-bad-lines` counts skipped lines by. */
export const BAD_LINE_REASONS = [
  'field-count',
  'bad-quote',
  'not-json',
  'missing-value',
  'empty-id',
  'bad-timestamp',
  'millisecond-timestamp',
  'unknown-event',
  'bad-weight',
] as const;
export type BadLineReason = (typeof BAD_LINE_REASONS)[number];

/** A line of an event log that cannot be read: skippable, unlike a bad header or file. */
export class BadLogLineError extends DataFormatError {
  /** The header's name of the column at fault; null when the line as a whole is. */
  readonly column: string | null;
  readonly reason: BadLineReason;

  constructor(
    file: string,
    line: number,
    column: string | null,
    reason: BadLineReason,
    problem: string,
  ) {
    super(file, line, column === null ? problem : `column "${column}": ${problem}`);
    this.column = column;
    this.reason = reason;
  }
}

/** Where a value came from: file, line and the column's name in the header. */
export interface Cell {
  readonly file: string;
  readonly line: number;
  readonly column: string;
}

export function badCell(cell: Cell, reason: BadLineReason, problem: string): BadLogLineError {
  return new BadLogLineError(cell.file, cell.line, cell.column, reason, problem);
}

/**
 * Unix seconds from 10^11 on are after the year 5000: such a value is a millisecond (or
 * finer) timestamp, and reading it as seconds would put every event in the far future
 * while keeping their order, which would hide the mistake rather than fail.
 */
export const MAX_UNIX_SECONDS = 1e11;

const UNIX_SECONDS = /^\d+(\.\d+)?$/;
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * A timestamp in milliseconds since 1970: ISO 8601 (a date, or a date and time with an
 * optional offset; without one the time is read as UTC) or non-negative Unix seconds,
 * fractions allowed. Only the order of the events and the log's time span are used.
 */
export function parseTimestamp(value: string | number, cell: Cell): number {
  if (typeof value === 'number') return unixSeconds(value, String(value), cell);
  if (UNIX_SECONDS.test(value)) return unixSeconds(Number(value), value, cell);
  const ms = isoMilliseconds(value);
  if (ms === null) {
    throw badCell(
      cell,
      'bad-timestamp',
      `${quote(value)} is not ISO 8601 (2024-03-01T12:30:00Z) or Unix seconds`,
    );
  }
  return ms;
}

function unixSeconds(seconds: number, text: string, cell: Cell): number {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw badCell(cell, 'bad-timestamp', `${quote(text)} is not ISO 8601 or Unix seconds >= 0`);
  }
  if (seconds >= MAX_UNIX_SECONDS) {
    throw badCell(
      cell,
      'millisecond-timestamp',
      `${quote(text)} looks like Unix milliseconds; give seconds (divide by 1000)`,
    );
  }
  return seconds * 1000;
}

function isoMilliseconds(text: string): number | null {
  const match = ISO_8601.exec(text);
  if (match === null) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offset = offsetMinutes(zone);
  if (offset === null) return null;
  const ms = Number(`0.${fraction || '0'}`) * 1000;
  // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  date.setUTCFullYear(year);
  return date.getTime() - offset * 60_000;
}

function offsetMinutes(zone: string): number | null {
  if (zone.toUpperCase() === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59 || (digits.length !== 2 && digits.length !== 4)) return null;
  return sign * (hours * 60 + minutes);
}

/** A user, session or item id: any text but an empty one, surrounding spaces removed. */
export function parseId(value: string | number, cell: Cell): string {
  const id = typeof value === 'number' ? String(value) : value.trim();
  if (id.length === 0) throw badCell(cell, 'empty-id', 'empty id');
  return id;
}

/** view, cart or purchase, in any case. */
export function parseEventType(value: string, cell: Cell): EventType {
  const type = value.trim().toLowerCase();
  if (!(EVENT_TYPES as readonly string[]).includes(type)) {
    throw badCell(cell, 'unknown-event', `${quote(value)} is not one of ${EVENT_TYPES.join(', ')}`);
  }
  return type as EventType;
}

const DECIMAL = /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A finite number >= 0. */
export function parseWeight(value: string | number, cell: Cell): number {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const weight = typeof value === 'number' ? value : DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(weight) || weight < 0) {
    const why = /^-/.test(text) ? 'is negative' : 'is not a finite number';
    throw badCell(cell, 'bad-weight', `${quote(text)} ${why}; a weight is a number >= 0`);
  }
  return weight;
}
