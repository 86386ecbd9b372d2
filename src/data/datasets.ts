import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { PocketrecError, UsageError } from '../errors.ts';
import { dataFile, resolveDataDir } from './data-dir.ts';
import {
  describeEventLog,
  EVENT_LOG_EXTENSIONS,
  type EventLogOptions,
  isEventLogIdentity,
  type LogKind,
  type LogSyntax,
  loadSessionLog,
  loadUserLog,
} from './event-log/index.ts';
import { type FeatureMap, loadFeatureMap } from './frappe.ts';
import { type LibfmData, loadLibfm } from './libfm.ts';
import { readRatingSequences } from './ml1m.ts';
import { readS3recSequences } from './s3rec.ts';
import { loadItemMap, readSasrecSequences } from './sasrec.ts';
import {
  collectUserSequences,
  renumberByFirstAppearance,
  type UserSequences,
} from './sequences.ts';
import { loadSessionFiles, type SessionDataset } from './sessions.ts';
import { DEFAULT_STOREFRONT, type StorefrontOptions, storefrontSequences } from './storefront.ts';
import {
  type ContextStorefrontOptions,
  contextStorefrontSequences,
  DEFAULT_CONTEXT_STOREFRONT,
} from './storefront-context.ts';

/** Per-user sequences for next-item models (SASRec-style leave-last-out). */
export interface SequentialDatasetSpec {
  readonly kind: 'sequential';
  readonly description: string;
  /** How `file` is laid out. */
  readonly format: 'sasrec-pairs' | 'ratings-chrono' | 's3rec-lines';
  /** Paths are relative to the data directory. */
  readonly file: string;
  /** `item_id<TAB>source id`, when the file's item ids were renumbered from the source's. */
  readonly itemMapFile?: string;
}

/**
 * Per-user sequences made in memory by a seeded generator: nothing to download, nothing
 * under the data directory, the same sequences on every machine.
 */
export interface GeneratedDatasetSpec {
  readonly kind: 'sequential';
  readonly description: string;
  readonly format: 'generated-storefront';
  readonly generator: StorefrontOptions;
}

/** The storefront whose shoppers' visits have a local context (src/data/storefront-context.ts). */
export interface GeneratedContextDatasetSpec {
  readonly kind: 'sequential';
  readonly description: string;
  readonly format: 'generated-context-storefront';
  readonly generator: ContextStorefrontOptions;
}

/**
 * The context storefront's impression log as CTR rows (src/data/ctr/storefront-clicks.ts):
 * each event's slate, the clicked item positive; split by shopper. Made in memory.
 */
export interface GeneratedClicksDatasetSpec {
  readonly kind: 'ctr';
  readonly description: string;
  readonly format: 'generated-storefront-clicks';
  readonly generator: ContextStorefrontOptions;
  /** Context and item fields, or item fields only (the ranker with the context off). */
  readonly fields: 'all' | 'items';
}

/** Every data set made in memory by a seeded generator. */
export type AnyGeneratedDatasetSpec =
  | GeneratedDatasetSpec
  | GeneratedContextDatasetSpec
  | GeneratedClicksDatasetSpec;

const GENERATED_FORMATS: readonly string[] = [
  'generated-storefront',
  'generated-context-storefront',
  'generated-storefront-clicks',
] satisfies AnyGeneratedDatasetSpec['format'][];

/** Session-based recommendation: whole training sessions and prefix/target test cases. */
export interface SessionDatasetSpec {
  readonly kind: 'session';
  readonly description: string;
  readonly trainFile: string;
  readonly testFile: string;
  /** Shortest training prefix the published sample counts keep (see augmentSessions). */
  readonly minTrainPrefixLength: number;
}

/** One-hot CTR data in libfm format with a feature map. */
export interface CtrDatasetSpec {
  readonly kind: 'ctr';
  readonly description: string;
  readonly format: 'libfm';
  readonly trainFile: string;
  readonly validationFile: string;
  readonly testFile: string;
  readonly featureMapFile: string;
  /** The raw log the libfm files were encoded from. */
  readonly logFile: string;
}

/**
 * CTR data built from raw logs (src/data/ctr/): fields encoded with vocabularies fitted on
 * a seeded random train split. Still kind 'ctr', so that everything that tells next-item
 * data from CTR data keeps doing so; `format` says which loader reads it.
 */
export interface MovieLensCtrDatasetSpec {
  readonly kind: 'ctr';
  readonly description: string;
  /** ML-1M ratings joined with users.dat and movies.dat (src/data/ctr/movielens.ts). */
  readonly format: 'movielens-ratings';
  readonly ratingsFile: string;
  readonly usersFile: string;
  readonly moviesFile: string;
}

