/**
 * Reproduces the counts documented in the data README (/work/shared/data/README.md) from the
 * real files. These tests never skip: without the data directory they fail and say how to
 * point at it.
 */
import { describe, expect, it } from 'vitest';
import { dataFile, resolveDataDir } from '../../../src/data/data-dir.ts';
import {
  DATASETS,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
} from '../../../src/data/datasets.ts';
import { readFrappeLog } from '../../../src/data/frappe.ts';
import type { LibfmData } from '../../../src/data/libfm.ts';
import { readMovies, readRatingsChrono, readUsers } from '../../../src/data/ml1m.ts';
import type { UserSequences } from '../../../src/data/sequences.ts';
import { augmentSessions, repeatShare } from '../../../src/data/sessions.ts';
import { collect } from './helpers.ts';

let resolvedDataDir: string | undefined;

/**
 * Resolved inside each test rather than in beforeAll, so a missing data directory fails
 * every test with this message instead of reporting them as skipped.
 */
function dataDir(): string {
  try {
    resolvedDataDir ??= resolveDataDir();
  } catch (error) {
    throw new Error(
      `the real-data tests need the data sets (see the data README): ${(error as Error).message}`,
    );
  }
  return resolvedDataDir;
}

interface SequenceStats {
  users: number;
  interactions: number;
  distinctItems: number;
  maxItem: number;
  shortest: number;
  longest: number;
  average: number;
}

function sequenceStats(sequences: readonly Int32Array[]): SequenceStats {
  const items = new Set<number>();
  let interactions = 0;
  let shortest = Number.POSITIVE_INFINITY;
  let longest = 0;
  let maxItem = 0;
  for (const sequence of sequences) {
    interactions += sequence.length;
    shortest = Math.min(shortest, sequence.length);
    longest = Math.max(longest, sequence.length);
    for (const item of sequence) {
      items.add(item);
      maxItem = Math.max(maxItem, item);
    }
  }
  return {
    users: sequences.length,
    interactions,
    distinctItems: items.size,
    maxItem,
    shortest,
    longest,
    average: interactions / sequences.length,
  };
}

function expectUsersAscendingFromOne(loaded: UserSequences): void {
  expect(loaded.users[0]).toBe(1);
  expect(loaded.users.every((user, k) => user === k + 1)).toBe(true);
}

describe('ML-1M', () => {
  it('ratings_chrono.tsv: 1,000,209 ratings, 6,040 users, 3,706 movies, known histogram', async () => {
    const histogram = [0, 0, 0, 0, 0, 0];
    const users = new Set<number>();
    const movies = new Set<number>();
    let rows = 0;
    for await (const { userId, movieId, rating } of readRatingsChrono(
      dataFile(dataDir(), 'ml-1m/ratings_chrono.tsv'),
    )) {
      rows++;
      users.add(userId);
      movies.add(movieId);
      histogram[rating] = (histogram[rating] ?? 0) + 1;
    }
    expect(rows).toBe(1_000_209);
    expect(users.size).toBe(6_040);
    expect(movies.size).toBe(3_706);
    expect(histogram.slice(1)).toEqual([56_174, 107_557, 261_197, 348_971, 226_310]);
  });

  it("'ml-1m-ratings' sequences: user 1 starts 3186, {1721, 1022, 1270}, 2340 and ends with 48", async () => {
    const loaded = await loadUserSequences('ml-1m-ratings', { dataDir: dataDir() });
    expect(loaded.numItems).toBe(3_706);
    expect(loaded.numInteractions).toBe(1_000_209);
    expectUsersAscendingFromOne(loaded);
    const source = loaded.sourceItemIds;
    if (source === null) throw new Error('ml-1m-ratings must keep the MovieIDs');
    const user1 = Array.from(loaded.sequences[0] ?? [], (item) => source[item]);
    expect(user1[0]).toBe(3186);
    expect(new Set(user1.slice(1, 4))).toEqual(new Set([1721, 1022, 1270]));
    expect(user1.slice(4, 7)).toEqual([2340, 1836, 3408]);
    expect(user1.at(-1)).toBe(48);
  });

  it('movies.dat: 3,883 movies, decoded as ISO-8859-1', async () => {
    const movies = await collect(readMovies(dataFile(dataDir(), 'ml-1m/movies.dat')));
    expect(movies).toHaveLength(3_883);
    expect(movies.find((movie) => movie.movieId === 73)?.title).toBe('Misérables, Les (1995)');
    expect(movies[0]).toEqual({
      movieId: 1,
      title: 'Toy Story (1995)',
      genres: ['Animation', "Children's", 'Comedy'],
    });
  });

  it('users.dat: 6,040 users', async () => {
    const users = await collect(readUsers(dataFile(dataDir(), 'ml-1m/users.dat')));
    expect(users).toHaveLength(6_040);
    expect(users[0]).toEqual({ userId: 1, gender: 'F', age: 1, occupation: 10, zipCode: '48067' });
  });

  it("'ml-1m' (SASRec format): 6,040 users, 3,416 items, 999,611 lines, shortest 18, average 165.5", async () => {
    const loaded = await loadUserSequences('ml-1m', { dataDir: dataDir() });
    const stats = sequenceStats(loaded.sequences);
    expect(loaded.numItems).toBe(3_416);
    expect(stats).toMatchObject({
      users: 6_040,
      interactions: 999_611,
      distinctItems: 3_416,
      maxItem: 3_416,
      shortest: 18,
    });
    expect(stats.average.toFixed(1)).toBe('165.5');
    expectUsersAscendingFromOne(loaded);
    // Items are numbered by first appearance, so user 1 starts 1, 2, 3, …
    expect(Array.from(loaded.sequences[0]?.subarray(0, 3) ?? [])).toEqual([1, 2, 3]);
    expect(loaded.sourceItemIds?.subarray(0, 3)).toEqual(Int32Array.of(0, 3186, 1721));
  });
});

