import { loadCtrFields } from '../data/ctr/index.ts';
import {
  augmentSessions,
  DATASET_NAMES,
  EVENT_LOG_EXTENSIONS,
  type EventLogReport,
  getDataset,
  isEventLog,
  isGenerated,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
  needsDataDir,
  repeatShare,
  resolveDataDir,
} from '../data/index.ts';
import type { CtrField, CtrRows } from '../model/ctr/schema.ts';
import { eventLogRows } from './event-log-report.ts';
import { type EventLogCliOptions, loadOptionsFor } from './options.ts';
import { type Output, printJson, table } from './output.ts';

export function dataListCommand(options: { json?: boolean }, output: Output): void {
  const rows = DATASET_NAMES.map((name) => ({ name, ...getDataset(name) }));
  if (options.json) printJson(output, rows);
  else {
    output.out(table(rows.map((r) => [r.name, `${r.kind}: ${r.description}`])));
    output.out(
      `\nor a shop's own event log file (${EVENT_LOG_EXTENSIONS.join(', ')}): docs/own-data.md`,
    );
  }
}

function lengthStats(sequences: readonly ArrayLike<number>[]) {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let sum = 0;
  for (const s of sequences) {
    min = Math.min(min, s.length);
    max = Math.max(max, s.length);
    sum += s.length;
  }
  return { min, max, mean: sequences.length > 0 ? sum / sequences.length : 0 };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Loads a data set through the same loaders training uses and reports its counts. */
export async function dataStatsCommand(
  name: string,
  options: { json?: boolean; dataDir?: string } & EventLogCliOptions,
  output: Output,
): Promise<void> {
  const spec = getDataset(name);
  const logOptions = loadOptionsFor(name, options);
  const dataDir = needsDataDir(spec) ? resolveDataDir(options.dataDir) : undefined;
  const load = { ...logOptions, dataDir };
  let stats: Record<string, unknown>;
  let log: EventLogReport | undefined;
  if (spec.kind === 'sequential') {
    const data = await loadUserSequences(name, load);
    log = data.log;
    stats = {
      users: data.sequences.length,
      items: data.numItems,
      interactions: data.numInteractions,
      sequenceLength: lengthStats(data.sequences),
    };
  } else if (spec.kind === 'session') {
    const data = await loadSessionDataset(name, load);
    log = data.log;
    const samples = augmentSessions(data.trainSessions, data.minTrainPrefixLength);
    stats = {
      items: data.numItems,
      trainSessions: data.trainSessions.length,
      trainClicks: data.trainSessions.reduce((n, s) => n + s.length, 0),
      trainSamples: samples.targets.length,
      testCases: data.testTargets.length,
      sessionLength: lengthStats(data.trainSessions),
      // Re-clicks: why session data is ranked without masking the history.
      trainRepeatShare: round4(repeatShare(samples.prefixes, samples.targets)),
      testRepeatShare: round4(repeatShare(data.testPrefixes, data.testTargets)),
    };
  } else if (spec.format !== 'libfm') {
    stats = await ctrFieldStats(name, dataDir);
  } else {
    const data = await loadCtrDataset(name, { dataDir });
    const split = (d: { numRows: number; labels: Uint8Array }) => ({
      rows: d.numRows,
      positiveRate: d.labels.reduce((n, l) => n + l, 0) / Math.max(1, d.numRows),
    });
    stats = {
      fields: data.featureMap.fields.length,
      features: data.featureMap.numFeatures,
      train: split(data.train),
      validation: split(data.validation),
      test: split(data.test),
    };
  }
  const report = {
    dataset: log?.identity ?? name,
    kind: spec.kind,
    ...(isEventLog(spec)
      ? { file: spec.file }
      : { dataDir: isGenerated(spec) ? 'none (made in memory)' : dataDir }),
    ...stats,
  };
  if (options.json) {
    printJson(output, log ? { ...report, log } : report);
    return;
  }
  const show = (v: unknown): string =>
    typeof v === 'number'
      ? Number.isInteger(v)
        ? v.toLocaleString('en-US')
        : v.toFixed(3)
      : typeof v === 'object' && v !== null
        ? Object.entries(v)
            .map(([k, x]) => `${k} ${show(x)}`)
            .join(', ')
        : String(v);
  // A list (the fields, the notes) gets a row per entry rather than one unreadable line.
  const rows = Object.entries(report).flatMap(([k, v]) =>
    Array.isArray(v)
      ? v.map((x, i) => [i === 0 ? k : '', show(x)] as const)
      : [[k, show(v)] as const],
  );
  output.out(table([...rows, ...(log ? eventLogRows(log) : [])]));
}

/** Rows and positive rate per split, and each field's kind and vocabulary (id 0 included). */
async function ctrFieldStats(name: string, dataDir: string | undefined) {
  const data = await loadCtrFields(name, { dataDir });
  const split = (rows: CtrRows) => ({
    rows: rows.numRows,
    positiveRate: round4(rows.labels.reduce((n, l) => n + l, 0) / Math.max(1, rows.numRows)),
  });
  const field = ({ name, kind, vocabularySize, maxValues, boundaries }: CtrField) => ({
    name,
    kind,
    vocabularySize,
    ...(maxValues === undefined ? {} : { maxValues }),
    ...(boundaries === undefined ? {} : { buckets: boundaries.length + 1 }),
  });
  return {
    train: split(data.train),
    validation: split(data.validation),
    test: split(data.test),
    fields: data.schema.fields.map(field),
    notes: data.notes ?? [],
  };
}
