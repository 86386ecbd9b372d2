/**
 * `pocketrec umec <sequential package> --dataset <next-item data set> --flops-budget 0.5
 * --out <dir>`: the sequence path of `pocketrec umec` (src/cli/umec.ts dispatches here on a
 * sequential-dense, sequential-tt or sequential-jpq package). UMEC (or the magnitude
 * baseline) narrows the SASRec encoder's blocks, the per-head query/key and value widths
 * and the feed-forward units (src/compression/umec/sequence-groups.ts), to one budget of
 * the *encoder's* FLOPs (sequential-flops.ts encoderFlops: the item look-ups and the
 * scoring against the table are what they were, and a tensor-train or RecJPQ table is
 * never touched). Then: selectToBudgetBy,
 * sliceEncoder, fine-tuning of the narrower model with the teacher's trainer (its init-from
 * path), the search and fine-tuning on the loss and windows the input was trained with
 * (trainedLoss), and a package of the input's kind with its inner widths, `unprunedFlops` (the
 * input's whole-request FLOPs, so `pocketrec info` reports the whole-model flopsRatio) and
 * notes with the command, the kept widths and the encoder ratio. Validation, in the search
 * and fine-tuning alike, is the trainer's: NDCG@10 on the validation cases. The search and
 * fine-tuning checkpoint after every epoch (`<out>.search`, `<out>.finetune`), so the same
 * command resumes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type LogitDistillation,
  trainLogitDistilled,
} from '../compression/distill/logit-distillation.ts';
import type { KeptGroups } from '../compression/umec/groups.ts';
import { prunedCount } from '../compression/umec/minimax.ts';
import type { SearchProgress } from '../compression/umec/search.ts';
import { type Selection, selectToBudgetBy } from '../compression/umec/select.ts';
import { sliceEncoder } from '../compression/umec/sequence-export.ts';
import {
  encoderFlopsRatio,
  type SequenceGroupLayer,
  sequenceGroupLayers,
  sequenceGroupScores,
} from '../compression/umec/sequence-groups.ts';
import { sequenceUmecMethod } from '../compression/umec/sequence-search.ts';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { UNPRUNED_FLOPS_KEY } from '../model/ctr/package.ts';
import { packageFlops, servedSequentialFlops } from '../model/package-flops.ts';
import type { SasrecConfig } from '../model/sasrec.ts';
import type { SequentialModel } from '../model/sequential.ts';
import {
  itemTableStructure,
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../model/sequential-package.ts';
import { SEQUENTIAL_PRUNED_KIND } from '../model/sequential-pruned.ts';
import { isSequentialKind } from '../model/sequential-structure.ts';
import { MANIFEST_FILE } from '../package/manifest.ts';
import { directorySource } from '../package/node-fs.ts';
import { notesRecord } from '../package/notes.ts';
import { readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../runtime/engine/engine.ts';
import { DEFAULT_TRAIN, type TrainConfig, trainSasrec } from '../train/train-sasrec.ts';
import { DEFAULT_UMEC_SEQUENCE } from './defaults.ts';
import { checkOutputFree, checkPackageFitsData, numberOption, trainingWorkers } from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { type TrainingData, trainingData } from './training-data.ts';
import { trainingHistory, trainingHooks } from './training-hooks.ts';
import {
  type UmecCliOptions,
  type UmecRunSettings,
  umecRunSettings,
  writeCut,
} from './umec-settings.ts';

/** The umec command's options, and --users for a quick run on the first n users. */
export type UmecSequenceOptions = UmecCliOptions;

export const UMEC_SEQUENCE_METHODS = ['umec', 'magnitude'] as const;
export type UmecSequenceMethod = (typeof UMEC_SEQUENCE_METHODS)[number];

type Settings = UmecRunSettings<UmecSequenceMethod>;
/** The shared settings, and fine-tuning distilled from the uncut model or not. */
type SequenceSettings = Settings & { kd: LogitDistillation | null };

/** Whether `dir` holds a sequential package (its manifest says so); false when unreadable. */
export async function isSequentialPackage(dir: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as {
      kind?: unknown;
    };
    return typeof manifest.kind === 'string' && isSequentialKind(manifest.kind);
  } catch {
    return false;
  }
}