describe('Amazon', () => {
  it("'games' (SASRec Video.txt): 31,013 users, 23,715 items, 287,107 interactions", async () => {
    const loaded = await loadUserSequences('games', { dataDir: dataDir() });
    const stats = sequenceStats(loaded.sequences);
    expect(loaded.numItems).toBe(23_715);
    expect(stats).toMatchObject({
      users: 31_013,
      interactions: 287_107,
      distinctItems: 23_715,
      shortest: 1,
    });
    expect(stats.average.toFixed(2)).toBe('9.26');
    expectUsersAscendingFromOne(loaded);
  });

  it("'beauty' (S3-Rec): 22,363 users, 12,101 items, 198,502 interactions, lengths 5..204, avg 8.88", async () => {
    const loaded = await loadUserSequences('beauty', { dataDir: dataDir() });
    const stats = sequenceStats(loaded.sequences);
    expect(loaded.numItems).toBe(12_101);
    expect(stats).toMatchObject({
      users: 22_363,
      interactions: 198_502,
      distinctItems: 12_101,
      shortest: 5,
      longest: 204,
    });
    expect(stats.average.toFixed(2)).toBe('8.88');
    expectUsersAscendingFromOne(loaded);
  });
});

describe('session data sets', () => {
  it("'tmall': 40,727 items, 65,286 sessions, 416,554 clicks, 351,268 samples, 25,898 test", async () => {
    const loaded = await loadSessionDataset('tmall', { dataDir: dataDir() });
    const train = sequenceStats(loaded.trainSessions);
    expect(loaded.numItems).toBe(40_727);
    expect(train.users).toBe(65_286);
    expect(train.interactions).toBe(416_554);
    expect(loaded.testPrefixes).toHaveLength(25_898);
    expect(loaded.testTargets).toHaveLength(25_898);
    expect(loaded.minTrainPrefixLength).toBe(1);
    const samples = augmentSessions(loaded.trainSessions, loaded.minTrainPrefixLength);
    expect(samples.prefixes).toHaveLength(351_268);
    expect(samples.targets).toHaveLength(351_268);
    expect(Array.from(loaded.trainSessions[0] ?? [])).toEqual([1, 2]);
    // Re-clicks (the reason sessions are ranked without masking the history).
    expect(repeatShare(samples.prefixes, samples.targets)).toBeCloseTo(0.4067, 4);
    expect(repeatShare(loaded.testPrefixes, loaded.testTargets)).toBeCloseTo(0.4539, 4);
  });

  it("'retailrocket': 126,168 sessions, 685,984 clicks, 15,132 test, 36,968 items, 433,648 samples", async () => {
    const loaded = await loadSessionDataset('retailrocket', { dataDir: dataDir() });
    const train = sequenceStats(loaded.trainSessions);
    expect(train.users).toBe(126_168);
    expect(train.interactions).toBe(685_984);
    expect(loaded.testPrefixes).toHaveLength(15_132);
    // 36,968 is both the largest item id and the number of distinct items (train and test).
    expect(loaded.numItems).toBe(36_968);
    const distinct = new Set<number>(loaded.testTargets);
    for (const sequence of [...loaded.trainSessions, ...loaded.testPrefixes]) {
      for (const item of sequence) distinct.add(item);
    }
    expect(distinct.size).toBe(36_968);
    // Every training session has at least 3 clicks and every test prefix at least 2.
    expect(train.shortest).toBe(3);
    expect(Math.min(...loaded.testPrefixes.map((prefix) => prefix.length))).toBe(2);
    expect(loaded.minTrainPrefixLength).toBe(2);
    const samples = augmentSessions(loaded.trainSessions, loaded.minTrainPrefixLength);
    expect(samples.prefixes).toHaveLength(433_648);
    // Keeping one-item prefixes too would give 559,816, not the published figure.
    expect(augmentSessions(loaded.trainSessions, 1).targets).toHaveLength(559_816);
  });
});

