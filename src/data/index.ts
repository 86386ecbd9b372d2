/**
 * Streaming loaders for the recommendation data sets (node only: they read files).
 * Record readers are async generators with bounded memory; the load* builders hold a
 * whole data set compactly in typed arrays for training.
 */
export { DATA_DIR_ENV, dataFile, resolveDataDir } from './data-dir.ts';
export {
  type CtrDataset,
  type CtrDatasetSpec,
  DATASET_NAMES,
  DATASETS,
  type DatasetName,
  type DatasetSpec,
  type EventLogDatasetSpec,
  type GeneratedDatasetSpec,
  getDataset,
  isDatasetName,
  isEventLog,
  isGenerated,
  type LoadOptions,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
  namesAFile,
  needsDataDir,
  type SequentialDatasetSpec,
  type SessionDatasetSpec,
} from './datasets.ts';
export {
  BAD_LINE_REASONS,
  type BadLineReason,
  BadLogLineError,
  DEFAULT_EVENT_LOG,
  EVENT_LOG_EXTENSIONS,
  EVENT_TYPES,
  type EventLogOptions,
  type EventLogReport,
  type EventType,
  loadSessionLog,
  loadUserLog,
} from './event-log/index.ts';
export {
  FEATURE_MAP_HEADER,
  type FeatureMap,
  type FieldRange,
  FRAPPE_LOG_HEADER,
  type FrappeLogRow,
  loadFeatureMap,
  readFrappeLog,
} from './frappe.ts';
export {
  type LibfmData,
  type LibfmRow,
  type LoadLibfmOptions,
  loadLibfm,
  readLibfm,
} from './libfm.ts';
export {
  DEFAULT_MAX_LINE_LENGTH,
  type Line,
  type ReadDataLinesOptions,
  type ReadLinesOptions,
  readDataLines,
  readLines,
} from './lines.ts';
export {
  type ChronoRating,
  type GroupLensRating,
  type Movie,
  type MovieLensUser,
  RATINGS_CHRONO_HEADER,
  readGroupLensRatings,
  readMovies,
  readRatingSequences,
  readRatingsChrono,
  readUsers,
} from './ml1m.ts';
export { readS3recSequences } from './s3rec.ts';
export { ITEM_MAP_HEADER, loadItemMap, readSasrecPairs, readSasrecSequences } from './sasrec.ts';
export type { UserItemEvent, UserSequence, UserSequences } from './sequences.ts';
export {
  type AugmentedSamples,
  augmentSessions,
  loadSessionFiles,
  type PrefixTarget,
  readPrefixTargets,
  readSessions,
  repeatShare,
  type SessionDataset,
} from './sessions.ts';
export {
  DEFAULT_STOREFRONT,
  generateStorefront,
  type Product,
  type Storefront,
  type StorefrontOptions,
  storefrontSequences,
} from './storefront.ts';