/** A comma-separated log with a header (src/data/ctr/csv.ts has the layouts). */
export interface CsvCtrDatasetSpec {
  readonly kind: 'ctr';
  readonly description: string;
  readonly format: 'criteo-csv' | 'avazu-csv';
  readonly file: string;
}

/**
 * A shop's own event log, named by its path (src/data/event-log/, docs/own-data.md): a user
 * log (`user_id`) is sequential, a session log (`session_id`) is session data.
 */
export interface EventLogDatasetSpec<K extends LogKind = LogKind> {
  readonly kind: K;
  readonly description: string;
  readonly format: 'event-log';
  /** As given: relative to the current directory, not the data directory. */
  readonly file: string;
  readonly syntax: LogSyntax;
}

export type DatasetSpec =
  | SequentialDatasetSpec
  | GeneratedDatasetSpec
  | GeneratedContextDatasetSpec
  | EventLogDatasetSpec<'sequential'>
  | SessionDatasetSpec
  | EventLogDatasetSpec<'session'>
  | CtrDatasetSpec
  | MovieLensCtrDatasetSpec
  | CsvCtrDatasetSpec
  | GeneratedClicksDatasetSpec;

const FLAT_STOREFRONT: ContextStorefrontOptions = {
  ...DEFAULT_CONTEXT_STOREFRONT,
  contextEffect: 0,
};

export const DATASETS = {
  'ml-1m': {
    kind: 'sequential',
    description:
      'MovieLens-1M in SASRec format (items with < 5 ratings dropped; 6,040 users, 3,416 items)',
    format: 'sasrec-pairs',
    file: 'ml-1m/ml-1m.sasrec_format.txt',
    itemMapFile: 'ml-1m/ml-1m.sasrec_format.itemmap.tsv',
  },
  'ml-1m-ratings': {
    kind: 'sequential',
    description:
      'MovieLens-1M, all 1,000,209 ratings in per-user chronological order (3,706 movies, renumbered)',
    format: 'ratings-chrono',
    file: 'ml-1m/ratings_chrono.tsv',
  },
  beauty: {
    kind: 'sequential',
    description: 'Amazon Beauty, S3-Rec preprocessing (22,363 users, 12,101 items)',
    format: 's3rec-lines',
    file: 'amazon-beauty-s3rec/Beauty.txt',
  },
  games: {
    kind: 'sequential',
    description: 'Amazon Video Games, the SASRec "Games" file (31,013 users, 23,715 items)',
    format: 'sasrec-pairs',
    file: 'amazon-games-sasrec/Video.txt',
  },
  tmall: {
    kind: 'session',
    description: 'Tmall IJCAI-15 sessions as used by DHCN/COTREC/OD-Rec (40,727 items)',
    trainFile: 'tmall-odrec/train_sessions.txt',
    testFile: 'tmall-odrec/test_prefix_target.txt',
    minTrainPrefixLength: 1,
  },
  retailrocket: {
    kind: 'session',
    description: 'RetailRocket sessions as used by COTREC/OD-Rec (36,968 items)',
    trainFile: 'retailrocket-odrec/train_sessions.txt',
    testFile: 'retailrocket-odrec/test_prefix_target.txt',
    minTrainPrefixLength: 2,
  },
  storefront: {
    kind: 'sequential',
    description:
      'generated storefront (src/data/storefront.ts): 3,000 products, 10,000 shoppers over several visits; made in memory, no data directory',
    format: 'generated-storefront',
    generator: DEFAULT_STOREFRONT,
  },
  'storefront-context': {
    kind: 'sequential',
    description:
      "generated storefront with a local context per visit (src/data/storefront-context.ts): the storefront's 3,000 products, 10,000 shoppers whose behaviour depends on hour, weekday, device and locale; made in memory, no data directory",
    format: 'generated-context-storefront',
    generator: DEFAULT_CONTEXT_STOREFRONT,
  },
  'storefront-flat': {
    kind: 'sequential',
    description:
      "storefront-context with the context's effect off (contexts drawn, behaviour unchanged: the storefront's own sequences); made in memory, no data directory",
    format: 'generated-context-storefront',
    generator: FLAT_STOREFRONT,
  },
  frappe: {
    kind: 'ctr',
    description:
      'frappe app usage, NFM libfm split (validation/test exact, train reconstructed), 10 fields',
    format: 'libfm',
    trainFile: 'frappe/frappe.train.reconstructed.libfm',
    validationFile: 'frappe/frappe.validation.libfm',
    testFile: 'frappe/frappe.test.libfm',
    featureMapFile: 'frappe/frappe.libfm_feature_map.tsv',
    logFile: 'frappe/frappe.csv',
  },
  'ml-1m-ctr': {
    kind: 'ctr',
    description:
      'MovieLens-1M ratings as clicks (RecBole ml-1m context setup: 3 dropped, 4-5 positive, 1-2 negative; 739,012 rows), 8 fields with genres multi-valued, seeded random 8:1:1 split',
    format: 'movielens-ratings',
    ratingsFile: 'ml-1m/ratings_chrono.tsv',
    usersFile: 'ml-1m/users.dat',
    moviesFile: 'ml-1m/movies.dat',
  },
  'criteo-sample': {
    kind: 'ctr',
    description:
      'Criteo Kaggle, DeepCTR 200-row sample: 13 numeric + 26 categorical fields, seeded random 8:1:1 split; tiny fixture: too small for accuracy claims',
    format: 'criteo-csv',
    file: 'ctr-small-samples/deepctr_criteo_sample.txt',
  },
  'avazu-sample': {
    kind: 'ctr',
    description:
      'Avazu, DeepCTR 100-row sample: 23 categorical fields (id dropped, hour as hour_of_day + weekday), seeded random 8:1:1 split; tiny fixture: too small for accuracy claims',
    format: 'avazu-csv',
    file: 'ctr-small-samples/deepctr_avazu_sample.txt',
  },
  'storefront-context-clicks': {
    kind: 'ctr',
    description:
      "storefront-context's impression log: each event's slate of 5 (the clicked item and 4 shown by popularity), 4 context fields (hour, weekday, device, locale) + 5 item fields, split 8:1:1 by shopper; made in memory, no data directory",
    format: 'generated-storefront-clicks',
    generator: DEFAULT_CONTEXT_STOREFRONT,
    fields: 'all',
  },
  'storefront-context-clicks-items': {
    kind: 'ctr',
    description:
      'storefront-context-clicks with the 5 item fields only (the ranker with the context off), split 8:1:1 by shopper; made in memory, no data directory',
    format: 'generated-storefront-clicks',
    generator: DEFAULT_CONTEXT_STOREFRONT,
    fields: 'items',
  },
  'storefront-flat-clicks': {
    kind: 'ctr',
    description:
      "storefront-flat's impression log (contexts that change nothing): 4 context + 5 item fields, split 8:1:1 by shopper; made in memory, no data directory",
    format: 'generated-storefront-clicks',
    generator: FLAT_STOREFRONT,
    fields: 'all',
  },
} as const satisfies Record<string, DatasetSpec>;

