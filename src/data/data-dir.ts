import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PocketrecError } from '../errors.ts';

export const DATA_DIR_ENV = 'POCKETREC_DATA_DIR';

/**
 * The value of $POCKETREC_DATA_DIR that means "there is no data directory": nothing is looked
 * up beside the checkout, so whatever needs the data sets fails (`npm test` runs this way to
 * show that it passes on a clone with no data beside it). `--data-dir` still works.
 */
export const NO_DATA_DIR = 'none';

/** Where the data sets live next to a checkout (the repository must not hold them). */
const SIBLING_DATA_DIR = '../shared/data';

/**
 * Finds the data directory: the CLI's `--data-dir`, then $POCKETREC_DATA_DIR, then
 * `../shared/data` from the current directory, then `../shared/data` from the package root.
 * $POCKETREC_DATA_DIR=none (NO_DATA_DIR) stops the search after `--data-dir`.
 *
 * A directory named explicitly (option or environment) must exist: falling through to a
 * default after a typo would quietly train or evaluate on other data than asked for.
 */
export function resolveDataDir(option?: string): string {
  if (option !== undefined && option !== '') {
    return requireDirectory(option, `--data-dir ${option}`);
  }
  const fromEnv = process.env[DATA_DIR_ENV];
  if (fromEnv === NO_DATA_DIR) {
    throw new PocketrecError(
      'no-data-dir',
      `no data directory: ${DATA_DIR_ENV}=${NO_DATA_DIR} turns off the search for one; pass --data-dir <dir>`,
    );
  }
  if (fromEnv !== undefined && fromEnv !== '') {
    return requireDirectory(fromEnv, `${DATA_DIR_ENV}=${fromEnv}`);
  }
  const candidates = [resolve(process.cwd(), SIBLING_DATA_DIR)];
  const root = packageRoot();
  if (root !== undefined) candidates.push(resolve(root, SIBLING_DATA_DIR));
  for (const candidate of candidates) {
    if (isDirectory(candidate)) return candidate;
  }
  throw new PocketrecError(
    'no-data-dir',
    `no data directory found (looked in ${[...new Set(candidates)].join(', ')}); ` +
      `pass --data-dir <dir> or set ${DATA_DIR_ENV}`,
  );
}

/** The absolute path of a file inside the data directory, which must exist. */
export function dataFile(dataDir: string, relativePath: string): string {
  const path = resolve(dataDir, relativePath);
  if (!existsSync(path)) {
    throw new PocketrecError('missing-data-file', `data file not found: ${path}`);
  }
  return path;
}

function requireDirectory(path: string, source: string): string {
  const absolute = resolve(path);
  if (!isDirectory(absolute)) {
    throw new PocketrecError(
      'no-data-dir',
      `data directory ${absolute} (from ${source}) does not exist or is not a directory; pass --data-dir <dir>`,
    );
  }
  return absolute;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

let cachedPackageRoot: string | null | undefined;

/** The nearest directory above this module holding a package.json. */
function packageRoot(): string | undefined {
  if (cachedPackageRoot === undefined) {
    cachedPackageRoot = null;
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      if (existsSync(join(dir, 'package.json'))) {
        cachedPackageRoot = dir;
        break;
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return cachedPackageRoot ?? undefined;
}
