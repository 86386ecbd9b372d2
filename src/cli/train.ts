/**
 * `pocketrec train`: trains the dense SASRec teacher on a user data set and exports it as
 * a model package; `--item-table jpq` trains it with a RecJPQ item table instead (codes
 * drawn from the training split, codebooks trained: src/model/jpq-codes.ts), `--item-table
 * qr` with a quotient-remainder table (both factors trained: src/model/qr-partition.ts); `--teacher`
 * distils it from a larger model by its logits (compression/distill/logit-distillation.ts).
 * A checkpoint beside the output (`<out>.checkpoint`) is written after every epoch, so
 * running the same command again after an interruption resumes.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import {
  type LogitDistillation,
  trainLogitDistilled,
} from '../compression/distill/logit-distillation.ts';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { type JpqShape, MAX_JPQ_CENTROIDS } from '../model/jpq-codes.ts';
import {
  defaultQrBuckets,
  isQrOperation,
  QR_OPERATIONS,
  type QrShape,
} from '../model/qr-partition.ts';
import { POSITION_SCHEMES, type PositionScheme, READOUTS, type Readout } from '../model/sasrec.ts';
import type { SequentialModel } from '../model/sequential.ts';
import { sequentialFromPackage, sequentialPackageSpec } from '../model/sequential-package.ts';
import { isSequentialKind } from '../model/sequential-structure.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import {
  DEFAULT_JPQ,
  DEFAULT_QR,
  DEFAULT_TRAIN,
  onQatGrid,
  type TrainConfig,
  trainSasrec,
} from '../train/train-sasrec.ts';
import { DEFAULT_LOGIT_KD } from './defaults.ts';
import { showEventLog } from './event-log-report.ts';
import {
  checkOutputFree,
  checkPackageFitsData,
  type EventLogCliOptions,
  numberOption,
  qatDtype,
  trainingWorkers,
  windowPolicy,
} from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { recordedOptions, withTrainingPrior } from './prior.ts';
import { type TrainingData, trainingData } from './training-data.ts';
import { trainingHistory, trainingHooks, trainingMetrics } from './training-hooks.ts';

export interface TrainCliOptions extends EventLogCliOptions {
  model: string;
  dataset: string;
  out: string;
  dataDir?: string;
  json?: boolean;
  epochs?: string;
  dim?: string;
  maxLen?: string;
  blocks?: string;
  heads?: string;
  dropout?: string;
  positions?: string;
  readout?: string;
  lr?: string;
  batch?: string;
  seed?: string;
  loss?: string;
  negatives?: string;
  patience?: string;
  force?: boolean;
  lrDecay?: string;
  users?: string;
  windows?: string;
  threads?: string;
  initFrom?: string;
  itemTable?: string;
  jpqSplits?: string;
  jpqCentroids?: string;
  qrBuckets?: string;
  qrOperation?: string;
  teacher?: string;
  kdAlpha?: string;
  kdTemperature?: string;
  qat?: string;
  /** false: --no-prior, no popularity prior in the package. */
  prior?: boolean;
}

/** The item tables `train` trains from scratch. */
export const TRAIN_ITEM_TABLES = ['dense', 'jpq', 'qr'] as const;
type TrainItemTable = (typeof TRAIN_ITEM_TABLES)[number];

/**
 * The options that shape each compressed table, by flag, with the table's name in words:
 * refused without their `--item-table`.
 */
const TABLE_OPTIONS = {
  jpq: {
    name: 'a RecJPQ table',
    flags: { jpqSplits: '--jpq-splits', jpqCentroids: '--jpq-centroids' },
  },
  qr: {
    name: 'a quotient-remainder table',
    flags: { qrBuckets: '--qr-buckets', qrOperation: '--qr-operation' },
  },
} as const satisfies Record<
  Exclude<TrainItemTable, 'dense'>,
  { name: string; flags: Partial<Record<keyof TrainCliOptions, string>> }
>;

function positionScheme(value: string): PositionScheme {
  if (!(POSITION_SCHEMES as readonly string[]).includes(value)) {
    throw new UsageError(
      `--positions must be one of ${POSITION_SCHEMES.join(', ')}, got "${value}"`,
    );
  }
  return value as PositionScheme;
}