export type DatasetName = keyof typeof DATASETS;

export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

export interface LoadOptions {
  /** The CLI's --data-dir; see resolveDataDir for the fallbacks. */
  readonly dataDir?: string;
  /** How an event log file is read; the registry's data sets come prepared and take none. */
  readonly eventLog?: Partial<EventLogOptions>;
}

/** A one-hot CTR data set with its three splits. */
export interface CtrDataset {
  readonly dataset: string;
  readonly featureMap: FeatureMap;
  readonly train: LibfmData;
  readonly validation: LibfmData;
  readonly test: LibfmData;
}

export function isDatasetName(name: string): name is DatasetName {
  return Object.hasOwn(DATASETS, name);
}

/** Whether the data set is made in memory, so that it needs no data directory. */
export function isGenerated(spec: DatasetSpec): spec is AnyGeneratedDatasetSpec {
  return 'format' in spec && GENERATED_FORMATS.includes(spec.format);
}

/** Whether the data set is a shop's event log file rather than a registry entry. */
export function isEventLog(spec: DatasetSpec): spec is EventLogDatasetSpec {
  return 'format' in spec && spec.format === 'event-log';
}

/** Whether the data set is read from the data directory (neither generated nor a log file). */
export function needsDataDir(spec: DatasetSpec): boolean {
  return !isGenerated(spec) && !isEventLog(spec);
}

/** Whether a data set value is a path rather than a name: a directory, an extension or a file. */
export function namesAFile(name: string): boolean {
  return name.includes('/') || name.includes('\\') || extname(name) !== '' || existsSync(name);
}

/**
 * The registry entry for `name`, or, for a value that is a path (it has a directory, an
 * extension, or names a file), the event log there, its kind read from its header. Unknown
 * names are an error that lists the known ones.
 */
