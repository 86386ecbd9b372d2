/**
 * Every error pocketrec raises on purpose is a PocketrecError with a stable `code`,
 * so callers (the CLI, the worker boundary, tests) can branch on the kind of failure
 * without parsing messages.
 */
export class PocketrecError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Malformed input data: names the file and the 1-based line. */
export class DataFormatError extends PocketrecError {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, problem: string) {
    super('data-format', `${file}:${line}: ${problem}`);
    this.file = file;
    this.line = line;
  }
}

/** A command-line usage mistake (exit code 2). */
export class UsageError extends PocketrecError {
  constructor(message: string) {
    super('usage', message);
  }
}
