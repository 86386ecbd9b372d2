import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AVAZU_LAYOUT,
  CRITEO_LAYOUT,
  encodeTable,
  loadCtrFields,
  quantileBoundaries,
  type RawTable,
  randomSplit,
  readCtrCsv,
} from '../../../src/data/ctr/index.ts';
import { loadCtrDataset } from '../../../src/data/datasets.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { expectFormatError, useTempDir } from './helpers.ts';

const temp = useTempDir();
const rows = (...indices: number[]) => Int32Array.from(indices);

describe('encodeTable', () => {
  // Rows 0-2 train, 3 validation, 4 test.
  const splits = { train: rows(0, 1, 2), validation: rows(3), test: rows(4) };
  const labels = Uint8Array.of(1, 0, 1, 0, 1);

  it('fits categorical vocabularies on train only; unseen and missing values are 0', () => {
    const table: RawTable = {
      numRows: 5,
      labels,
      // Raw code 7 is only in validation, 9 only in test, -1 is missing.
      columns: [
        {
          kind: 'categorical',
          name: 'c',
          codes: rows(5, 2, 5, 7, -1),
          valueText: (code) => `v${code}`,
        },
      ],
    };
    const { schema, train, validation, test } = encodeTable(table, splits, 16);
    // The values of ids 1, 2: the raw values in order of first appearance in train.
    expect(schema.fields).toEqual([
      { name: 'c', kind: 'categorical', vocabularySize: 3, values: ['v5', 'v2'] },
    ]);
    // First appearance in train: 5 → 1, 2 → 2.
    expect(train.ids[0]).toEqual(rows(1, 2, 1));
    expect(validation.ids[0]).toEqual(rows(0));
    expect(test.ids[0]).toEqual(rows(0));
    expect(train.labels).toEqual(Float32Array.of(1, 0, 1));
    expect([validation.numRows, test.numRows]).toEqual([1, 1]);
  });

  it('pads multi-valued rows with -1, keeps unseen values as 0, gives empty rows one 0', () => {
    const table: RawTable = {
      numRows: 5,
      labels,
      columns: [
        {
          kind: 'multi',
          name: 'genres',
          width: 3,
          // Rows: [4,1], [1,2,3], [], [4,8] (8 unseen), [9].
          codes: rows(4, 1, -1, 1, 2, 3, -1, -1, -1, 4, 8, -1, 9, -1, -1),
          valueText: String,
        },
      ],
    };
    const { schema, train, validation, test } = encodeTable(table, splits, 16);
    expect(schema.fields).toEqual([
      {
        name: 'genres',
        kind: 'multi',
        vocabularySize: 5,
        maxValues: 3,
        values: ['4', '1', '2', '3'],
      },
    ]);
    expect(train.ids[0]).toEqual(rows(1, 2, -1, 2, 3, 4, 0, -1, -1));
    expect(validation.ids[0]).toEqual(rows(1, 0, -1));
    expect(test.ids[0]).toEqual(rows(0, -1, -1));
  });

  it('buckets numeric values by boundaries fitted on train; missing is 0', () => {
    const table: RawTable = {
      numRows: 5,
      labels,
      columns: [{ kind: 'numeric', name: 'n', values: Float64Array.of(1, 2, 3, 1e9, Number.NaN) }],
    };
    const { schema, train, validation, test } = encodeTable(table, splits, 3);
    // Quantiles 1/3 and 2/3 of [1, 2, 3]; 1e9 (validation) does not move them.
    expect(schema.fields).toEqual([
      { name: 'n', kind: 'numeric', vocabularySize: 4, boundaries: [2, 3] },
    ]);
    expect(train.ids[0]).toEqual(rows(1, 2, 3));
    expect(validation.ids[0]).toEqual(rows(3));
    expect(test.ids[0]).toEqual(rows(0));
  });

  it('quantile boundaries are ascending, deduplicated and never the minimum', () => {
    expect(quantileBoundaries(Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8), 4)).toEqual([3, 5, 7]);
    expect(quantileBoundaries(Float64Array.of(0, 0, 0, 0, 0, 0, 1, 5), 4)).toEqual([1]);
    expect(quantileBoundaries(Float64Array.of(7, 7, 7), 16)).toEqual([]);
    expect(quantileBoundaries(new Float64Array(0), 16)).toEqual([]);
  });
});