function readout(value: string): Readout {
  if (!(READOUTS as readonly string[]).includes(value)) {
    throw new UsageError(`--readout must be one of ${READOUTS.join(', ')}, got "${value}"`);
  }
  return value as Readout;
}

/** The run's config from the options, for a data set of `numItems` items. */
export function trainConfigFrom(options: TrainCliOptions, numItems: number): TrainConfig {
  const d = DEFAULT_TRAIN;
  const loss = options.loss ?? d.loss;
  if (loss !== 'full' && loss !== 'sampled') {
    throw new UsageError(`--loss must be "full" or "sampled", got "${loss}"`);
  }
  const config: TrainConfig = {
    windows: windowPolicy(options.windows ?? d.windows),
    epochs: numberOption(options.epochs, 'epochs', d.epochs, { integer: true, min: 1 }),
    dim: numberOption(options.dim, 'dim', d.dim, { integer: true, min: 1 }),
    maxLen: numberOption(options.maxLen, 'max-len', d.maxLen, { integer: true, min: 1 }),
    blocks: numberOption(options.blocks, 'blocks', d.blocks, { integer: true, min: 0 }),
    heads: numberOption(options.heads, 'heads', d.heads, { integer: true, min: 1 }),
    dropout: numberOption(options.dropout, 'dropout', d.dropout, { min: 0, max: 0.95 }),
    positions: positionScheme(options.positions ?? d.positions),
    readout: readout(options.readout ?? d.readout),
    lr: numberOption(options.lr, 'lr', d.lr, { min: 1e-7, max: 1 }),
    batchSize: numberOption(options.batch, 'batch', d.batchSize, { integer: true, min: 1 }),
    seed: numberOption(options.seed, 'seed', d.seed, { integer: true, min: 0 }),
    loss,
    negatives: numberOption(options.negatives, 'negatives', d.negatives, { integer: true, min: 1 }),
    patience: numberOption(options.patience, 'patience', d.patience, { integer: true, min: 1 }),
    lrDecay: numberOption(options.lrDecay, 'lr-decay', d.lrDecay, { min: 0.01, max: 1 }),
  };
  if (config.dim % config.heads !== 0) {
    throw new UsageError(`--dim ${config.dim} is not divisible by --heads ${config.heads}`);
  }
  const itemTable = itemTableOption(options);
  const jpq = itemTable === 'jpq' ? jpqShapeFrom(options, config.dim) : undefined;
  const qr = itemTable === 'qr' ? qrShapeFrom(options, numItems) : undefined;
  const qat = qatDtype(options.qat);
  return { ...config, ...(jpq ? { jpq } : {}), ...(qr ? { qr } : {}), ...(qat ? { qat } : {}) };
}

/** `--item-table`, checked, and no compressed table's options given for another table. */
function itemTableOption(options: TrainCliOptions): TrainItemTable {
  const itemTable = options.itemTable ?? 'dense';
  if (!(TRAIN_ITEM_TABLES as readonly string[]).includes(itemTable)) {
    throw new UsageError(
      `--item-table must be one of ${TRAIN_ITEM_TABLES.join(', ')}, got "${itemTable}"`,
    );
  }
  for (const [table, { name, flags }] of Object.entries(TABLE_OPTIONS)) {
    if (table === itemTable) continue;
    for (const [key, flag] of Object.entries(flags)) {
      if (options[key as keyof TrainCliOptions] !== undefined) {
        throw new UsageError(`${flag} shapes ${name}: it needs --item-table ${table}`);
      }
    }
  }
  return itemTable as TrainItemTable;
}

/** `--item-table qr`'s table shape, its remainder rows resolved against the data's items. */
function qrShapeFrom(options: TrainCliOptions, numItems: number): QrShape {
  const numRows = numItems + 1;
  const given = options.qrBuckets ?? DEFAULT_QR.buckets;
  const buckets = given === 'sqrt' ? defaultQrBuckets(numRows) : Number(given);
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > numRows) {
    throw new UsageError(
      `--qr-buckets must be sqrt or an integer in 1..${numRows} (the ${numItems} items and the padding row), got "${given}"`,
    );
  }
  const operation = options.qrOperation ?? DEFAULT_QR.operation;
  if (!isQrOperation(operation)) {
    throw new UsageError(
      `--qr-operation must be one of ${QR_OPERATIONS.join(', ')}, got "${operation}"`,
    );
  }
  return { buckets, operation };
}

