/**
 * `pocketrec distill`: compresses a trained teacher package into a tensor-train student by
 * self-supervised knowledge distillation, on the data set the teacher was trained on.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_DISTILL,
  type DistillConfig,
  distillStudent,
} from '../compression/distill/distill.ts';
import { PocketrecError, UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../model/sequential-package.ts';
import {
  autoTtShape,
  parseTtShape,
  type TtShape,
  ttCoreShapes,
  ttPaddingProblem,
} from '../model/tt-matrix.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import { onQatGrid } from '../train/train-sasrec.ts';
import { showEventLog } from './event-log-report.ts';
import {
  checkOutputFree,
  type EventLogCliOptions,
  numberOption,
  qatDtype,
  trainingWorkers,
  windowPolicy,
} from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { withTrainingPrior } from './prior.ts';
import { trainingData } from './training-data.ts';
import { trainingHistory, trainingHooks, trainingMetrics } from './training-hooks.ts';

export interface DistillCliOptions extends EventLogCliOptions {
  teacher: string;
  /** The teacher's data set, as given on the command line; needed for an event log file. */
  dataset?: string;
  out: string;
  ttShape: string;
  cores: string;
  rank: string;
  stp: string;
  dataDir?: string;
  json?: boolean;
  epochs?: string;
  lr?: string;
  batch?: string;
  seed?: string;
  patience?: string;
  force?: boolean;
  lrDecay?: string;
  loss?: string;
  negatives?: string;
  alpha?: string;
  beta?: string;
  gamma?: string;
  temperature?: string;
  tau?: string;
  initEncoder?: string;
  initCores?: string;
  qat?: string;
  /** false: --no-prior, no popularity prior in the package. */
  prior?: boolean;
  kd: boolean;
  contrastive: boolean;
  predictive: boolean;
  users?: string;
  windows?: string;
  threads?: string;
}

function coreStart(value: string): 'teacher-fit' | 'gaussian' {
  if (value !== 'teacher-fit' && value !== 'gaussian') {
    throw new UsageError(`--init-cores must be "teacher-fit" or "gaussian", got "${value}"`);
  }
  return value;
}

export function ttShapeFrom(options: DistillCliOptions, numRows: number, dim: number): TtShape {
  const rank = numberOption(options.rank, 'rank', 0, { integer: true, min: 1 });
  const stp = numberOption(options.stp, 'stp', 1, { integer: true, min: 1 });
  const cores = () =>
    numberOption(options.cores, 'cores', 3, { integer: true, min: 2, max: 3 }) as 2 | 3;
  let shape: TtShape;
  try {
    shape =
      options.ttShape === 'auto'
        ? { ...autoTtShape(numRows, dim, cores()), rank, stp }
        : parseTtShape(options.ttShape, rank, stp);
    ttCoreShapes(shape); // throws a bad-tt-shape error naming what is wrong
  } catch (error) {
    // A shape the options ask for that cannot be built is a usage mistake (exit 2).
    if (error instanceof PocketrecError && error.code === 'bad-tt-shape') {
      throw new UsageError(
        `--tt-shape ${options.ttShape} --rank ${rank} --stp ${stp}: ${error.message}`,
      );
    }
    throw error;
  }
  // The same rule every reader applies: a package it would refuse is not worth training.
  const padding = ttPaddingProblem(shape.rows, numRows);
  if (padding) throw new UsageError(`--tt-shape: ${padding}`);
  if (shape.cols.reduce((a, b) => a * b, 1) !== dim) {
    throw new UsageError(
      `--tt-shape columns ${shape.cols.join('x')} must multiply to the teacher's dim ${dim}`,
    );
  }
  return shape;
}

function distillConfigFrom(options: DistillCliOptions, shape: TtShape): DistillConfig {
  const d = DEFAULT_DISTILL;
  const loss = options.loss ?? d.loss;
  if (loss !== 'full' && loss !== 'sampled')
    throw new UsageError(`--loss must be "full" or "sampled", got "${loss}"`);
  const initEncoder = options.initEncoder ?? d.initEncoder;
  if (initEncoder !== 'teacher' && initEncoder !== 'random') {
    throw new UsageError(`--init-encoder must be "teacher" or "random", got "${initEncoder}"`);
  }
  const weight = (v: string | undefined, name: string, fallback: number, on: boolean) =>
    on ? numberOption(v, name, fallback, { min: 0 }) : 0;
  const qat = qatDtype(options.qat);
  return {
    shape,
    epochs: numberOption(options.epochs, 'epochs', d.epochs, { integer: true, min: 1 }),
    lr: numberOption(options.lr, 'lr', d.lr, { min: 1e-7, max: 1 }),
    batchSize: numberOption(options.batch, 'batch', d.batchSize, { integer: true, min: 1 }),
    seed: numberOption(options.seed, 'seed', d.seed, { integer: true, min: 0 }),
    patience: numberOption(options.patience, 'patience', d.patience, { integer: true, min: 1 }),
    lrDecay: numberOption(options.lrDecay, 'lr-decay', d.lrDecay, { min: 0.01, max: 1 }),
    loss,
    negatives: numberOption(options.negatives, 'negatives', d.negatives, { integer: true, min: 1 }),
    alpha: options.kd ? numberOption(options.alpha, 'alpha', d.alpha, { min: 0, max: 1 }) : 0,
    beta: weight(options.beta, 'beta', d.beta, options.contrastive),
    gamma: weight(options.gamma, 'gamma', d.gamma, options.predictive),
    temperature: numberOption(options.temperature, 'temperature', d.temperature, { min: 0.01 }),
    tau: numberOption(options.tau, 'tau', d.tau, { min: 0.01 }),
    hotFraction: d.hotFraction,
    initEncoder,
    windows: windowPolicy(options.windows ?? d.windows),
    initCores: coreStart(options.initCores ?? d.initCores),
    ...(qat ? { qat } : {}),
  };
}