describe('frappe', () => {
  // Both tests need all three splits; load them once.
  let frappe: ReturnType<typeof loadCtrDataset> | undefined;
  const loadFrappe = () => {
    frappe ??= loadCtrDataset('frappe', { dataDir: dataDir() });
    return frappe;
  };

  it('libfm splits: 202,812 / 57,722 / 28,860 rows of 10 features, 5,382 features in the map', async () => {
    const { featureMap, train, validation, test } = await loadFrappe();
    expect(featureMap.numFeatures).toBe(5_382);
    expect(featureMap.fields.map((field) => [field.name, field.end - field.start])).toEqual([
      ['user', 957],
      ['item', 4_082],
      ['daytime', 7],
      ['weekday', 7],
      ['isweekend', 2],
      ['homework', 3],
      ['cost', 2],
      ['weather', 9],
      ['country', 80],
      ['city', 233],
    ]);
    expect([train.numRows, validation.numRows, test.numRows]).toEqual([202_812, 57_722, 28_860]);
    for (const split of [train, validation, test]) {
      expect(split.numFields).toBe(10);
      expect(split.features).toHaveLength(split.numRows * 10);
      expect(split.maxFeatureIndex).toBeLessThan(5_382);
    }
    // Positives: 67,604 rebuilt for train plus 28,599 in NFM's validation and test, which
    // together are the 96,203 rows of frappe.csv.
    expect(positives(train)).toBe(67_604);
    expect(positives(validation) + positives(test)).toBe(28_599);
  });

  it('frappe.csv: 96,203 rows, 957 users, 4,082 items, each encoding a positive libfm row', async () => {
    const { featureMap, train, validation, test } = await loadFrappe();
    const featureIndex = new Map<string, number>();
    for (let feature = 0; feature < featureMap.numFeatures; feature++) {
      const field = featureMap.fields[featureMap.fieldOf[feature] as number]?.name;
      featureIndex.set(`${field}=${featureMap.values[feature]}`, feature);
    }
    const unmatched = new Map<string, number>();
    for (const split of [train, validation, test]) {
      for (let row = 0; row < split.numRows; row++) {
        if (split.labels[row] !== 1) continue;
        const key = split.features.subarray(row * 10, row * 10 + 10).join(',');
        unmatched.set(key, (unmatched.get(key) ?? 0) + 1);
      }
    }
    const users = new Set<number>();
    const items = new Set<number>();
    let rows = 0;
    let rowsWithoutPositive = 0;
    for await (const row of readFrappeLog(dataFile(dataDir(), DATASETS.frappe.logFile))) {
      rows++;
      users.add(row.user);
      items.add(row.item);
      const key = featureMap.fields
        .map(({ name }) => featureIndex.get(`${name}=${row[name as keyof typeof row]}`))
        .join(',');
      const count = unmatched.get(key) ?? 0;
      if (count === 0) rowsWithoutPositive++;
      else if (count === 1) unmatched.delete(key);
      else unmatched.set(key, count - 1);
    }
    expect(rows).toBe(96_203);
    expect(users.size).toBe(957);
    expect(items.size).toBe(4_082);
    // The README's check: the libfm positives are exactly the rows of frappe.csv (a multiset).
    expect(rowsWithoutPositive).toBe(0);
    expect(unmatched.size).toBe(0);
  });
});

function positives(split: LibfmData): number {
  return split.labels.reduce((sum, label) => sum + label, 0);
}
