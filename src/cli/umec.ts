/**
 * `pocketrec umec <ctr package> --dataset <name> --flops-budget 0.5 --out <dir>`: one FLOPs
 * budget for a whole DeepFM or DLRM, its fields (with DLRM's 'dot' interaction, their dot
 * products too) and its hidden units pruned together (UMEC, Shen et al. ICLR 2021;
 * src/compression/umec/), or by the baselines at the same budget: magnitude (group norms of
 * the trained model) and Group Lasso (a search with group soft-thresholding). Every method
 * then keeps the groups selectToBudget picks, exports the smaller model (of the same kind),
 * fine-tunes it, and writes it as a ctr-dense package whose FLOPs and bytes are those of
 * what is left. The search and the fine-tuning checkpoint after every epoch (`<out>.search`,
 * `<out>.finetune`), so the same command resumes.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { sliceModel } from '../compression/umec/export.ts';
import {
  type GroupLayer,
  groupLayers,
  groupScores,
  type UmecModel,
  umecModel,
} from '../compression/umec/groups.ts';
import { DEFAULT_MINIMAX_RATES, prunedCount } from '../compression/umec/minimax.ts';
import {
  groupLassoMethod,
  SCORE_SCALES,
  type ScoreScale,
  type SearchProgress,
  umecMethod,
} from '../compression/umec/search.ts';
import { type Selection, selectToBudget } from '../compression/umec/select.ts';
import { loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { auc, logLoss } from '../eval/ctr-metrics.ts';
import { ctrFlops } from '../model/ctr/flops.ts';
import { ctrArchitectureOf } from '../model/ctr/model.ts';
import { weightValues } from '../model/ctr/model-data.ts';
import { ctrPackageSpec } from '../model/ctr/package.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { writePackageDirectory } from '../package/node-fs.ts';
import { buildModelPackage } from '../package/writer.ts';
import type { EpochRecord } from '../train/checkpoint.ts';
import { type CtrSplits, configOfModel, DEFAULT_CTR_TRAIN, trainCtr } from '../train/train-ctr.ts';
import { ctrModelOn, dataOnFields, readCtrPackage } from './ctr-package-data.ts';
import { checkOutputFree, numberOption, trainingWorkers } from './options.ts';
import { commandLine, formatBytes, type Output, printJson } from './output.ts';
import { progressBar } from './progress.ts';
import { VALIDATION_AUC } from './train-ctr.ts';
import { epochProgress, trainingHistory } from './training-hooks.ts';

export const UMEC_METHODS = ['umec', 'magnitude', 'group-lasso'] as const;
export type UmecMethod = (typeof UMEC_METHODS)[number];

export interface UmecCliOptions {
  dataset: string;
  flopsBudget: string;
  out: string;
  method?: string;
  searchEpochs?: string;
  lr?: string;
  batch?: string;
  sLr?: string;
  yLr?: string;
  zLr?: string;
  proxLr?: string;
  groupLasso?: string;
  scores?: string;
  finetune?: string;
  finetuneLr?: string;
  threads?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
}

/**
 * Defaults: the public code's rates for the minimax (rc_optimizer.py), Adam at training's
 * final rate for the search and a tenth of it for fine-tuning. The public code takes about
 * a million steps on Criteo at batch 128; a few epochs of frappe are a few hundred, so runs
 * here pass a larger --s-lr (docs/results/frappe-umec.md says which).
 */
export const DEFAULT_UMEC = {
  method: 'umec' as UmecMethod,
  searchEpochs: 3,
  lr: 1e-4,
  batch: 4096,
  ...DEFAULT_MINIMAX_RATES,
  /** Group Lasso's λ in λ Σ_g ||W_g||₂ (its proximal step is η λ, with --prox-lr's η). */
  groupLasso: 1e-2,
  /** UMEC: the group scores the s and dual steps read (search.ts ScoreScale). */
  scores: 'raw' as ScoreScale,
  finetune: 5,
  finetuneLr: 1e-4,
  finetunePatience: 1,
  seed: 2021,
};

interface UmecSettings {
  method: UmecMethod;
  budget: number;
  searchEpochs: number;
  lr: number;
  batch: number;
  rates: typeof DEFAULT_MINIMAX_RATES;
  groupLasso: number;
  scores: ScoreScale;
  finetune: number;
  finetuneLr: number;
}

function scoreScale(value: string): ScoreScale {
  const found = SCORE_SCALES.find((s) => s === value);
  if (!found)
    throw new UsageError(`--scores must be one of ${SCORE_SCALES.join(', ')}, got "${value}"`);
  return found;
}

function settingsOf(options: UmecCliOptions): UmecSettings {
  const d = DEFAULT_UMEC;
  const method = options.method ?? d.method;
  if (!(UMEC_METHODS as readonly string[]).includes(method)) {
    throw new UsageError(`--method must be one of ${UMEC_METHODS.join(', ')}, got "${method}"`);
  }
  const rate = (v: string | undefined, name: string, fallback: number) =>
    numberOption(v, name, fallback, { min: 0, max: 1e6 });
  return {
    method: method as UmecMethod,
    budget: numberOption(options.flopsBudget, 'flops-budget', 0.5, { min: 1e-4, max: 1 }),
    searchEpochs: numberOption(options.searchEpochs, 'search-epochs', d.searchEpochs, {
      integer: true,
      min: 1,
    }),
    lr: numberOption(options.lr, 'lr', d.lr, { min: 1e-7, max: 1 }),
    batch: numberOption(options.batch, 'batch', d.batch, { integer: true, min: 1 }),
    rates: {
      sLr: rate(options.sLr, 's-lr', d.sLr),
      yLr: rate(options.yLr, 'y-lr', d.yLr),
      zLr: rate(options.zLr, 'z-lr', d.zLr),
      proxLr: rate(options.proxLr, 'prox-lr', d.proxLr),
    },
    groupLasso: rate(options.groupLasso, 'group-lasso', d.groupLasso),
    scores: scoreScale(options.scores ?? d.scores),
    finetune: numberOption(options.finetune, 'finetune', d.finetune, { integer: true, min: 0 }),
    finetuneLr: numberOption(options.finetuneLr, 'finetune-lr', d.finetuneLr, {
      min: 1e-7,
      max: 1,
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
  await writePackageDirectory(options.out, built.files);
  await rm(`${options.out}.search`, { recursive: true, force: true });
  await rm(`${options.out}.finetune`, { recursive: true, force: true });
  tf.disposeVariables();
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