function settingsOf(options: UmecSequenceOptions): SequenceSettings {
  if (options.groupLasso !== undefined) {
    throw new UsageError('--group-lasso applies to CTR packages only');
  }
  const alpha = numberOption(options.kdAlpha, 'kd-alpha', DEFAULT_UMEC_SEQUENCE.kdAlpha, {
    min: 0,
    max: 1,
  });
  return {
    ...umecRunSettings(
      options,
      DEFAULT_UMEC_SEQUENCE,
      UMEC_SEQUENCE_METHODS,
      ' for a sequential package',
    ),
    kd: alpha > 0 ? { alpha, temperature: DEFAULT_UMEC_SEQUENCE.kdTemperature } : null,
  };
}

/** How a package's model was trained, as far as the search and fine-tuning repeat it. */
type TrainedLoss = Pick<TrainConfig, 'loss' | 'negatives' | 'windows'>;

/**
 * The loss and windows a package was trained with, from its notes' config (train, distill and
 * this command all record one), so that the search and fine-tuning optimise what its training
 * did: a full-softmax model fine-tuned on 512 sampled negatives loses NDCG@10 it had. The
 * teacher trainer's defaults when the notes do not say.
 */
export function trainedLoss(notes: string | undefined): TrainedLoss {
  const recorded = notesRecord(notes).config;
  const config = (recorded && typeof recorded === 'object' ? recorded : {}) as Record<
    string,
    unknown
  >;
  const { loss, negatives, windows } = config;
  return {
    loss: loss === 'full' || loss === 'sampled' ? loss : DEFAULT_TRAIN.loss,
    negatives:
      typeof negatives === 'number' && Number.isInteger(negatives) && negatives > 0
        ? negatives
        : DEFAULT_TRAIN.negatives,
    windows: windows === 'all' || windows === 'latest' ? windows : DEFAULT_TRAIN.windows,
  };
}

/** The teacher trainer's config for a model of `c`'s architecture (its widths come from the start). */
function trainConfigOf(
  c: SasrecConfig,
  trained: TrainedLoss,
  run: { lr: number; batch: number; epochs: number; patience: number },
): TrainConfig {
  return {
    ...DEFAULT_TRAIN,
    ...trained,
    dim: c.dim,
    maxLen: c.maxLen,
    blocks: c.blocks,
    heads: c.heads,
    dropout: c.dropout,
    positions: c.positions,
    readout: c.readout,
    lr: run.lr,
    batchSize: run.batch,
    epochs: run.epochs,
    patience: run.patience,
    lrDecay: 1,
    seed: DEFAULT_UMEC_SEQUENCE.seed,
  };
}

interface RunHooks {
  out: string;
  trained: TrainedLoss;
  workers: number;
  data: TrainingData;
  options: UmecSequenceOptions;
  output: Output;
}

/** The search's model and, for UMEC, the pruned counts per layer it ended with. */
async function search(
  model: SequentialModel,
  layers: readonly SequenceGroupLayer[],
  settings: Settings,
  hooks: RunHooks,
): Promise<{ model: SequentialModel; counts?: number[]; history: unknown[] }> {
  if (settings.method === 'magnitude') return { model, history: [] };
  let last: SearchProgress | null = null;
  const umec = sequenceUmecMethod(
    model.config,
    layers,
    settings.budget,
    settings.rates,
    (p) => {
      last = p;
    },
    settings.scores,
  );
  const progress = trainingHooks(
    'search',
    { cases: hooks.data.validation, maskHistory: hooks.data.maskHistory },
    hooks.options,
    hooks.output,
  );
  const result = await trainSasrec(
    hooks.data.train,
    hooks.data.numItems,
    trainConfigOf(model.config, hooks.trained, {
      lr: settings.lr,
      batch: settings.batch,
      epochs: settings.searchEpochs,
      patience: settings.searchEpochs + 1,
    }),
    {
      checkpointDir: `${hooks.out}.search`,
      workers: hooks.workers,
      validate: progress.validate,
      onBatch: progress.onBatch,
      onEpoch: (record, state) => {
        progress.onEpoch(record, state);
        const p = last as SearchProgress | null;
        if (p && !hooks.options.json) {
          hooks.output.err(
            `  encoder FLOPs ${p.flopsRatio.toFixed(3)}, z ${p.minimax?.z.toFixed(2) ?? '-'}, kept ${p.kept.join('/')}`,
          );
        }
      },
    },
    model,
    umec.method,
  ).finally(progress.stop);
  return {
    model: result.model,
    counts: Array.from(umec.minimax().s, prunedCount),
    history: trainingHistory(result.state),
  };
}

