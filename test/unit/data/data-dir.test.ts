import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DATA_DIR_ENV, dataFile, NO_DATA_DIR, resolveDataDir } from '../../../src/data/data-dir.ts';
import {
  DATASET_NAMES,
  getDataset,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
} from '../../../src/data/datasets.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { useTempDir } from './helpers.ts';

const temp = useTempDir();
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A fake checkout layout: <root>/work holds the cwd, <root>/shared/data the data. */
function makeLayout(name: string): { cwd: string; data: string } {
  const cwd = join(temp.dir, name, 'work');
  const data = join(temp.dir, name, 'shared', 'data');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(data, { recursive: true });
  return { cwd, data };
}

function caught(run: () => unknown): PocketrecError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PocketrecError);
    return error as PocketrecError;
  }
  throw new Error('expected a PocketrecError');
}

describe('resolveDataDir', () => {
  beforeEach(() => {
    vi.stubEnv(DATA_DIR_ENV, '');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('uses the explicit option first', () => {
    const explicit = makeLayout('explicit');
    const fromEnv = makeLayout('env');
    vi.stubEnv(DATA_DIR_ENV, fromEnv.data);
    expect(resolveDataDir(explicit.data)).toBe(explicit.data);
  });

  it('then the environment variable', () => {
    const fromEnv = makeLayout('env-only');
    vi.stubEnv(DATA_DIR_ENV, fromEnv.data);
    expect(resolveDataDir()).toBe(fromEnv.data);
  });

  it('refuses an explicit directory that does not exist instead of falling back', () => {
    const missing = join(makeLayout('typo').data, 'nope');
    const fromOption = caught(() => resolveDataDir(missing));
    expect(fromOption.code).toBe('no-data-dir');
    expect(fromOption.message).toContain(missing);
    expect(fromOption.message).toContain('--data-dir');

    vi.stubEnv(DATA_DIR_ENV, missing);
    const fromEnv = caught(() => resolveDataDir());
    expect(fromEnv.code).toBe('no-data-dir');
    expect(fromEnv.message).toContain(`${DATA_DIR_ENV}=${missing}`);
  });

  it('with the environment variable set to none, finds nothing beside the checkout', () => {
    // How `npm test` runs: a layout that has ../shared/data is not used.
    const layout = makeLayout('switched-off');
    vi.spyOn(process, 'cwd').mockReturnValue(layout.cwd);
    vi.stubEnv(DATA_DIR_ENV, NO_DATA_DIR);
    const error = caught(() => resolveDataDir());
    expect(error.code).toBe('no-data-dir');
    expect(error.message).toContain(`${DATA_DIR_ENV}=none`);
    expect(resolveDataDir(layout.data)).toBe(layout.data);
  });

  it('then ../shared/data from the current directory', () => {
    const layout = makeLayout('cwd');
    vi.spyOn(process, 'cwd').mockReturnValue(layout.cwd);
    expect(resolveDataDir()).toBe(layout.data);
  });

  it('then ../shared/data from the package root, else says to pass --data-dir', () => {
    const nowhere = join(makeLayout('nowhere').cwd, 'deeper');
    mkdirSync(nowhere);
    vi.spyOn(process, 'cwd').mockReturnValue(nowhere);
    const besidePackage = resolve(packageRoot, '../shared/data');
    if (existsSync(besidePackage)) {
      expect(resolveDataDir()).toBe(besidePackage);
    } else {
      const error = caught(() => resolveDataDir());
      expect(error.code).toBe('no-data-dir');
      expect(error.message).toMatch(/pass --data-dir/);
    }
  });

  it('names the full path of a missing data file', () => {
    const { data } = makeLayout('files');
    const error = caught(() => dataFile(data, 'ml-1m/ratings_chrono.tsv'));
    expect(error.code).toBe('missing-data-file');
    expect(error.message).toContain(join(data, 'ml-1m/ratings_chrono.tsv'));
  });
});

describe('data set registry', () => {
  it('knows the data sets by short name', () => {
    expect(DATASET_NAMES).toEqual([
      'ml-1m',
      'ml-1m-ratings',
      'beauty',
      'games',
      'tmall',
      'retailrocket',
      'storefront',
      'storefront-context',
      'storefront-flat',
      'frappe',
      'ml-1m-ctr',
      'criteo-sample',
      'avazu-sample',
      'storefront-context-clicks',
      'storefront-context-clicks-items',
      'storefront-flat-clicks',
    ]);
    expect(getDataset('tmall').kind).toBe('session');
  });

  it('lists the known names for an unknown one', () => {
    const error = caught(() => getDataset('ml-20m'));
    expect(error.code).toBe('unknown-dataset');
    expect(error.message).toContain("'ml-20m'");
    for (const name of DATASET_NAMES) expect(error.message).toContain(name);
    expect(() => getDataset('toString')).toThrow(/unknown data set/);
  });

  it('points to the right loader for the data set kind', async () => {
    const error = await loadSessionDataset('ml-1m').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('wrong-dataset-kind');
    expect((error as PocketrecError).message).toMatch(/sequential data set; use loadUserSequences/);
    await expect(loadUserSequences('frappe')).rejects.toThrow(/use loadCtrDataset/);
    await expect(loadCtrDataset('tmall')).rejects.toThrow(/use loadSessionDataset/);
  });

  it('loads from the --data-dir it is given, and names a missing file', async () => {
    const { data } = makeLayout('registry');
    temp.write('registry/shared/data/amazon-games-sasrec/Video.txt', '1 2\n1 3\n2 2\n');
    const games = await loadUserSequences('games', { dataDir: data });
    expect(games.dataset).toBe('games');
    expect(games.numItems).toBe(3);
    expect(games.numInteractions).toBe(3);
    expect(games.users).toEqual(Int32Array.of(1, 2));
    expect(games.sequences).toEqual([Int32Array.of(2, 3), Int32Array.of(2)]);
    expect(games.sourceItemIds).toBeNull();

    const error = await loadUserSequences('beauty', { dataDir: data }).catch((e: unknown) => e);
    expect((error as PocketrecError).code).toBe('missing-data-file');
    expect((error as PocketrecError).message).toContain(
      join(data, 'amazon-beauty-s3rec/Beauty.txt'),
    );
  });

  it('renumbers ML-1M ratings by first appearance and keeps the MovieIDs', async () => {
    const { data } = makeLayout('ratings');
    temp.write(
      'ratings/shared/data/ml-1m/ratings_chrono.tsv',
      'user_id\tmovie_id\trating\tseq_pos\n1\t3186\t4\t0\n1\t1721\t4\t1\n2\t1721\t3\t0\n2\t48\t5\t1\n',
    );
    const ratings = await loadUserSequences('ml-1m-ratings', { dataDir: data });
    expect(ratings.numItems).toBe(3);
    expect(ratings.sequences).toEqual([Int32Array.of(1, 2), Int32Array.of(2, 3)]);
    expect(ratings.sourceItemIds).toEqual(Int32Array.of(0, 3186, 1721, 48));
  });
});
