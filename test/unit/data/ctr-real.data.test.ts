/**
 * The CTR field loaders on the real files (/work/shared/data/README.md). Like
 * real-data.data.test.ts these never skip: without the data directory they fail and say so.
 */
import { describe, expect, it } from 'vitest';
import { dataStatsCommand } from '../../../src/cli/data.ts';
import { type CtrFieldData, loadCtrFields } from '../../../src/data/ctr/index.ts';
import { resolveDataDir } from '../../../src/data/data-dir.ts';
import { type CtrRows, type CtrSchema, idsPerRow } from '../../../src/model/ctr/schema.ts';

let resolvedDataDir: string | undefined;

function dataDir(): string {
  try {
    resolvedDataDir ??= resolveDataDir();
  } catch (error) {
    throw new Error(
      `the CTR real-data tests need the data sets (see the data README): ${(error as Error).message}`,
    );
  }
  return resolvedDataDir;
}

const splitSizes = (data: CtrFieldData) =>
  [data.train, data.validation, data.test].map((rows) => rows.numRows);

const positives = (rows: CtrRows) => rows.labels.reduce((n, label) => n + label, 0);

/** Every id is in its field's vocabulary; a multi-valued row is values, then -1 padding. */
function expectIdsInRange(schema: CtrSchema, rows: CtrRows): void {
  schema.fields.forEach((field, f) => {
    const ids = rows.ids[f] ?? new Int32Array(0);
    const width = idsPerRow(field);
    expect(ids).toHaveLength(rows.numRows * width);
    let bad = 0;
    for (let row = 0; row < rows.numRows; row++) {
      let padded = false;
      for (let slot = 0; slot < width; slot++) {
        const id = ids[row * width + slot] as number;
        if (id === -1 && slot > 0) padded = true;
        else if (padded || id < 0 || id >= field.vocabularySize) bad++;
      }
    }
    expect(bad, field.name).toBe(0);
  });
}

describe('ml-1m-ctr', () => {
  it('739,012 rows (3s dropped), 575,281 positive, split 591,210 / 73,901 / 73,901', async () => {
    const data = await loadCtrFields('ml-1m-ctr', { dataDir: dataDir() });
    expect(splitSizes(data)).toEqual([591_210, 73_901, 73_901]);
    // Ratings 4 and 5 (348,971 + 226,310) are clicks, 1 and 2 (56,174 + 107,557) are not.
    expect(positives(data.train) + positives(data.validation) + positives(data.test)).toBe(575_281);
    expect(data.schema.fields.map((f) => [f.name, f.kind, f.vocabularySize])).toEqual([
      ['user_id', 'categorical', 6_041],
      ['item_id', 'categorical', 3_634],
      ['gender', 'categorical', 3],
      ['age', 'categorical', 8],
      ['occupation', 'categorical', 22],
      ['zip_code', 'categorical', 3_440],
      ['release_year', 'categorical', 82],
      ['genres', 'multi', 19],
    ]);
    // The most genres any movie in movies.dat has.
    expect(data.schema.fields[7]?.maxValues).toBe(6);
    for (const rows of [data.train, data.validation, data.test]) {
      expectIdsInRange(data.schema, rows);
    }
    // Movies rated only outside train meet the out-of-vocabulary row.
    expect(data.test.ids[1]?.includes(0)).toBe(true);
    expect(data.train.ids[1]?.includes(0)).toBe(false);
  });
});

describe('frappe as fields', () => {
  it('the NFM split, 202,812 / 57,722 / 28,860 rows of 10 fields named as in the feature map', async () => {
    const data = await loadCtrFields('frappe', { dataDir: dataDir() });
    expect(splitSizes(data)).toEqual([202_812, 57_722, 28_860]);
    const cardinalities = [957, 4_082, 7, 7, 2, 3, 2, 9, 80, 233];
    expect(data.schema.fields.map((f) => f.name)).toEqual([
      'user',
      'item',
      'daytime',
      'weekday',
      'isweekend',
      'homework',
      'cost',
      'weather',
      'country',
      'city',
    ]);
    data.schema.fields.forEach((field, f) => {
      expect(field.kind).toBe('categorical');
      expect(field.vocabularySize).toBeLessThanOrEqual((cardinalities[f] as number) + 1);
    });
    expect(positives(data.train)).toBe(67_604);
    expect(positives(data.validation) + positives(data.test)).toBe(28_599);
    for (const rows of [data.train, data.validation, data.test]) {
      expectIdsInRange(data.schema, rows);
    }
  });
});

describe('tiny CTR fixtures', () => {
  it('criteo-sample: 200 rows, 13 numeric + 26 categorical fields', async () => {
    const data = await loadCtrFields('criteo-sample', { dataDir: dataDir() });
    expect(splitSizes(data)).toEqual([160, 20, 20]);
    expect(data.schema.fields.filter((f) => f.kind === 'numeric')).toHaveLength(13);
    expect(data.schema.fields.filter((f) => f.kind === 'categorical')).toHaveLength(26);
    for (const field of data.schema.fields) {
      if (field.kind === 'numeric') expect(field.boundaries?.length).toBeLessThanOrEqual(15);
    }
    for (const rows of [data.train, data.validation, data.test]) {
      expectIdsInRange(data.schema, rows);
    }
    expect(data.notes?.join(' ')).toMatch(/too small for accuracy claims/);
  });

  it('avazu-sample: 100 rows, 23 categorical fields', async () => {
    const data = await loadCtrFields('avazu-sample', { dataDir: dataDir() });
    expect(splitSizes(data)).toEqual([80, 10, 10]);
    expect(data.schema.fields).toHaveLength(23);
    expect(data.schema.fields.every((f) => f.kind === 'categorical')).toBe(true);
    for (const rows of [data.train, data.validation, data.test]) {
      expectIdsInRange(data.schema, rows);
    }
  });

  it('`data stats criteo-sample --json` reports splits, positive rates and fields', async () => {
    const printed: string[] = [];
    await dataStatsCommand(
      'criteo-sample',
      { json: true, dataDir: dataDir() },
      { out: (text) => printed.push(text), err: () => {} },
    );
    const report = JSON.parse(printed.join('\n'));
    expect(report).toMatchObject({
      dataset: 'criteo-sample',
      kind: 'ctr',
      train: { rows: 160 },
      validation: { rows: 20 },
      test: { rows: 20 },
    });
    expect(report.fields).toHaveLength(39);
    expect(report.fields[0]).toMatchObject({ name: 'I1', kind: 'numeric' });
    expect(report.fields[13]).toEqual({ name: 'C1', kind: 'categorical', vocabularySize: 27 });
  });
});
