/**
 * CTR data sets as fields (src/model/ctr/schema.ts): one entry point, loadCtrFields, for
 * every 'ctr' data set of the registry, whatever its file format.
 *
 * Ids are deterministic: within each field, values get ids 1, 2, … in order of first
 * appearance in the train split (rows in file order; a multi-valued row's values in their
 * listed order), and 0 is kept for values the train split never holds and for missing
 * values. Numeric fields get up to `numericBuckets` buckets at quantiles of their train
 * values (see quantileBoundaries). Data sets without a published split get a seeded random
 * 8:1:1 one (randomSplit), seed 2020 as in RecBole's default configuration. The generated
 * storefront clicks (storefront-clicks.ts) are made in memory and split by shopper, as the
 * generator's options say: the seed and ratios given here do not apply to them.
 */

import { PocketrecError } from '../../errors.ts';
import type { CtrRows, CtrSchema } from '../../model/ctr/schema.ts';
import { dataFile, resolveDataDir } from '../data-dir.ts';
import { type DatasetSpec, getDataset, type LoadOptions, needsDataDir } from '../datasets.ts';
import { generateContextStorefront } from '../storefront-context.ts';
import { AVAZU_LAYOUT, CRITEO_LAYOUT, readCtrCsv } from './csv.ts';
import { encodeTable, type RawTable, type SplitRows } from './encode.ts';
import { readLibfmFields } from './frappe.ts';
import { readMovieLensCtr } from './movielens.ts';
import { randomSplit } from './split.ts';
import { storefrontClicksTable } from './storefront-clicks.ts';

/** A CTR data set encoded as fields, with its three splits. */
export interface CtrFieldData {
  readonly dataset: string;
  readonly schema: CtrSchema;
  readonly train: CtrRows;
  readonly validation: CtrRows;
  readonly test: CtrRows;
  /** What a reader of results on this data set must know (how it was split, its limits). */
  readonly notes?: readonly string[];
}

export interface CtrFieldsOptions extends LoadOptions {
  /** Seed of the random split, for data sets without a published one. */
  readonly seed?: number;
  /** Train : validation : test, for data sets without a published split. */
  readonly splitRatios?: readonly [number, number, number];
  /** The most buckets a numeric field gets (fewer when quantiles repeat). */
  readonly numericBuckets?: number;
}

export const CTR_FIELDS_DEFAULTS = {
  seed: 2020,
  splitRatios: [0.8, 0.1, 0.1],
  numericBuckets: 16,
} as const satisfies Required<Omit<CtrFieldsOptions, keyof LoadOptions>>;

type CtrSpec = Extract<DatasetSpec, { kind: 'ctr' }>;

const TINY_FIXTURE =
  'tiny fixture: too small for accuracy claims (it exercises the numeric and many-field code paths)';

export async function loadCtrFields(
  name: string,
  options: CtrFieldsOptions = {},
): Promise<CtrFieldData> {
  const spec = getDataset(name);
  if (spec.kind !== 'ctr') {
    throw new PocketrecError(
      'wrong-dataset-kind',
      `loadCtrFields cannot load '${name}': it is a ${spec.kind} data set`,
    );
  }
  const settings = {
    seed: options.seed ?? CTR_FIELDS_DEFAULTS.seed,
    splitRatios: options.splitRatios ?? CTR_FIELDS_DEFAULTS.splitRatios,
    numericBuckets: options.numericBuckets ?? CTR_FIELDS_DEFAULTS.numericBuckets,
  };
  if (!Number.isInteger(settings.numericBuckets) || settings.numericBuckets < 1) {
    throw new PocketrecError(
      'bad-option',
      `numericBuckets must be a positive integer, not ${settings.numericBuckets}`,
    );
  }
  // A generated data set reads no file: no data directory is looked for, even a named one.
  const dataDir = needsDataDir(spec) ? resolveDataDir(options.dataDir) : undefined;
  const { table, splits, notes } = await readSpec(
    spec,
    (file) => {
      if (dataDir === undefined) throw new Error(`${name} is made in memory: no ${file} to read`);
      return dataFile(dataDir, file);
    },
    settings,
  );
  return { dataset: name, ...encodeTable(table, splits, settings.numericBuckets), notes };
}

interface ReadResult {
  readonly table: RawTable;
  readonly splits: SplitRows;
  readonly notes: readonly string[];
}

async function readSpec(
  spec: CtrSpec,
  path: (file: string) => string,
  settings: { seed: number; splitRatios: readonly [number, number, number] },
): Promise<ReadResult> {
  const split = (table: RawTable, notes: string[]): ReadResult => ({
    table,
    splits: randomSplit(table.numRows, settings.seed, settings.splitRatios),
    notes: [`random ${settings.splitRatios.join(':')} split, seed ${settings.seed}`, ...notes],
  });
  switch (spec.format) {
    case 'libfm': {
      const { table, splits } = await readLibfmFields({
        trainFile: path(spec.trainFile),
        validationFile: path(spec.validationFile),
        testFile: path(spec.testFile),
        featureMapFile: path(spec.featureMapFile),
      });
      return {
        table,
        splits,
        notes: ['published NFM split: validation and test exact, train negatives regenerated'],
      };
    }
    case 'movielens-ratings':
      return split(
        await readMovieLensCtr({
          ratingsFile: path(spec.ratingsFile),
          usersFile: path(spec.usersFile),
          moviesFile: path(spec.moviesFile),
        }),
        [],
      );
    case 'criteo-csv':
      return split(await readCtrCsv(path(spec.file), CRITEO_LAYOUT), [TINY_FIXTURE]);
    case 'avazu-csv':
      return split(await readCtrCsv(path(spec.file), AVAZU_LAYOUT), [TINY_FIXTURE]);
    case 'generated-storefront-clicks': {
      const { generator } = spec;
      const { table, splits } = storefrontClicksTable(
        generateContextStorefront(generator),
        spec.fields,
      );
      return {
        table,
        splits,
        notes: [
          `split by shopper: ${generator.shopperSplit.join(':')} of ${generator.shoppers} shoppers (seed ${generator.seed}), no shopper in two splits; the seed and split ratios of the loader do not apply`,
          `each event is a slate of ${generator.slateSize}: the clicked item (label 1) and ${generator.slateSize - 1} others shown by popularity, whatever the context (label 0)`,
          `context effect ${generator.contextEffect}; fields: ${table.columns.map((c) => c.name).join(', ')}`,
        ],
      };
    }
  }
}

export {
  AVAZU_LAYOUT,
  CRITEO_LAYOUT,
  type CsvColumnRole,
  type CsvLayout,
  readCtrCsv,
} from './csv.ts';
export {
  type EncodedSplits,
  encodeTable,
  Interner,
  quantileBoundaries,
  type RawColumn,
  type RawTable,
  type SplitRows,
} from './encode.ts';
export { readLibfmFields } from './frappe.ts';
export { readMovieLensCtr } from './movielens.ts';
export { consecutiveSplit, randomSplit } from './split.ts';
export { type StorefrontClickFields, storefrontClicksTable } from './storefront-clicks.ts';