describe('randomSplit', () => {
  it('is deterministic per seed, disjoint, complete and in file order', () => {
    const a = randomSplit(1_000, 2020, [0.8, 0.1, 0.1]);
    expect(randomSplit(1_000, 2020, [0.8, 0.1, 0.1])).toEqual(a);
    expect(randomSplit(1_000, 7, [0.8, 0.1, 0.1]).test).not.toEqual(a.test);
    expect([a.train.length, a.validation.length, a.test.length]).toEqual([800, 100, 100]);
    const all = [...a.train, ...a.validation, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    for (const part of [a.train, a.validation, a.test]) {
      expect(Array.from(part)).toEqual(Array.from(part).sort((x, y) => x - y));
    }
  });

  it('gives validation and test floor(ratio × n) rows and train the rest (RecBole)', () => {
    const split = randomSplit(739_012, 2020, [0.8, 0.1, 0.1]);
    expect([split.train.length, split.validation.length, split.test.length]).toEqual([
      591_210, 73_901, 73_901,
    ]);
    const tiny = randomSplit(9, 1, [0.8, 0.1, 0.1]);
    expect([tiny.train.length, tiny.validation.length, tiny.test.length]).toEqual([9, 0, 0]);
  });

  it('rejects ratios that do not sum to 1', () => {
    expect(() => randomSplit(10, 1, [0.8, 0.1, 0.2])).toThrow(/must be non-negative and sum to 1/);
  });
});

const CRITEO_HEADER = CRITEO_LAYOUT.columns.map(([name]) => name).join(',');
const AVAZU_HEADER = AVAZU_LAYOUT.columns.map(([name]) => name).join(',');

/** A Criteo row: label, 13 numbers (`numbers` first, then empty), 26 categories. */
function criteoRow(label: string, numbers: string[], category: string): string {
  const dense = [...numbers, ...Array<string>(13 - numbers.length).fill('')];
  return [label, ...dense, ...Array<string>(26).fill(category)].join(',');
}

function avazuRow(id: number, click: string, hour: string, site: string): string {
  return [id, click, hour, '1005', '0', site, ...Array<string>(18).fill('x')].join(',');
}

describe('CSV data sets', () => {
  it('criteo-sample: 13 numeric and 26 categorical fields, missing values are 0', async () => {
    const lines = Array.from({ length: 20 }, (_, i) =>
      criteoRow(String(i % 2), i === 0 ? [''] : [String(i), '-1'], i === 0 ? '' : `c${i % 3}`),
    );
    temp.write(
      'csv/ctr-small-samples/deepctr_criteo_sample.txt',
      `${CRITEO_HEADER}\n${lines.join('\n')}\n`,
    );
    const data = await loadCtrFields('criteo-sample', { dataDir: join(temp.dir, 'csv') });
    expect(data.schema.fields.map((f) => f.kind)).toEqual([
      ...Array<string>(13).fill('numeric'),
      ...Array<string>(26).fill('categorical'),
    ]);
    expect(data.schema.fields[0]?.name).toBe('I1');
    expect(data.schema.fields[13]?.name).toBe('C1');
    // I3..I13 are always missing: no boundaries, every row in bucket 0.
    expect(data.schema.fields[2]).toMatchObject({ vocabularySize: 2, boundaries: [] });
    expect([data.train.numRows, data.validation.numRows, data.test.numRows]).toEqual([16, 2, 2]);
    for (const split of [data.train, data.validation, data.test]) {
      expect(Array.from(split.ids[2] ?? [])).toEqual(Array(split.numRows).fill(0));
    }
    expect(data.notes).toContain(
      'tiny fixture: too small for accuracy claims (it exercises the numeric and many-field code paths)',
    );
  });

  it('avazu-sample: id dropped, hour split into hour_of_day and weekday', async () => {
    const file = temp.write(
      'avazu.csv',
      `${AVAZU_HEADER}\n${avazuRow(1, '0', '14102113', 'a')}\n${avazuRow(2, '1', '14102623', 'b')}\n`,
    );
    const table = await readCtrCsv(file, AVAZU_LAYOUT);
    expect(table.labels).toEqual(Uint8Array.of(0, 1));
    expect(table.columns.map((c) => c.name).slice(0, 5)).toEqual([
      'hour_of_day',
      'weekday',
      'C1',
      'banner_pos',
      'site_id',
    ]);
    expect(table.columns).toHaveLength(23);
    // 2014-10-21 was a Tuesday (2), 2014-10-26 a Sunday (0).
    const [hour, weekday] = table.columns;
    expect(hour?.kind === 'categorical' && Array.from(hour.codes)).toEqual([13, 23]);
    expect(weekday?.kind === 'categorical' && Array.from(weekday.codes)).toEqual([2, 0]);
  });

  it('names the file and line of a bad label, column count, number or hour', async () => {
    const header = `${CRITEO_HEADER}\n`;
    const good = criteoRow('1', ['3'], 'a');
    const cases: [string, number, RegExp][] = [
      [`${header}${good}\n${criteoRow('2', ['3'], 'a')}\n`, 3, /label "2" is not 0 or 1/],
      [`${header}${criteoRow('-1', ['3'], 'a')}\n`, 2, /label "-1" is not 0 or 1/],
      [`${header}${good},extra\n`, 2, /expected 40 fields .* found 41/],
      [`${header}${criteoRow('0', ['3', 'abc'], 'a')}\n`, 2, /I2 "abc" is not a number/],
      [`${header}${criteoRow('0', ['0x1f'], 'a')}\n`, 2, /I1 "0x1f" is not a number/],
      [`label,I1\n${good}\n`, 1, /header missing/],
    ];
    for (const [content, line, problem] of cases) {
      const file = temp.write('criteo-bad.csv', content);
      await expectFormatError(() => readCtrCsv(file, CRITEO_LAYOUT), file, line, problem);
    }
    const hour = temp.write(
      'avazu-bad.csv',
      `${AVAZU_HEADER}\n${avazuRow(1, '0', '14022900', 'a')}\n`,
    );
    await expectFormatError(
      () => readCtrCsv(hour, AVAZU_LAYOUT),
      hour,
      2,
      /hour "14022900" is not a valid YYMMDDHH/,
    );
  });
});

describe('ml-1m-ctr', () => {
  const dir = join(temp.dir, 'ml');
  temp.write('ml/ml-1m/users.dat', '1::F::1::10::48067\n2::M::56::16::70072\n');
  temp.write(
    'ml/ml-1m/movies.dat',
    Buffer.from(
      "1::Toy Story (1995)::Animation|Children's|Comedy\n73::Misérables, Les (1995)::Drama|Musical\n5::No Year::\n",
      'latin1',
    ),
  );
  const chrono = (ratings: [number, number, number][]) =>
    `user_id\tmovie_id\trating\tseq_pos\n${ratings.map(([u, m, r], i) => `${u}\t${m}\t${r}\t${i}`).join('\n')}\n`;

  it('drops 3s, labels 4-5 as 1 and 1-2 as 0, joins users and movies', async () => {
    const ratings: [number, number, number][] = [];
    for (let i = 0; i < 25; i++) ratings.push([1, [1, 73, 5][i % 3] as number, (i % 5) + 1]);
    temp.write('ml/ml-1m/ratings_chrono.tsv', chrono(ratings));
    const data = await loadCtrFields('ml-1m-ctr', { dataDir: dir });
    expect(data.schema.fields.map((f) => [f.name, f.kind])).toEqual([
      ['user_id', 'categorical'],
      ['item_id', 'categorical'],
      ['gender', 'categorical'],
      ['age', 'categorical'],
      ['occupation', 'categorical'],
      ['zip_code', 'categorical'],
      ['release_year', 'categorical'],
      ['genres', 'multi'],
    ]);
    const all = [data.train, data.validation, data.test];
    // 25 ratings cycle 1..5: the 5 threes go, 20 rows remain, split 16 / 2 / 2.
    expect(all.map((s) => s.numRows)).toEqual([16, 2, 2]);
    const positives = all.reduce((n, s) => n + s.labels.reduce((m, l) => m + l, 0), 0);
    expect(positives).toBe(10);
    expect(data.schema.fields[7]).toMatchObject({ maxValues: 3 });
    // One user only: user_id, gender, age, occupation and zip_code are id 1 on every row.
    for (const f of [0, 2, 3, 4, 5]) {
      expect(data.schema.fields[f]?.vocabularySize).toBe(2);
      expect(new Set(data.train.ids[f])).toEqual(new Set([1]));
    }
    expect(data.notes).toEqual(['random 0.8:0.1:0.1 split, seed 2020']);
  });

  it('maps a movie without year or genres to 0 and a ratings row of an unknown user to an error', async () => {
    temp.write(
      'ml/ml-1m/ratings_chrono.tsv',
      chrono([
        [1, 5, 4],
        [1, 1, 1],
      ]),
    );
    const data = await loadCtrFields('ml-1m-ctr', { dataDir: dir, splitRatios: [1, 0, 0] });
    expect(data.train.numRows).toBe(2);
    expect(Array.from(data.train.ids[6] ?? [])).toEqual([0, 1]);
    expect(Array.from(data.train.ids[7] ?? [])).toEqual([0, -1, -1, 1, 2, 3]);
    const file = temp.write(
      'ml/ml-1m/ratings_chrono.tsv',
      chrono([
        [1, 1, 4],
        [3, 1, 4],
      ]),
    );
    await expectFormatError(
      () => loadCtrFields('ml-1m-ctr', { dataDir: dir }),
      file,
      3,
      /user 3 is not in .*users\.dat/,
    );
  });
});

describe('frappe through loadCtrFields', () => {
  it('reads the libfm split as fields named by the feature map, vocabularies from train', async () => {
    temp.write(
      'fr/frappe/frappe.libfm_feature_map.tsv',
      'feature_index\tfield\tvalue\n0\tuser\t0\n1\tuser\t1\n2\titem\t0\n3\titem\t1\n4\titem\t2\n',
    );
    temp.write('fr/frappe/frappe.train.reconstructed.libfm', '1 1:1 3:1\n-1 1:1 2:1\n');
    temp.write('fr/frappe/frappe.validation.libfm', '1 0:1 4:1\r\n');
    temp.write('fr/frappe/frappe.test.libfm', '-1 1:1 3:1\r\n');
    const data = await loadCtrFields('frappe', { dataDir: join(temp.dir, 'fr') });
    expect(data.schema.fields).toEqual([
      { name: 'user', kind: 'categorical', vocabularySize: 2, values: ['1'] },
      { name: 'item', kind: 'categorical', vocabularySize: 3, values: ['1', '0'] },
    ]);
    expect(data.train.ids).toEqual([rows(1, 1), rows(1, 2)]);
    expect(data.train.labels).toEqual(Float32Array.of(1, 0));
    expect(data.validation.ids).toEqual([rows(0), rows(0)]);
    expect(data.test.ids).toEqual([rows(1), rows(1)]);
  });
});

describe('registry', () => {
  it('keeps the loaders apart by kind and format', async () => {
    await expect(loadCtrDataset('ml-1m-ctr')).rejects.toThrow(/use loadCtrFields/);
    await expect(loadCtrFields('tmall')).rejects.toThrow(
      /loadCtrFields cannot load 'tmall': it is a session data set/,
    );
    const error = await loadCtrFields('criteo-sample', { numericBuckets: 0 }).catch((e) => e);
    expect(error).toBeInstanceOf(PocketrecError);
  });
});
