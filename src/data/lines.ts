import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { DataFormatError, PocketrecError } from '../errors.ts';

/** One line of a text file, without its line terminator. */
export interface Line {
  readonly text: string;
  /** 1-based, as editors and error messages count. */
  readonly number: number;
}

export interface ReadLinesOptions {
  /** movies.dat and users.dat are ISO-8859-1 ('latin1'); the other files are ASCII/UTF-8. */
  readonly encoding?: 'utf8' | 'latin1';
  /** Characters; a longer line is an error rather than an unbounded buffer. */
  readonly maxLineLength?: number;
  /** Bytes per read. Only tests have a reason to change it (to split characters across reads). */
  readonly chunkSize?: number;
}

/**
 * The longest real line is under 1,000 characters. A line past 1 Mi characters means a
 * binary file (the original pickles sit next to the text files) or a file without newlines,
 * and buffering it whole would defeat streaming.
 */
export const DEFAULT_MAX_LINE_LENGTH = 1 << 20;

const CARRIAGE_RETURN = 13;

/** The complete lines of one read, numbered from `firstLineNumber`. */
interface LineBatch {
  readonly lines: string[];
  readonly firstLineNumber: number;
}

/**
 * Splits a file into lines one read at a time. Lines are handed out per read rather than
 * one by one because every async-generator hop costs about 0.3 s per million lines, and
 * the public readers already add one.
 */
async function* readLineBatches(
  file: string,
  options: ReadLinesOptions,
): AsyncGenerator<LineBatch> {
  const maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  const stream = createReadStream(file, {
    encoding: options.encoding ?? 'utf8',
    highWaterMark: options.chunkSize ?? 64 * 1024,
  });
  let pending = '';
  let lineNumber = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const buffer = pending + chunk;
      const firstLineNumber = lineNumber + 1;
      const lines: string[] = [];
      let start = 0;
      for (;;) {
        const newline = buffer.indexOf('\n', start);
        if (newline === -1) break;
        lineNumber++;
        const end =
          newline > start && buffer.charCodeAt(newline - 1) === CARRIAGE_RETURN
            ? newline - 1
            : newline;
        if (end - start > maxLineLength) throw lineTooLong(file, lineNumber, maxLineLength);
        lines.push(buffer.slice(start, end));
        start = newline + 1;
      }
      pending = buffer.slice(start);
      if (pending.length > maxLineLength) throw lineTooLong(file, lineNumber + 1, maxLineLength);
      if (lines.length > 0) yield { lines: dropBom(lines, firstLineNumber), firstLineNumber };
    }
  } catch (error) {
    throw describeFsError(error, file);
  }
  if (pending.length > 0) {
    lineNumber++;
    const last =
      pending.charCodeAt(pending.length - 1) === CARRIAGE_RETURN ? pending.slice(0, -1) : pending;
    yield { lines: dropBom([last], lineNumber), firstLineNumber: lineNumber };
  }
}

/**
 * Streams a text file line by line with memory bounded by one read plus one line.
 * Accepts LF and CRLF endings (the NFM libfm files are CRLF) and a missing final newline.
 * A UTF-8 byte order mark on the first line is dropped.
 */
export async function* readLines(
  file: string,
  options: ReadLinesOptions = {},
): AsyncGenerator<Line> {
  for await (const { lines, firstLineNumber } of readLineBatches(file, options)) {
    for (let i = 0; i < lines.length; i++) {
      yield { text: lines[i] as string, number: firstLineNumber + i };
    }
  }
}

export interface ReadDataLinesOptions extends ReadLinesOptions {
  /**
   * The exact first line the file must start with; it is checked and not yielded. The
   * header check is what tells a ratings file from, say, an item map passed by mistake.
   */
  readonly header?: string;
}

/**
 * The non-blank lines of a file, after its header if one is expected. Blank lines are
 * accepted only at the end of the file (editors and `echo >>` leave them); a blank line
 * between records usually means two files were concatenated or one was cut, so it is
 * reported instead of skipped.
 */
export async function* readDataLines(
  file: string,
  options: ReadDataLinesOptions = {},
): AsyncGenerator<Line> {
  const header = options.header;
  let awaitingHeader = header !== undefined;
  let firstBlankLine = 0;
  for await (const { lines, firstLineNumber } of readLineBatches(file, options)) {
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i] as string;
      const number = firstLineNumber + i;
      if (isBlank(text)) {
        if (firstBlankLine === 0) firstBlankLine = number;
        continue;
      }
      if (firstBlankLine !== 0) {
        throw new DataFormatError(
          file,
          firstBlankLine,
          'blank line between records (only trailing blank lines are allowed)',
        );
      }
      if (awaitingHeader) {
        if (number !== 1 || text !== header) {
          throw new DataFormatError(
            file,
            number,
            `header missing: expected ${JSON.stringify(header)}, found ${JSON.stringify(truncate(text))}`,
          );
        }
        awaitingHeader = false;
        continue;
      }
      yield { text, number };
    }
  }
  if (awaitingHeader) {
    throw new DataFormatError(
      file,
      1,
      `header missing: the file is empty (expected ${JSON.stringify(header)})`,
    );
  }
}

function isBlank(text: string): boolean {
  return text.length === 0 || text.trim().length === 0;
}

function dropBom(lines: string[], firstLineNumber: number): string[] {
  const first = lines[0];
  if (firstLineNumber === 1 && first !== undefined && first.charCodeAt(0) === 0xfeff) {
    lines[0] = first.slice(1);
  }
  return lines;
}

function lineTooLong(file: string, lineNumber: number, maxLineLength: number): DataFormatError {
  return new DataFormatError(
    file,
    lineNumber,
    `line longer than ${maxLineLength} characters; is this a text data file (not a pickle or binary)?`,
  );
}

/** Turns "file not there" into a PocketrecError that names the full path; other errors pass. */
function describeFsError(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new PocketrecError('missing-data-file', `data file not found: ${resolve(file)}`, {
      cause: error,
    });
  }
  if (code === 'EISDIR') {
    return new PocketrecError(
      'missing-data-file',
      `expected a file, found a directory: ${resolve(file)}`,
      {
        cause: error,
      },
    );
  }
  return error;
}

/** Keeps error messages readable when a whole long line is quoted. */
export function truncate(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