/** `--item-table jpq`'s table shape. */
function jpqShapeFrom(options: TrainCliOptions, dim: number): JpqShape {
  const d = DEFAULT_JPQ;
  const splits = numberOption(options.jpqSplits, 'jpq-splits', d.splits, {
    integer: true,
    min: 1,
  });
  const centroids = numberOption(options.jpqCentroids, 'jpq-centroids', d.centroids, {
    integer: true,
    min: 1,
    max: MAX_JPQ_CENTROIDS,
  });
  if (dim % splits !== 0) {
    throw new UsageError(`--jpq-splits ${splits} does not divide --dim ${dim}`);
  }
  return { splits, centroids };
}

export async function trainCommand(options: TrainCliOptions, output: Output): Promise<void> {
  checkOutputFree(options.out, options.force);
  const workers = trainingWorkers(options.threads);
  if (options.model !== 'sasrec') {
    throw new UsageError(`--model must be "sasrec" (the teacher), got "${options.model}"`);
  }
  if (!options.teacher && (options.kdAlpha !== undefined || options.kdTemperature !== undefined)) {
    throw new UsageError('--kd-alpha and --kd-temperature weigh the KL to a --teacher; give one');
  }
  if (options.initFrom && options.itemTable !== undefined && options.itemTable !== 'dense') {
    throw new UsageError(
      `--init-from starts from a dense package's table; --item-table ${options.itemTable} is trained from scratch`,
    );
  }
  const data = await trainingData(options.dataset, options);
  showEventLog(data, options, output);
  await useWasmBackend();
  const start = options.initFrom ? await startingPoint(options, data) : null;
  const config = trainConfigFrom({ ...options, ...start?.architecture }, data.numItems);
  const checkpointDir = `${options.out}.checkpoint`;

  const teacher = options.teacher ? await teacherOf(options, data, config) : null;
  const progress = trainingHooks(
    'train',
    { cases: data.validation, maskHistory: data.maskHistory, qat: config.qat },
    options,
    output,
  );
  const started = performance.now();
  const hooks = {
    checkpointDir,
    workers,
    validate: progress.validate,
    onBatch: progress.onBatch,
    onEpoch: progress.onEpoch,
  };
  const result = teacher
    ? await trainLogitDistilled(data.train, data.numItems, config, hooks, teacher.model, teacher.kd)
    : await trainSasrec(data.train, data.numItems, config, hooks, start?.model);
  progress.stop();
  const metrics = trainingMetrics(result.state);
  // A fine-tuned model's training time includes the run it started from.
  if (start) metrics.trainSeconds = (metrics.trainSeconds ?? 0) + start.trainSeconds;

  // What validation scored: under quantisation-aware training, the weights on their grid.
  const trained = config.qat ? onQatGrid(result.model, config.qat).model : result.model;
  const built = await buildModelPackage(
    withTrainingPrior(
      await sequentialPackageSpec(trained, {
        name: options.out.split('/').filter(Boolean).pop() ?? 'sasrec',
        dataset: data.dataset,
        ...(data.itemIds ? { itemIds: data.itemIds } : {}),
        metrics,
        notes: JSON.stringify({
          command: commandLine('train', [], recordedOptions(options)),
          ...(data.log ? { eventLog: data.log } : {}),
          ...(start ? { initFrom: start.record } : {}),
          ...(teacher ? { teacher: teacher.name, distilledByLogits: teacher.kd } : {}),
          config,
          sequences: data.train.length,
          history: trainingHistory(result.state),
        }),
      }),
      data,
      options,
    ),
  );
  await writePackageDirectory(options.out, built.files);
  await rm(checkpointDir, { recursive: true, force: true });
  const summary = {
    out: options.out,
    dataset: data.dataset,
    ...(data.log ? { eventLog: data.log } : {}),
    epochs: result.state.epoch,
    bestEpoch: result.state.bestEpoch,
    validationNdcg10: result.state.bestScore,
    trainSeconds: result.state.trainSeconds,
    wallSeconds: (performance.now() - started) / 1000,
    resumed: result.resumed,
    size: built.manifest.size,
    history: result.state.history,
  };
  tf.disposeVariables();
  if (options.json) printJson(output, summary);
  else
    output.out(
      `wrote ${options.out}: ${formatBytes(built.manifest.size.bytes)}, best validation NDCG@10 ` +
        `${result.state.bestScore.toFixed(4)} at epoch ${result.state.bestEpoch} of ${result.state.epoch} ` +
        `(${result.state.trainSeconds.toFixed(0)} s of training)`,
    );
}

