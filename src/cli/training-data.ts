import {
  type EventLogReport,
  getDataset,
  loadSessionDataset,
  loadUserSequences,
} from '../data/index.ts';
import { UsageError } from '../errors.ts';
import { type EvalCases, leaveOneOut, sessionHoldout } from '../eval/splits.ts';
import { type EventLogCliOptions, loadOptionsFor, numberOption } from './options.ts';

/** What `train` and `distill` fit on and validate with, for user and session data sets alike. */
export interface TrainingData {
  /**
   * The data set as a package records it and checks it against: the registry name, or an
   * event log's identity (`shop-log.csv@3f9a1c0b7e2d`), whatever path it was given by.
   */
  dataset: string;
  numItems: number;
  train: Int32Array[];
  validation: EvalCases;
  /**
   * Whether ranking leaves the input history out, as `pocketrec eval` does for this data
   * set: yes for users (a film is rarely watched twice), no for sessions, where about 40%
   * of the next clicks in Tmall and RetailRocket repeat an item of the session.
   */
  maskHistory: boolean;
  /** External id of item i at index i - 1, where the data set has its own ids. */
  itemIds?: string[];
  /** For an event log file: what loading it read, dropped and counted. */
  log?: EventLogReport;
}

export async function trainingData(
  dataset: string,
  options: { dataDir?: string; users?: string } & EventLogCliOptions,
): Promise<TrainingData> {
  const spec = getDataset(dataset);
  // The loaders find the data directory themselves, and a generated data set needs none.
  const load = loadOptionsFor(dataset, options);
  const limit = numberOption(options.users, 'users', Number.POSITIVE_INFINITY, {
    integer: true,
    min: 3,
  });
  if (spec.kind === 'sequential') {
    const data = await loadUserSequences(dataset, load);
    const split = leaveOneOut(data.sequences.slice(0, limit));
    const source = data.sourceItemIds;
    const itemIds =
      data.itemIds ??
      (source ? Array.from({ length: data.numItems }, (_, i) => String(source[i + 1])) : null);
    return {
      dataset: data.dataset,
      numItems: data.numItems,
      train: split.train,
      validation: split.validation,
      maskHistory: true,
      ...(itemIds ? { itemIds: [...itemIds] } : {}),
      ...(data.log ? { log: data.log } : {}),
    };
  }
  if (spec.kind === 'session') {
    const data = await loadSessionDataset(dataset, load);
    const { train, validation } = sessionHoldout(data.trainSessions.slice(0, limit));
    return {
      dataset: data.dataset,
      numItems: data.numItems,
      train,
      validation,
      maskHistory: false,
      ...(data.itemIds ? { itemIds: [...data.itemIds] } : {}),
      ...(data.log ? { log: data.log } : {}),
    };
  }
  throw new UsageError(
    `next-item models train on user or session data; ${dataset} is a ${spec.kind} data set`,
  );
}