export async function distillCommand(options: DistillCliOptions, output: Output): Promise<void> {
  checkOutputFree(options.out, options.force);
  const workers = trainingWorkers(options.threads);
  const teacherPackage = await readModelPackage(directorySource(options.teacher));
  if (teacherPackage.manifest.kind !== 'sequential-dense') {
    throw new UsageError(
      `--teacher must be a sequential-dense package, ${options.teacher} is ${teacherPackage.manifest.kind}`,
    );
  }
  const dataset = teacherPackage.manifest.training.dataset;
  await useWasmBackend();
  const teacher = sequentialFromPackage(teacherPackage);
  const shape = ttShapeFrom(options, teacher.config.numItems + 1, teacher.config.dim);
  const config = distillConfigFrom(options, shape);
  // A log file is named by its path, which the teacher's package does not keep.
  const data = await trainingData(options.dataset ?? dataset, options);
  if (data.dataset !== dataset) {
    throw new UsageError(
      `--teacher ${options.teacher} was trained on ${dataset}, not ${data.dataset}`,
    );
  }
  showEventLog(data, options, output);
  if (data.numItems !== teacher.config.numItems) {
    throw new UsageError(
      `the teacher knows ${teacher.config.numItems} items; ${dataset} has ${data.numItems}`,
    );
  }
  const checkpointDir = `${options.out}.checkpoint`;
  const progress = trainingHooks(
    'distill',
    { cases: data.validation, maskHistory: data.maskHistory, qat: config.qat },
    options,
    output,
  );
  const result = await distillStudent(teacher, data.train, config, {
    checkpointDir,
    workers,
    validate: progress.validate,
    onBatch: progress.onBatch,
    onEpoch: progress.onEpoch,
  });
  progress.stop();
  // What validation scored: under quantisation-aware training, the weights on their grid.
  const trained = config.qat ? onQatGrid(result.model, config.qat).model : result.model;
  const built = await buildModelPackage(
    withTrainingPrior(
      await sequentialPackageSpec(trained, {
        name: options.out.split('/').filter(Boolean).pop() ?? 'tt-student',
        dataset,
        itemIds: teacherPackage.itemIds ?? undefined,
        architecture: ttArchitecture(shape),
        metrics: trainingMetrics(result.state),
        notes: JSON.stringify({
          command: commandLine(
            'distill',
            [],
            options,
            ['json', 'dataDir', 'force', 'kd', 'contrastive', 'predictive', 'prior'].filter(
              (k) => options[k as keyof DistillCliOptions] !== false,
            ),
          ),
          teacher: teacherPackage.manifest.name,
          config,
          coreFitError: result.coreFitError,
          history: trainingHistory(result.state),
        }),
      }),
      data,
      options,
    ),
  );
  await writePackageDirectory(options.out, built.files);
  await rm(checkpointDir, { recursive: true, force: true });
  tf.disposeVariables();
  const summary = {
    out: options.out,
    teacher: options.teacher,
    dataset,
    shape,
    epochs: result.state.epoch,
    bestEpoch: result.state.bestEpoch,
    validationNdcg10: result.state.bestScore,
    coreFitError: result.coreFitError,
    trainSeconds: result.state.trainSeconds,
    resumed: result.resumed,
    size: built.manifest.size,
    history: result.state.history,
  };
  if (options.json) printJson(output, summary);
  else
    output.out(
      `wrote ${options.out}: ${formatBytes(built.manifest.size.bytes)}, embedding ${built.manifest.size.embeddingCompression.toFixed(1)}x ` +
        `smaller, best validation NDCG@10 ${result.state.bestScore.toFixed(4)} at epoch ${result.state.bestEpoch}` +
        (result.coreFitError === null
          ? ''
          : ` (cores started at a fit of the teacher's table with relative error ${result.coreFitError.toFixed(3)})`),
    );
}