/**
 * `--teacher`: a sequential package of the same data set and items, whose softmax the run
 * distils; its name goes in the notes as a distilled student's teacher does.
 */
async function teacherOf(
  options: TrainCliOptions,
  data: TrainingData,
  config: TrainConfig,
): Promise<{ model: SequentialModel; name: string; kd: LogitDistillation }> {
  if (options.initFrom) {
    throw new UsageError('--teacher trains a student from scratch; it does not take --init-from');
  }
  if (config.loss !== 'full') {
    throw new UsageError('--teacher needs --loss full: the KL is over every item');
  }
  const dir = options.teacher as string;
  const pkg = await readModelPackage(directorySource(dir));
  if (!isSequentialKind(pkg.manifest.kind)) {
    throw new UsageError(`--teacher must be a sequential package, ${dir} is ${pkg.manifest.kind}`);
  }
  checkPackageFitsData(`--teacher ${dir}`, pkg.manifest, data.dataset, data.numItems);
  const alpha = numberOption(options.kdAlpha, 'kd-alpha', DEFAULT_LOGIT_KD.alpha, {
    min: 0,
    max: 1,
  });
  const temperature = numberOption(
    options.kdTemperature,
    'kd-temperature',
    DEFAULT_LOGIT_KD.temperature,
    { min: 0.05, max: 100 },
  );
  return { model: sequentialFromPackage(pkg), name: pkg.manifest.name, kd: { alpha, temperature } };
}

/**
 * `--init-from`: a dense package trained on the same data set, whose weights the run starts
 * from. Its architecture is the run's: an architecture option that contradicts it is a
 * usage error rather than silently ignored.
 */
async function startingPoint(
  options: TrainCliOptions,
  data: TrainingData,
): Promise<{
  model: SequentialModel;
  architecture: Partial<TrainCliOptions>;
  trainSeconds: number;
  record: Record<string, unknown>;
}> {
  const dir = options.initFrom as string;
  const pkg = await readModelPackage(directorySource(dir));
  const { kind, training } = pkg.manifest;
  if (kind !== 'sequential-dense') {
    throw new UsageError(`--init-from must be a sequential-dense package, ${dir} is ${kind}`);
  }
  checkPackageFitsData(`--init-from ${dir}`, pkg.manifest, data.dataset, data.numItems);
  const model = sequentialFromPackage(pkg);
  const c = model.config;
  const architecture = {
    dim: String(c.dim),
    maxLen: String(c.maxLen),
    blocks: String(c.blocks),
    heads: String(c.heads),
    dropout: String(c.dropout),
    positions: c.positions,
    readout: c.readout,
  } satisfies Partial<TrainCliOptions>;
  const flags: Record<keyof typeof architecture, string> = {
    dim: '--dim',
    maxLen: '--max-len',
    blocks: '--blocks',
    heads: '--heads',
    dropout: '--dropout',
    positions: '--positions',
    readout: '--readout',
  };
  for (const [key, value] of Object.entries(architecture) as [
    keyof typeof architecture,
    string,
  ][]) {
    const given = options[key];
    if (given !== undefined && Number(given) !== Number(value) && given !== value) {
      throw new UsageError(
        `${flags[key]} ${given} contradicts --init-from ${dir}, which has ${value}`,
      );
    }
  }
  const trainSeconds = training.metrics.trainSeconds ?? 0;
  const record = { package: dir, trainSeconds, epochs: training.metrics.epochs ?? null };
  return { model, architecture, trainSeconds, record };
}