export function getDataset(name: string): DatasetSpec {
  if (isDatasetName(name)) return DATASETS[name];
  if (isEventLogIdentity(name)) {
    throw new UsageError(
      `'${name}' is how a package records the event log it was trained on; give the log file's path with --dataset`,
    );
  }
  if (namesAFile(name)) {
    const { syntax, columns } = describeEventLog(name);
    const grouped = columns.kind === 'session' ? 'sessions' : 'per-user histories';
    return {
      kind: columns.kind,
      description: `event log ${name} (${syntax}, ${grouped})`,
      format: 'event-log',
      file: name,
      syntax,
    };
  }
  throw new PocketrecError(
    'unknown-dataset',
    `unknown data set '${name}'; known data sets: ${DATASET_NAMES.join(', ')}; or the path of an event log file (${EVENT_LOG_EXTENSIONS.join(', ')})`,
  );
}

export async function loadUserSequences(
  name: string,
  options: LoadOptions = {},
): Promise<UserSequences> {
  const spec = specOfKind(name, 'sequential', 'loadUserSequences');
  if (isGenerated(spec)) {
    return spec.format === 'generated-context-storefront'
      ? contextStorefrontSequences(name, spec.generator)
      : storefrontSequences(name, spec.generator);
  }
  if (isEventLog(spec)) return loadUserLog(spec.file, options.eventLog);
  const dataDir = resolveDataDir(options.dataDir);
  const file = dataFile(dataDir, spec.file);
  switch (spec.format) {
    case 'sasrec-pairs': {
      const loaded = await collectUserSequences(name, readSasrecSequences(file));
      if (spec.itemMapFile === undefined) return loaded;
      const mapFile = dataFile(dataDir, spec.itemMapFile);
      const sourceItemIds = await loadItemMap(mapFile);
      if (sourceItemIds.length - 1 !== loaded.numItems) {
        throw new PocketrecError(
          'data-mismatch',
          `${mapFile} maps ${sourceItemIds.length - 1} items but ${file} has ${loaded.numItems}`,
        );
      }
      return { ...loaded, sourceItemIds };
    }
    case 'ratings-chrono': {
      // MovieIDs have gaps (3,706 rated out of 1..3952); dense ids keep embedding tables tight.
      const loaded = await collectUserSequences(name, readRatingSequences(file));
      const sourceItemIds = renumberByFirstAppearance(loaded.sequences);
      return { ...loaded, numItems: sourceItemIds.length - 1, sourceItemIds };
    }
    case 's3rec-lines':
      return collectUserSequences(name, readS3recSequences(file));
  }
}

export async function loadSessionDataset(
  name: string,
  options: LoadOptions = {},
): Promise<SessionDataset> {
  const spec = specOfKind(name, 'session', 'loadSessionDataset');
  if (isEventLog(spec)) return loadSessionLog(spec.file, options.eventLog);
  const dataDir = resolveDataDir(options.dataDir);
  return loadSessionFiles(
    name,
    dataFile(dataDir, spec.trainFile),
    dataFile(dataDir, spec.testFile),
    spec.minTrainPrefixLength,
  );
}

export async function loadCtrDataset(name: string, options: LoadOptions = {}): Promise<CtrDataset> {
  const spec = specOfKind(name, 'ctr', 'loadCtrDataset');
  if (spec.format !== 'libfm') {
    throw new PocketrecError(
      'wrong-dataset-kind',
      `loadCtrDataset reads one-hot libfm data sets; '${name}' is ${spec.format} data: use loadCtrFields`,
    );
  }
  const dataDir = resolveDataDir(options.dataDir);
  const featureMap = await loadFeatureMap(dataFile(dataDir, spec.featureMapFile));
  const load = (file: string) => loadLibfm(dataFile(dataDir, file), { featureMap });
  return {
    dataset: name,
    featureMap,
    train: await load(spec.trainFile),
    validation: await load(spec.validationFile),
    test: await load(spec.testFile),
  };
}

const LOADER_FOR_KIND = {
  sequential: 'loadUserSequences',
  session: 'loadSessionDataset',
  ctr: 'loadCtrDataset (libfm) or loadCtrFields (any ctr data set)',
} as const;

function specOfKind<K extends DatasetSpec['kind']>(
  name: string,
  kind: K,
  loader: string,
): Extract<DatasetSpec, { kind: K }> {
  const spec = getDataset(name);
  if (spec.kind !== kind) {
    throw new PocketrecError(
      'wrong-dataset-kind',
      `${loader} cannot load '${name}': it is a ${spec.kind} data set; use ${LOADER_FOR_KIND[spec.kind]}`,
    );
  }
  return spec as Extract<DatasetSpec, { kind: K }>;
}