/**
 * The narrower model fine-tuned, best validation epoch kept (distilled from `uncut` with
 * --kd-alpha); as is with 0 epochs.
 */
async function fineTune(
  sliced: SequentialModel,
  uncut: SequentialModel,
  settings: SequenceSettings,
  hooks: RunHooks,
): Promise<{ model: SequentialModel; history: unknown[]; validation: number }> {
  const progress = trainingHooks(
    'finetune',
    { cases: hooks.data.validation, maskHistory: hooks.data.maskHistory },
    hooks.options,
    hooks.output,
  );
  if (settings.finetune === 0) {
    return { model: sliced, history: [], validation: await progress.validate(sliced) };
  }
  const config = trainConfigOf(sliced.config, hooks.trained, {
    lr: settings.finetuneLr,
    batch: settings.batch,
    epochs: settings.finetune,
    patience: DEFAULT_UMEC_SEQUENCE.finetunePatience,
  });
  const trainingHooksOf = {
    checkpointDir: `${hooks.out}.finetune`,
    workers: hooks.workers,
    validate: progress.validate,
    onBatch: progress.onBatch,
    onEpoch: progress.onEpoch,
  };
  const { train, numItems } = hooks.data;
  const result = await (settings.kd
    ? trainLogitDistilled(train, numItems, config, trainingHooksOf, uncut, settings.kd, sliced)
    : trainSasrec(train, numItems, config, trainingHooksOf, sliced)
  ).finally(progress.stop);
  return {
    model: result.model,
    history: trainingHistory(result.state),
    validation: result.state.bestScore,
  };
}

/** What a package of `model` counts per request, as src/model/package-flops.ts counts it. */
function servedFlops(model: SequentialModel): number {
  return servedSequentialFlops(
    model.config,
    itemTableStructure(model.items),
    DEFAULT_ENGINE_OPTIONS,
  );
}

/** The package to cut, checked against the data and the settings, and what it was cut from. */
async function readSource(
  model: string,
  dataset: string,
  data: TrainingData,
  settings: SequenceSettings,
) {
  const pkg = await readModelPackage(directorySource(model));
  if (!isSequentialKind(pkg.manifest.kind)) {
    throw new UsageError(`${model} is a ${pkg.manifest.kind} package, not a sequential one`);
  }
  if (pkg.manifest.kind === SEQUENTIAL_PRUNED_KIND) {
    // Fine-tuning would move the pruned elements, and the cut package would store the table dense.
    throw new UsageError(
      `${model} is a sequential-pruned package: cut the dense model, then prune it`,
    );
  }
  checkPackageFitsData(model, pkg.manifest, dataset, data.numItems);
  const source = sequentialFromPackage(pkg);
  const recorded = pkg.manifest.architecture[UNPRUNED_FLOPS_KEY];
  // The input's own figure, or the figure of what it was cut from when it was cut already.
  const unprunedFlops =
    typeof recorded === 'number' && recorded > 0
      ? recorded
      : (packageFlops(pkg.manifest, DEFAULT_ENGINE_OPTIONS)?.flops ?? servedFlops(source));
  const trained = trainedLoss(pkg.manifest.training.notes);
  if (settings.kd && trained.loss !== 'full') {
    throw new UsageError(
      `--kd-alpha needs a package trained on the full softmax; ${model} was trained on sampled negatives`,
    );
  }
  return { manifest: pkg.manifest, source, unprunedFlops, trained };
}

