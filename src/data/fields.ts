import { DataFormatError } from '../errors.ts';
import { truncate } from './lines.ts';

/** Where a token came from, for error messages. */
export interface Position {
  readonly file: string;
  readonly line: number;
}

const MAX_INT32 = 2 ** 31 - 1;

/** Runs of spaces and tabs: SASRec/S3-Rec/session/libfm files are written with `' '.join`. */
export const WHITESPACE = /[ \t]+/;

/**
 * Splits a whitespace-separated line. Leading and trailing whitespace is ignored, as the
 * Python readers these files were written for do (`line.strip().split()`).
 */
export function splitWhitespace(text: string): string[] {
  return text.trim().split(WHITESPACE);
}

/**
 * Parses a plain base-10 integer, or returns NaN. `Number()` and `parseInt()` are too
 * lenient for ids: they accept '', '1e3', '0x10', '1.0' or '12abc'.
 */
export function parseInteger(token: string): number {
  const length = token.length;
  // 15 digits plus a sign stays a safe integer.
  if (length === 0 || length > 16) return Number.NaN;
  let index = 0;
  let negative = false;
  const first = token.charCodeAt(0);
  if (first === 45 || first === 43) {
    if (length === 1) return Number.NaN;
    negative = first === 45;
    index = 1;
  }
  let value = 0;
  for (; index < length; index++) {
    const digit = token.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/** An integer in [min, 2^31-1], since ids end up in Int32Arrays. */
export function parseIntegerField(token: string, what: string, min: number, at: Position): number {
  const value = parseInteger(token);
  if (Number.isNaN(value)) {
    throw new DataFormatError(at.file, at.line, `${what} ${quote(token)} is not an integer`);
  }
  if (value < min) {
    const why =
      min === 1
        ? value === 0
          ? 'is not positive (ids start at 1; 0 is reserved for padding)'
          : 'is not positive'
        : `is below ${min}`;
    throw new DataFormatError(at.file, at.line, `${what} ${value} ${why}`);
  }
  if (value > MAX_INT32) {
    throw new DataFormatError(at.file, at.line, `${what} ${value} does not fit in 32 bits`);
  }
  return value;
}

/** Item ids: 1..2^31-1, because 0 is the padding id in every sequence model. */
export function parseItemId(token: string, at: Position, what = 'item id'): number {
  return parseIntegerField(token, what, 1, at);
}

/** User ids and other non-negative integers (nothing reserves user 0). */
export function parseNonNegative(token: string, what: string, at: Position): number {
  return parseIntegerField(token, what, 0, at);
}

/** Throws unless a record has exactly the fields its format defines. */
export function expectFieldCount(
  fields: readonly string[],
  expected: number,
  layout: string,
  at: Position,
): void {
  if (fields.length !== expected) {
    throw new DataFormatError(
      at.file,
      at.line,
      `expected ${expected} fields (${layout}), found ${fields.length}`,
    );
  }
}

export function quote(token: string): string {
  return JSON.stringify(truncate(token, 40));
}
