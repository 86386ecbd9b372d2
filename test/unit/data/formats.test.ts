import { describe, expect, it } from 'vitest';
import { loadFeatureMap, readFrappeLog } from '../../../src/data/frappe.ts';
import { loadLibfm, readLibfm } from '../../../src/data/libfm.ts';
import {
  readGroupLensRatings,
  readMovies,
  readRatingSequences,
  readRatingsChrono,
  readUsers,
} from '../../../src/data/ml1m.ts';
import { readS3recSequences } from '../../../src/data/s3rec.ts';
import { loadItemMap, readSasrecPairs, readSasrecSequences } from '../../../src/data/sasrec.ts';
import {
  augmentSessions,
  loadSessionFiles,
  readPrefixTargets,
  readSessions,
  repeatShare,
} from '../../../src/data/sessions.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { collect, expectFormatError, useTempDir } from './helpers.ts';

const temp = useTempDir();

describe('ML-1M ratings_chrono.tsv', () => {
  const header = 'user_id\tmovie_id\trating\tseq_pos\n';

  it('reads rows and groups them into chronological sequences', async () => {
    const file = temp.write('chrono.tsv', `${header}1\t3186\t4\t0\n1\t1721\t4\t1\n2\t48\t5\t0\n`);
    expect(await collect(readRatingsChrono(file))).toEqual([
      { userId: 1, movieId: 3186, rating: 4, seqPos: 0, line: 2 },
      { userId: 1, movieId: 1721, rating: 4, seqPos: 1, line: 3 },
      { userId: 2, movieId: 48, rating: 5, seqPos: 0, line: 4 },
    ]);
    expect(await collect(readRatingSequences(file))).toEqual([
      { userId: 1, items: Int32Array.of(3186, 1721) },
      { userId: 2, items: Int32Array.of(48) },
    ]);
  });

  it('rejects a missing header, bad fields and out-of-order rows', async () => {
    const cases: [string, number, RegExp][] = [
      ['1\t3186\t4\t0\n', 1, /header missing/],
      [`${header}1\t3186\t4\n`, 2, /expected 4 fields/],
      [`${header}1\tx\t4\t0\n`, 2, /movie id "x" is not an integer/],
      [`${header}1\t0\t4\t0\n`, 2, /movie id 0 is not positive/],
      [`${header}1\t3186\t6\t0\n`, 2, /rating 6 is outside 1\.\.5/],
      [`${header}1\t3186\t4.5\t0\n`, 2, /rating "4.5" is not an integer/],
      [`${header}-1\t3186\t4\t0\n`, 2, /user id -1 is below 0/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('chrono-bad.tsv', content);
      await expectFormatError(() => collect(readRatingsChrono(file)), file, line, problem);
    }
    const gap = temp.write('chrono-gap.tsv', `${header}1\t5\t4\t0\n1\t6\t4\t2\n`);
    await expectFormatError(
      () => collect(readRatingSequences(gap)),
      gap,
      3,
      /seq_pos 2 for user 1, expected 1/,
    );
    const split = temp.write('chrono-split.tsv', `${header}1\t5\t4\t0\n2\t6\t4\t0\n1\t7\t4\t0\n`);
    await expectFormatError(
      () => collect(readRatingSequences(split)),
      split,
      4,
      /user 1 appears again/,
    );
  });
});

describe('GroupLens .dat files', () => {
  it('reads ratings.dat (UserID::MovieID::Rating::Timestamp)', async () => {
    const file = temp.write('ratings.dat', '1::1193::5::978300760\n1::661::3::978302109\n');
    expect(await collect(readGroupLensRatings(file))).toEqual([
      { userId: 1, movieId: 1193, rating: 5, timestamp: 978300760, line: 1 },
      { userId: 1, movieId: 661, rating: 3, timestamp: 978302109, line: 2 },
    ]);
    const bad = temp.write('ratings-bad.dat', '1::1193::5::978300760\n1::661::3\n');
    await expectFormatError(
      () => collect(readGroupLensRatings(bad)),
      bad,
      2,
      /expected 4 fields \(UserID::MovieID::Rating::Timestamp\), found 3/,
    );
    const badTime = temp.write('ratings-bad-time.dat', '1::1193::5::soon\n');
    await expectFormatError(
      () => collect(readGroupLensRatings(badTime)),
      badTime,
      1,
      /timestamp "soon" is not an integer/,
    );
  });

  it('reads movies.dat as ISO-8859-1', async () => {
    const file = temp.write(
      'movies.dat',
      Buffer.from(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n73::Mis\xe9rables, Les (1995)::Drama|Musical\n",
        'latin1',
      ),
    );
    expect(await collect(readMovies(file))).toEqual([
      { movieId: 1, title: 'Toy Story (1995)', genres: ['Animation', "Children's", 'Comedy'] },
      { movieId: 73, title: 'Misérables, Les (1995)', genres: ['Drama', 'Musical'] },
    ]);
    const bad = temp.write('movies-bad.dat', 'Toy Story::Comedy\n');
    await expectFormatError(() => collect(readMovies(bad)), bad, 1, /expected 3 fields/);
  });

  it('reads users.dat', async () => {
    const file = temp.write('users.dat', '1::F::1::10::48067\n2::M::56::16::98107-4021\n');
    expect(await collect(readUsers(file))).toEqual([
      { userId: 1, gender: 'F', age: 1, occupation: 10, zipCode: '48067' },
      { userId: 2, gender: 'M', age: 56, occupation: 16, zipCode: '98107-4021' },
    ]);
    const bad = temp.write('users-bad.dat', '1::X::1::10::48067\n');
    await expectFormatError(() => collect(readUsers(bad)), bad, 1, /gender "X" is not F or M/);
  });
});

describe('SASRec user-item pairs', () => {
  it('groups contiguous user blocks into sequences', async () => {
    const file = temp.write('pairs.txt', '1 6393\n1 13504\n2 7\n3 8\n3 9\n3 8\n');
    expect(await collect(readSasrecPairs(file))).toHaveLength(6);
    expect(await collect(readSasrecSequences(file))).toEqual([
      { userId: 1, items: Int32Array.of(6393, 13504) },
      { userId: 2, items: Int32Array.of(7) },
      { userId: 3, items: Int32Array.of(8, 9, 8) },
    ]);
  });

  it('rejects malformed lines and a user split over two blocks', async () => {
    const cases: [string, number, RegExp][] = [
      ['1 2\n1 2 3\n', 2, /expected 2 fields \(user item\), found 3/],
      ['1 2\n1\n', 2, /expected 2 fields/],
      ['1 2\n1 0\n', 2, /item id 0 is not positive \(ids start at 1; 0 is reserved for padding\)/],
      ['1 2\n1 -5\n', 2, /item id -5 is not positive/],
      ['1 2\nu1 3\n', 2, /user id "u1" is not an integer/],
      ['1 2\n1 3.0\n', 2, /item id "3.0" is not an integer/],
      ['1 9999999999\n', 1, /does not fit in 32 bits/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('pairs-bad.txt', content);
      await expectFormatError(() => collect(readSasrecSequences(file)), file, line, problem);
    }
    const split = temp.write('pairs-split.txt', '1 1\n2 2\n1 3\n');
    await expectFormatError(
      () => collect(readSasrecSequences(split)),
      split,
      3,
      /user 1 appears again after their block ended/,
    );
  });

  it('loads the item map and insists on ids 1, 2, 3, …', async () => {
    const file = temp.write('itemmap.tsv', 'item_id\tmovie_id\n1\t3186\n2\t1721\n');
    expect(await loadItemMap(file)).toEqual(Int32Array.of(0, 3186, 1721));
    const skipped = temp.write('itemmap-bad.tsv', 'item_id\tmovie_id\n1\t3186\n3\t1721\n');
    await expectFormatError(
      () => loadItemMap(skipped),
      skipped,
      3,
      /item id 3 out of order; expected 2/,
    );
    const headerless = temp.write('itemmap-noheader.tsv', '1\t3186\n');
    await expectFormatError(() => loadItemMap(headerless), headerless, 1, /header missing/);
  });
});

describe('S3-Rec user lines', () => {
  it('reads one sequence per line', async () => {
    const file = temp.write('beauty.txt', '1 1 2 3 4 5\n2 6 7 8 9 10 4 11\n');
    expect(await collect(readS3recSequences(file))).toEqual([
      { userId: 1, items: Int32Array.of(1, 2, 3, 4, 5) },
      { userId: 2, items: Int32Array.of(6, 7, 8, 9, 10, 4, 11) },
    ]);
  });

  it('rejects users without items, repeated users and bad ids', async () => {
    const cases: [string, number, RegExp][] = [
      ['1 1 2\n2\n', 2, /at least one item/],
      ['1 1 2\n1 3\n', 2, /user 1 appears on more than one line/],
      ['1 1 x\n', 1, /item id "x" is not an integer/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('beauty-bad.txt', content);
      await expectFormatError(() => collect(readS3recSequences(file)), file, line, problem);
    }
  });
});

describe('repeatShare', () => {
  it('counts the cases whose target is already in the input', () => {
    const inputs = [Int32Array.of(1, 2, 3), Int32Array.of(4), Int32Array.of(5, 5), Int32Array.of()];
    expect(repeatShare(inputs, Int32Array.of(2, 7, 5, 1))).toBe(0.5);
    expect(repeatShare([], Int32Array.of())).toBe(0);
  });
});

describe('session files', () => {
  it('reads sessions and prefix/target test lines', async () => {
    const train = temp.write('train_sessions.txt', '1 2\n3 4 3\n5\n');
    const test = temp.write('test.txt', '6 7 8\t9\n6\t7\n');
    expect(await collect(readSessions(train))).toEqual([
      Int32Array.of(1, 2),
      Int32Array.of(3, 4, 3),
      Int32Array.of(5),
    ]);
    expect(await collect(readPrefixTargets(test))).toEqual([
      { prefix: Int32Array.of(6, 7, 8), target: 9 },
      { prefix: Int32Array.of(6), target: 7 },
    ]);
    const loaded = await loadSessionFiles('toy', train, test, 1);
    expect(loaded.numItems).toBe(9);
    expect(loaded.trainSessions).toEqual([
      Int32Array.of(1, 2),
      Int32Array.of(3, 4, 3),
      Int32Array.of(5),
    ]);
    expect(loaded.testPrefixes).toEqual([Int32Array.of(6, 7, 8), Int32Array.of(6)]);
    expect(loaded.testTargets).toEqual(Int32Array.of(9, 7));
  });

  it('rejects malformed test lines', async () => {
    const cases: [string, number, RegExp][] = [
      ['1 2\t3\n1 2 3\n', 2, /found 0 tabs/],
      ['1\t2\t3\n', 1, /found 2 tabs/],
      ['\t3\n', 1, /empty prefix/],
      ['1 2\tx\n', 1, /target item id "x" is not an integer/],
      ['1 0\t2\n', 1, /item id 0 is not positive/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('test-bad.txt', content);
      await expectFormatError(() => collect(readPrefixTargets(file)), file, line, problem);
    }
  });

  it('augments sessions into every prefix, longest first', () => {
    const sessions = [Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 6), Int32Array.of(7)];
    const all = augmentSessions(sessions);
    expect(all.prefixes).toEqual([
      Int32Array.of(1, 2, 3),
      Int32Array.of(1, 2),
      Int32Array.of(1),
      Int32Array.of(5),
    ]);
    expect(all.targets).toEqual(Int32Array.of(4, 3, 2, 6));
    // Prefixes are views, not copies.
    expect(all.prefixes[0]?.buffer).toBe(sessions[0]?.buffer);

    const atLeastTwo = augmentSessions(sessions, 2);
    expect(atLeastTwo.prefixes).toEqual([Int32Array.of(1, 2, 3), Int32Array.of(1, 2)]);
    expect(atLeastTwo.targets).toEqual(Int32Array.of(4, 3));

    expect(() => augmentSessions(sessions, 0)).toThrow(PocketrecError);
  });
});

describe('libfm files', () => {
  it('reads labels 1/-1 and 1/0 with CRLF endings', async () => {
    const file = temp.write('a.libfm', '1 3:1 7:1\r\n-1 2:1 8:0.5\r\n0 1:1 9:1\r\n+1 0:1 5:1\r\n');
    const rows = await collect(readLibfm(file));
    expect(rows.map((row) => row.label)).toEqual([1, 0, 0, 1]);
    expect(rows[1]?.indices).toEqual(Int32Array.of(2, 8));
    expect(rows[1]?.values).toEqual(Float32Array.of(1, 0.5));
  });

  it('loads one-hot rows row-major', async () => {
    const file = temp.write('b.libfm', '1 3:1 7:1\n-1 2:1 8:1\n');
    expect(await loadLibfm(file)).toEqual({
      numRows: 2,
      numFields: 2,
      labels: Uint8Array.of(1, 0),
      features: Int32Array.of(3, 7, 2, 8),
      maxFeatureIndex: 8,
    });
  });

  it('rejects bad labels, features and ragged rows', async () => {
    const cases: [string, number, RegExp][] = [
      ['1 3:1\n2 4:1\n', 2, /bad label "2"/],
      ['yes 3:1\n', 1, /bad label "yes"/],
      ['1 3:1\n1 4\n', 2, /feature "4" has no ':'/],
      ['1 3:1\n1 x:1\n', 2, /feature index "x" is not an integer/],
      ['1 3:1\n1 -4:1\n', 2, /feature index -4 is below 0/],
      ['1 3:1\n1 4:\n', 2, /feature value "" is not a number/],
      ['1 3:1\n1 4:abc\n', 2, /feature value "abc" is not a number/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('bad.libfm', content);
      await expectFormatError(() => collect(readLibfm(file)), file, line, problem);
    }
    const ragged = temp.write('ragged.libfm', '1 3:1 7:1\n-1 2:1\n');
    await expectFormatError(
      () => loadLibfm(ragged),
      ragged,
      2,
      /expected 2 features \(as on the first row\), found 1/,
    );
    const weighted = temp.write('weighted.libfm', '1 3:1 7:0.5\n');
    await expectFormatError(() => loadLibfm(weighted), weighted, 1, /only one-hot rows/);
  });

  it('checks each feature against its field in the feature map', async () => {
    const mapFile = temp.write(
      'map.tsv',
      'feature_index\tfield\tvalue\n0\tuser\t0\n1\tuser\t1\n2\titem\t0\n3\titem\t1\n4\titem\t2\n',
    );
    const map = await loadFeatureMap(mapFile);
    expect(map.numFeatures).toBe(5);
    expect(map.fields).toEqual([
      { name: 'user', start: 0, end: 2 },
      { name: 'item', start: 2, end: 5 },
    ]);
    expect(map.fieldOf).toEqual(Int32Array.of(0, 0, 1, 1, 1));
    expect(map.values).toEqual(['0', '1', '0', '1', '2']);

    const good = temp.write('good.libfm', '1 1:1 4:1\n-1 0:1 2:1\n');
    expect((await loadLibfm(good, { featureMap: map })).features).toEqual(
      Int32Array.of(1, 4, 0, 2),
    );
    const swapped = temp.write('swapped.libfm', '1 1:1 4:1\n-1 2:1 0:1\n');
    await expectFormatError(
      () => loadLibfm(swapped, { featureMap: map }),
      swapped,
      2,
      /feature 2 at position 1 belongs to field 'item', expected 'user'/,
    );
    const outside = temp.write('outside.libfm', '1 1:1 5:1\n');
    await expectFormatError(
      () => loadLibfm(outside, { featureMap: map }),
      outside,
      1,
      /feature 5 is not in the feature map/,
    );
  });

  it('rejects a feature map with gaps or split fields', async () => {
    const gap = temp.write('map-gap.tsv', 'feature_index\tfield\tvalue\n0\tuser\t0\n2\tuser\t1\n');
    await expectFormatError(
      () => loadFeatureMap(gap),
      gap,
      3,
      /feature index 2 out of order; expected 1/,
    );
    const split = temp.write(
      'map-split.tsv',
      'feature_index\tfield\tvalue\n0\tuser\t0\n1\titem\t0\n2\tuser\t1\n',
    );
    await expectFormatError(() => loadFeatureMap(split), split, 4, /field 'user' resumes/);
  });
});

describe('frappe.csv', () => {
  const header =
    'user\titem\tcnt\tdaytime\tweekday\tisweekend\thomework\tcost\tweather\tcountry\tcity\n';

  it('reads tab-separated rows, keeping spaces inside values', async () => {
    const file = temp.write(
      'frappe.csv',
      `${header}0\t0\t1\tmorning\tsunday\tweekend\tunknown\tfree\tsunny\tUnited States\t0\n`,
    );
    expect(await collect(readFrappeLog(file))).toEqual([
      {
        user: 0,
        item: 0,
        cnt: 1,
        daytime: 'morning',
        weekday: 'sunday',
        isweekend: 'weekend',
        homework: 'unknown',
        cost: 'free',
        weather: 'sunny',
        country: 'United States',
        city: '0',
      },
    ]);
  });

  it('rejects a missing header and short rows', async () => {
    const headerless = temp.write('frappe-noheader.csv', '0\t0\t1\n');
    await expectFormatError(
      () => collect(readFrappeLog(headerless)),
      headerless,
      1,
      /header missing/,
    );
    const short = temp.write('frappe-short.csv', `${header}0\t0\t1\tmorning\n`);
    await expectFormatError(() => collect(readFrappeLog(short)), short, 2, /expected 11 fields/);
  });
});
