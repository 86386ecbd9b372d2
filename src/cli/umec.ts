import { sliceModel } from '../compression/umec/export.ts';
import {
  type GroupLayer,
  groupLayers,
  groupScores,
  type UmecModel,
  umecModel,
} from '../compression/umec/groups.ts';
import { prunedCount } from '../compression/umec/minimax.ts';
import { groupLassoMethod, type SearchProgress, umecMethod } from '../compression/umec/search.ts';
import { type Selection, selectToBudget } from '../compression/umec/select.ts';
import { loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { auc, logLoss } from '../eval/ctr-metrics.ts';
import { ctrFlops } from '../model/ctr/flops.ts';
import { ctrArchitectureOf } from '../model/ctr/model.ts';
import { weightValues } from '../model/ctr/model-data.ts';
import { ctrPackageSpec } from '../model/ctr/package.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { buildModelPackage } from '../package/writer.ts';
import type { EpochRecord } from '../train/checkpoint.ts';
import { type CtrSplits, configOfModel, DEFAULT_CTR_TRAIN, trainCtr } from '../train/train-ctr.ts';
import { ctrModelOn, dataOnFields, readCtrPackage } from './ctr-package-data.ts';
import { DEFAULT_UMEC } from './defaults.ts';
import { checkOutputFree, numberOption, trainingWorkers } from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { progressBar } from './progress.ts';
import { VALIDATION_AUC } from './train-ctr.ts';
import { epochProgress, trainingHistory } from './training-hooks.ts';
import { isSequentialPackage, umecSequenceCommand } from './umec-sequence.ts';
import {
  type UmecCliOptions,
  type UmecRunSettings,
  umecRunSettings,
  writeCut,
} from './umec-settings.ts';

export const UMEC_METHODS = ['umec', 'magnitude', 'group-lasso'] as const;
export type UmecMethod = (typeof UMEC_METHODS)[number];

interface UmecSettings extends UmecRunSettings<UmecMethod> {
  groupLasso: number;
}

function settingsOf(options: UmecCliOptions): UmecSettings {
  if (options.kdAlpha !== undefined) {
    throw new UsageError('--kd-alpha applies to sequential packages only');
  }
  return {
    ...umecRunSettings(options, DEFAULT_UMEC, UMEC_METHODS, ''),
    groupLasso: numberOption(options.groupLasso, 'group-lasso', DEFAULT_UMEC.groupLasso, {
      min: 0,
      max: 1e6,
    }),
  };
}

/**
 * What the search shows: a bar with the step, FLOPs ratio, z and the groups kept per layer,
 * and after each epoch its loss and validation AUC with the same figures (none with --json).
 */
function searchDisplay(options: UmecCliOptions, output: Output) {
  const bar = progressBar('search', {
    enabled: !options.json,
    format: 'search [{bar}] step {value} | FLOPs {flops} | z {z} | kept {kept}',
  });
  let step = 0;
  let shown = { flops: '-', z: '-', kept: '-' };
  return {
    onStep: (p: SearchProgress) => {
      shown = {
        flops: Number.isFinite(p.flopsRatio) ? p.flopsRatio.toFixed(3) : '-',
        z: p.minimax ? p.minimax.z.toFixed(2) : '-',
        kept: p.kept.join('/'),
      };
      step++;
      bar.update(step, step, shown);
    },
    onEpoch: (record: EpochRecord) => {
      if (options.json) return;
      output.err(
        `search epoch ${record.epoch}: loss ${record.loss.toFixed(4)}, validation AUC ` +
          `${record.validation.toFixed(5)}, FLOPs ${shown.flops}, z ${shown.z}, kept ${shown.kept}, ` +
          `${record.seconds.toFixed(1)} s`,
      );
    },
    stop: () => bar.stop(),
  };
}

/** The search's weights and, for UMEC, the pruned counts per layer it ended with. */
async function search(
  model: UmecModel,
  data: CtrSplits,
  settings: UmecSettings,
  hooks: { out: string; workers: number; options: UmecCliOptions; output: Output },
): Promise<{ model: UmecModel; counts?: number[]; history: ReturnType<typeof trainingHistory> }> {
  if (settings.method === 'magnitude') return { model, history: [] };
  const layers = groupLayers(model);
  const display = searchDisplay(hooks.options, hooks.output);
  const umec =
    settings.method === 'umec'
      ? umecMethod(model, layers, settings.budget, settings.rates, display.onStep, settings.scores)
      : null;
  const method = umec
    ? umec.method
    : groupLassoMethod(model, layers, settings.groupLasso, settings.rates.proxLr, display.onStep);
  const config = configOfModel(model, {
    ...DEFAULT_CTR_TRAIN,
    lr: settings.lr,
    batchSize: settings.batch,
    epochs: settings.searchEpochs,
    patience: settings.searchEpochs + 1,
    lrDecay: 1,
    seed: DEFAULT_UMEC.seed,
  });
  const result = await trainCtr(
    data,
    config,
    { checkpointDir: `${hooks.out}.search`, workers: hooks.workers, onEpoch: display.onEpoch },
    { weights: weightValues(model.weights) },
    method,
  ).finally(display.stop);
  return {
    model: umecModel(result.model),
    ...(umec ? { counts: Array.from(umec.minimax().s, prunedCount) } : {}),
    history: trainingHistory(result.state),
  };
}

export async function umecCommand(
  model: string,
  options: UmecCliOptions,
  output: Output,
): Promise<void> {
  // A sequential package takes the sequence path (SASRec encoder blocks): umec-sequence.ts.
  if (await isSequentialPackage(model)) return umecSequenceCommand(model, options, output);
  checkOutputFree(options.out, options.force);
  const settings = settingsOf(options);
  const workers = trainingWorkers(options.threads);
  const pkg = await readCtrPackage(model, options.dataset, ['ctr-dense']);
  const loaded = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  const { ctr, data } = await ctrModelOn(model, pkg, loaded);
  const dense = umecModel(ctr);
  const started = performance.now();
  const searched = await search(dense, data, settings, {
    out: options.out,
    workers,
    options,
    output,
  });
  const layers = groupLayers(searched.model);
  const selection = selectToBudget(
    searched.model,
    groupScores(searched.model.weights, layers),
    settings.budget,
    searched.counts,
  );
  const sliced = sliceModel(searched.model, selection.kept);
  const slicedData = dataOnFields(options.out, sliced.schema, data);
  const tuned = await fineTune(sliced, slicedData, settings, {
    out: options.out,
    workers,
    options,
    output,
  });
  const final = tuned.model;
  const validation = await ctrProbabilities(final, slicedData.validation);
  const denseFlops = ctrFlops(ctrArchitectureOf(dense), dense.schema);
  const flops = ctrFlops(ctrArchitectureOf(final), final.schema);
  const removedFields = dense.schema.fields
    .filter((f) => !final.schema.fields.some((g) => g.name === f.name))
    .map((f) => f.name);
  const metrics = {
    'validation/AUC': auc(validation, slicedData.validation.labels),
    'validation/LogLoss': logLoss(validation, slicedData.validation.labels),
    flops,
    flopsRatio: flops / denseFlops,
    seconds: (performance.now() - started) / 1000,
  };
  const built = await buildModelPackage(
    ctrPackageSpec(final, {
      name: options.out.split('/').filter(Boolean).pop() ?? 'umec',
      dataset: options.dataset,
      metrics,
      unpruned: {
        denseEquivalent: {
          params: pkg.manifest.size.denseEquivalentParams,
          embeddingParams: pkg.manifest.size.denseEmbeddingBytes / 4,
        },
        flops: denseFlops,
      },
      notes: JSON.stringify({
        command: commandLine('umec', [model], options),
        prunedFrom: { package: model, version: pkg.manifest.manifestSha256 },
        umec: umecNotes(dense, settings, layers, selection, removedFields, searched.history),
        finetune: { epochs: settings.finetune, lr: settings.finetuneLr, history: tuned.history },
      }),
    }),
  );
  await writeCut(options.out, built.files);
  const summary = {
    out: options.out,
    model: dense.kind,
    method: settings.method,
    budget: settings.budget,
    flops,
    flopsRatio: metrics.flopsRatio,
    kept: Object.fromEntries(
      layers.map((l, i) => [l.name, `${selection.kept[i]?.length}/${l.groups}`]),
    ),
    removedFields,
    validationAuc: metrics['validation/AUC'],
    bytes: built.manifest.size.bytes,
    seconds: metrics.seconds,
  };
  printSummary(summary, settings.budget, options, output);
}

/** The smaller model fine-tuned on its own fields, best validation epoch kept; as is with 0 epochs. */
async function fineTune(
  sliced: UmecModel,
  data: CtrSplits,
  settings: UmecSettings,
  hooks: { out: string; workers: number; options: UmecCliOptions; output: Output },
): Promise<{ model: UmecModel; history: ReturnType<typeof trainingHistory> }> {
  if (settings.finetune === 0) return { model: sliced, history: [] };
  const progress = epochProgress('finetune', VALIDATION_AUC, hooks.options, hooks.output);
  const result = await trainCtr(
    data,
    configOfModel(sliced, {
      ...DEFAULT_CTR_TRAIN,
      lr: settings.finetuneLr,
      batchSize: settings.batch,
      epochs: settings.finetune,
      patience: DEFAULT_UMEC.finetunePatience,
      lrDecay: 1,
      seed: DEFAULT_UMEC.seed,
    }),
    {
      checkpointDir: `${hooks.out}.finetune`,
      workers: hooks.workers,
      onBatch: progress.onBatch,
      onEpoch: progress.onEpoch,
    },
    { weights: weightValues(sliced.weights) },
  ).finally(progress.stop);
  return { model: umecModel(result.model), history: trainingHistory(result.state) };
}

/** What the package's notes say of the cut: method, settings, groups kept, the search's epochs. */
function umecNotes(
  dense: UmecModel,
  settings: UmecSettings,
  layers: readonly GroupLayer[],
  selection: Selection,
  removedFields: string[],
  searchHistory: ReturnType<typeof trainingHistory>,
) {
  return {
    model: dense.kind,
    ...(dense.kind === 'dlrm' ? { interaction: dense.config.interaction } : {}),
    method: settings.method,
    budget: settings.budget,
    searchEpochs: settings.method === 'magnitude' ? 0 : settings.searchEpochs,
    lr: settings.lr,
    batch: settings.batch,
    rates: settings.rates,
    ...(settings.method === 'umec' ? { scores: settings.scores } : {}),
    ...(settings.method === 'group-lasso' ? { groupLasso: settings.groupLasso } : {}),
    groups: layers.map((l) => ({ layer: l.name, groups: l.groups })),
    kept: selection.kept.map((k) => k.length),
    repaired: selection.repaired,
    removedFields,
    searchHistory,
  };
}

interface UmecSummary {
  out: string;
  flopsRatio: number;
  kept: Record<string, string>;
  removedFields: string[];
  validationAuc: number;
  bytes: number;
}

function printSummary(
  summary: UmecSummary,
  budget: number,
  options: UmecCliOptions,
  output: Output,
): void {
  if (options.json) printJson(output, summary);
  else
    output.out(
      `wrote ${options.out}: FLOPs ${summary.flopsRatio.toFixed(3)} of dense (budget ${budget}), ` +
        `${formatBytes(summary.bytes)}, kept ${Object.values(summary.kept).join(', ')}` +
        `${summary.removedFields.length > 0 ? `, fields removed: ${summary.removedFields.join(', ')}` : ''}; ` +
        `validation AUC ${summary.validationAuc.toFixed(5)}`,
    );
}
