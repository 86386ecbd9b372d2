import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { DataFormatError } from '../../../src/errors.ts';

/** A scratch directory for small hand-written data files, removed after the test file. */
export function useTempDir(): {
  readonly dir: string;
  /** Writes `content` to `name` (a relative path; parent folders are created). */
  write(name: string, content: string | Uint8Array): string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'pocketrec-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(name, content) {
      const path = join(dir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      return path;
    },
  };
}

export async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

/** Asserts that `run` fails with a DataFormatError for `file` at `line` mentioning `problem`. */
export async function expectFormatError(
  run: () => Promise<unknown>,
  file: string,
  line: number,
  problem: RegExp,
): Promise<void> {
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DataFormatError);
  const formatError = error as DataFormatError;
  expect(formatError.code).toBe('data-format');
  expect(formatError.file).toBe(file);
  expect(formatError.line).toBe(line);
  expect(formatError.message).toContain(`${file}:${line}: `);
  expect(formatError.message).toMatch(problem);
}