export async function umecSequenceCommand(
  model: string,
  options: UmecSequenceOptions,
  output: Output,
): Promise<void> {
  checkOutputFree(options.out, options.force);
  const settings = settingsOf(options);
  const workers = trainingWorkers(options.threads);
  const data = await trainingData(options.dataset, options);
  await useWasmBackend();
  const { manifest, source, unprunedFlops, trained } = await readSource(
    model,
    data.dataset,
    data,
    settings,
  );
  const started = performance.now();
  const hooks: RunHooks = { out: options.out, trained, workers, data, options, output };
  const layers = sequenceGroupLayers(source.config);
  const searched = await search(source, layers, settings, hooks);
  const scores = sequenceGroupScores(searched.model.encoder, source.config, layers);
  const ratioOf = (kept: KeptGroups) => encoderFlopsRatio(source.config, layers, kept);
  const selection = selectToBudgetBy(ratioOf, scores, settings.budget, searched.counts);
  const sliced = sliceEncoder(searched.model, selection.kept);
  const tuned = await fineTune(sliced, source, settings, hooks);
  const final: SequentialModel = {
    ...tuned.model,
    ...(source.repeatBonus ? { repeatBonus: source.repeatBonus } : {}),
  };
  const flops = servedFlops(final);
  const metrics = {
    'validation/NDCG@10': tuned.validation,
    flops,
    flopsRatio: flops / unprunedFlops,
    encoderFlopsRatio: selection.flopsRatio,
    seconds: (performance.now() - started) / 1000,
  };
  const inner = final.config.inner ?? [];
  const built = await buildModelPackage(
    await sequentialPackageSpec(final, {
      name: options.out.split('/').filter(Boolean).pop() ?? 'umec',
      dataset: data.dataset,
      ...(data.itemIds ? { itemIds: data.itemIds } : {}),
      metrics,
      architecture: {
        ...(final.items.tt ? ttArchitecture(final.items.tt.shape) : {}),
        [UNPRUNED_FLOPS_KEY]: unprunedFlops,
      },
      notes: JSON.stringify({
        command: commandLine('umec', [model], options),
        prunedFrom: { package: model, version: manifest.manifestSha256 },
        // What the next search or fine-tuning of this package repeats (trainedLoss).
        config: trained,
        umec: umecNotes(settings, layers, selection, searched.history),
        inner,
        finetune: {
          epochs: settings.finetune,
          lr: settings.finetuneLr,
          ...(settings.kd ? { distilledFromUncut: settings.kd } : {}),
          history: tuned.history,
        },
      }),
    }),
  );
  await writeCut(options.out, built.files);
  printSummary(output, options, {
    out: options.out,
    kind: built.manifest.kind,
    method: settings.method,
    budget: settings.budget,
    encoderFlopsRatio: selection.flopsRatio,
    flops,
    flopsRatio: metrics.flopsRatio,
    kept: Object.fromEntries(
      layers.map((l, i) => [l.name, `${selection.kept[i]?.length}/${l.groups}`]),
    ),
    inner,
    validationNdcg10: tuned.validation,
    bytes: built.manifest.size.bytes,
    seconds: metrics.seconds,
  });
}

interface CutSummary {
  out: string;
  kind: string;
  method: UmecSequenceMethod;
  budget: number;
  encoderFlopsRatio: number;
  flops: number;
  flopsRatio: number;
  /** "kept/groups" per layer. */
  kept: Record<string, string>;
  inner: unknown[];
  validationNdcg10: number;
  bytes: number;
  seconds: number;
}

function printSummary(output: Output, options: UmecSequenceOptions, summary: CutSummary): void {
  if (options.json) {
    printJson(output, summary);
    return;
  }
  output.out(
    `wrote ${summary.out}: encoder FLOPs ${summary.encoderFlopsRatio.toFixed(3)} of the input's ` +
      `(budget ${summary.budget}; whole request ${summary.flopsRatio.toFixed(3)}), ` +
      `${formatBytes(summary.bytes)}, kept ${Object.values(summary.kept).join(', ')}; ` +
      `validation NDCG@10 ${summary.validationNdcg10.toFixed(4)}`,
  );
}

/** What the package's notes say of the cut: method, settings, groups kept, the encoder ratio. */
function umecNotes(
  settings: Settings,
  layers: readonly SequenceGroupLayer[],
  selection: Selection,
  searchHistory: unknown[],
) {
  return {
    method: settings.method,
    budget: settings.budget,
    /** Encoder FLOPs (sequential-flops.ts encoderFlops) kept over the input's. */
    encoderFlopsRatio: selection.flopsRatio,
    searchEpochs: settings.method === 'magnitude' ? 0 : settings.searchEpochs,
    lr: settings.lr,
    batch: settings.batch,
    rates: settings.rates,
    ...(settings.method === 'umec' ? { scores: settings.scores } : {}),
    groups: layers.map((l) => ({ layer: l.name, groups: l.groups })),
    kept: selection.kept.map((k) => k.length),
    repaired: selection.repaired,
    searchHistory,
  };
}
