/**
 * `pocketrec prune <ctr package> --sparsity 0.5,0.8 --method shaver --shapley <dir> --out <dir>`:
 * single-shot pruning of a CTR model's embedding table to each budget, written as
 * `ctr-pruned` packages. The ranking is computed once; every budget is a prefix of it.
 * `--finetune <epochs>` then trains each pruned model further on its data set with the mask
 * frozen (pruned elements stay at their fill, every other weight learns), keeping the epoch
 * with the best validation AUC.
 *
 * A sequential-dense package's item table is pruned the same way into `sequential-pruned`
 * packages (bitmap or CSR). No fine-tuning there: the CTR trainer's frozen mask does not
 * carry over to the SASRec trainer, which has no mask to freeze.
 */
import * as tf from '@tensorflow/tfjs';
import { readShapleyEstimate } from '../compression/shaver/estimate-store.ts';
import {
  isPruneMethod,
  keptCount,
  maskFromRanking,
  methodFill,
  methodScores,
  PRUNE_METHODS,
  type PruneFill,
  type PruneMethod,
  prunedTable,
  ranking,
} from '../compression/shaver/prune.ts';
import type { ShapleyEstimate } from '../compression/shaver/values.ts';
import { loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { fieldLayout } from '../model/ctr/field-embedding.ts';
import type { CtrModel } from '../model/ctr/model.ts';
import { weightValues } from '../model/ctr/model-data.ts';
import { ctrFromPackage, UNPRUNED_FLOPS_KEY } from '../model/ctr/package.ts';
import {
  ctrPrunedPackageSpec,
  PRUNED_LAYOUTS,
  PRUNED_VALUE_DTYPES,
  type PrunedLayout,
} from '../model/ctr/pruned-package.ts';
import { DENSE_TABLE } from '../model/item-table.ts';
import { sequentialFromPackage, sequentialPackageSpec } from '../model/sequential-package.ts';
import { SEQUENTIAL_PRUNED_LAYOUTS, sequentialPrunedSpec } from '../model/sequential-pruned.ts';
import { weightsSha256 } from '../package/digest.ts';
import type { Manifest } from '../package/manifest.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import { configOfModel, DEFAULT_CTR_TRAIN, trainCtr } from '../train/train-ctr.ts';
import { dataOnFields } from './ctr-package-data.ts';
import { DEFAULT_PRUNE } from './defaults.ts';
import { checkOutputFree, numberOption, trainingWorkers } from './options.ts';
import { commandLine, formatBytes, type Output, printJson, table } from './output.ts';
import { VALIDATION_AUC } from './train-ctr.ts';
import { epochProgress, trainingHistory } from './training-hooks.ts';

export interface PruneCliOptions {
  sparsity: string;
  method: string;
  shapley?: string;
  out: string;
  layout?: string;
  dtype?: string;
  seed?: string;
  chunkElements?: string;
  prefixSparsity?: string;
  finetune?: string;
  finetuneLr?: string;
  threads?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
}

function sparsities(value: string): number[] {
  const list = value.split(',').map((s) => Number(s.trim()));
  if (value.trim() === '' || list.some((s) => !(s >= 0 && s < 1))) {
    throw new UsageError(`--sparsity must list fractions in [0, 1) like 0.5,0.8, got "${value}"`);
  }
  return list;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

/** The package each budget is written to: `--out` itself for one, `<out>-s<percent>` for several. */
export function prunedOut(out: string, sparsity: number, several: boolean): string {
  return several ? `${out}-s${Math.round(sparsity * 1000) / 10}` : out;
}

/** Shaver ranks by values estimated with its own fill: codebook for shaver, zero for shaver-zero. */
async function estimateFor(
  method: PruneMethod,
  dir: string | undefined,
): Promise<ShapleyEstimate | undefined> {
  if (method !== 'shaver' && method !== 'shaver-zero') return undefined;
  if (!dir)
    throw new UsageError(`--method ${method} needs --shapley <dir> (from pocketrec shapley)`);
  const estimate = await readShapleyEstimate(dir);
  const fill = method === 'shaver' ? 'codebook' : 'zero';
  if (estimate.fill !== fill) {
    throw new UsageError(
      `--method ${method} needs values estimated with --fill ${fill}; ${dir} was estimated with --fill ${estimate.fill}`,
    );
  }
  return estimate;
}

/** Values estimated on another model's weights would rank this one's elements at random. */
async function checkEstimateOf(
  model: string,
  manifest: Manifest,
  estimate: ShapleyEstimate,
  dir: string | undefined,
): Promise<void> {
  const source = estimate.source;
  if (!source) return;
  const same = source.weightsSha256
    ? source.weightsSha256 === (await weightsSha256(manifest))
    : source.packageSha256 === manifest.manifestSha256;
  if (!same) {
    throw new UsageError(
      `the estimate in ${dir} belongs to other weights (package ${source.packageSha256}), not ${model}'s`,
    );
  }
}

/** The command's options, checked (everything but the estimate and fine-tuning). */
function pruneSettings(options: PruneCliOptions) {
  const method = options.method ?? DEFAULT_PRUNE.method;
  if (!isPruneMethod(method)) {
    throw new UsageError(`--method must be one of ${PRUNE_METHODS.join(', ')}, got "${method}"`);
  }
  const budgets = sparsities(options.sparsity);
  const several = budgets.length > 1;
  for (const s of budgets) checkOutputFree(prunedOut(options.out, s, several), options.force);
  const layout = oneOf(
    options.layout ?? DEFAULT_PRUNE.layout,
    [...PRUNED_LAYOUTS, 'auto'],
    '--layout',
  );
  const prefixBudgets = options.prefixSparsity ? sparsities(options.prefixSparsity) : [];
  if (prefixBudgets.length > 0 && layout !== 'progressive') {
    throw new UsageError('--prefix-sparsity is for --layout progressive');
  }
  return {
    method,
    budgets,
    several,
    layout,
    prefixBudgets,
    dtype: oneOf(options.dtype ?? DEFAULT_PRUNE.dtype, PRUNED_VALUE_DTYPES, '--dtype'),
    seed: numberOption(options.seed, 'seed', DEFAULT_PRUNE.seed, { integer: true, min: 0 }),
    chunkElements: numberOption(
      options.chunkElements,
      'chunk-elements',
      DEFAULT_PRUNE.chunkElements,
      { integer: true, min: 1 },
    ),
  };
}

/** The dense CTR package to prune, its model and its table. */
async function densePackage(model: string, pkg: ModelPackage) {
  if (pkg.manifest.kind !== 'ctr-dense') {
    throw new UsageError(
      `prune takes a ctr-dense or sequential-dense package; ${model} is ${pkg.manifest.kind}`,
    );
  }
  await useWasmBackend();
  const ctr = ctrFromPackage(pkg);
  const tableTensor = ctr.weights.embedding;
  if (!tableTensor) throw new UsageError(`${model} has no embedding table`);
  return { pkg, ctr, table: (await tableTensor.data()) as Float32Array };
}

interface Written {
  out: string;
  sparsity: number;
  kept: number;
  finetuneValidationAuc?: number;
  bytes: number;
  denseBytes: number;
  layout: string;
}

export async function pruneCommand(
  model: string,
  options: PruneCliOptions,
  output: Output,
): Promise<void> {
  const settings = pruneSettings(options);
  const { method, budgets, layout, dtype, chunkElements } = settings;
  const estimate = await estimateFor(method, options.shapley);
  const source = await readModelPackage(directorySource(model));
  if (estimate) await checkEstimateOf(model, source.manifest, estimate, options.shapley);
  if (source.manifest.kind === 'sequential-dense') {
    const written = await pruneSequential(model, source, options, settings, estimate);
    report(output, options, { model, method, ...written });
    return;
  }
  const { pkg, ctr, table: denseTable } = await densePackage(model, source);
  const unprunedFlops = pkg.manifest.architecture[UNPRUNED_FLOPS_KEY];

  const rankStarted = performance.now();
  const order = ranking(
    methodScores(method, {
      table: denseTable,
      ...(estimate ? { estimate } : {}),
      seed: settings.seed,
    }),
  );
  const rankMs = performance.now() - rankStarted;
  const fill = methodFill(method, estimate);
  const written: Written[] = [];
  const finetune = await fineTuning(options, pkg.manifest.training.dataset, output);
  for (const sparsity of budgets) {
    const out = prunedOut(options.out, sparsity, settings.several);
    const kept = keptCount(denseTable.length, sparsity);
    const tuned = finetune && (await finetune(ctr, maskFromRanking(order, kept), fill, sparsity));
    const spec = await ctrPrunedPackageSpec(tuned?.model ?? ctr, { ranking: order, kept }, fill, {
      name: out.split('/').filter(Boolean).pop() ?? 'pruned',
      dataset: pkg.manifest.training.dataset,
      metrics: tuned?.metrics ?? {},
      notes: JSON.stringify({
        // As run: with several budgets it writes this package at <out>-s<percent>, and each
        // progressive one with chunks that end at the sparser budgets' kept counts.
        command: commandLine('prune', [model], options),
        prunedFrom: { package: model, version: pkg.manifest.manifestSha256 },
        ...estimateNotes(options, estimate),
        ...(tuned ? { finetune: tuned.notes } : {}),
      }),
      layout,
      dtype,
      method,
      chunkElements,
      // A progressive package serves the sparser budgets of the same run exactly.
      chunkBreaks: [...budgets, ...settings.prefixBudgets]
        .map((b) => keptCount(denseTable.length, b))
        .filter((k) => k < kept),
      // A cut-down model (pocketrec umec) keeps the FLOPs of the model it was cut from.
      ...(typeof unprunedFlops === 'number' ? { unpruned: { flops: unprunedFlops } } : {}),
    });
    const built = await buildModelPackage(spec);
    await writePackageDirectory(out, built.files);
    if (tuned) tf.dispose(Object.values(tuned.model.weights));
    written.push({
      out,
      sparsity,
      kept,
      ...(tuned ? { finetuneValidationAuc: tuned.metrics['validation/AUC'] } : {}),
      bytes: built.manifest.size.bytes,
      denseBytes: pkg.manifest.size.bytes,
      layout: String(built.manifest.architecture.layout),
    });
  }
  report(output, options, { model, method, rankMs, written });
}

/**
 * Row 0 pads: no prediction reads it, so whatever a method scores it, its elements are the
 * first to go.
 */
function withPaddingLast(scores: Float32Array, dim: number): Float32Array {
  scores.fill(Number.NEGATIVE_INFINITY, 0, dim);
  return scores;
}

/** The layout of a sequential-pruned package; the options only a CTR package has are refused. */
function sequentialLayout(
  layout: PrunedLayout | 'auto',
  options: PruneCliOptions,
): 'bitmap' | 'csr' | 'auto' {
  const known = layout === 'auto' ? 'auto' : SEQUENTIAL_PRUNED_LAYOUTS.find((l) => l === layout);
  if (known === undefined) {
    throw new UsageError(
      `--layout ${layout} is for CTR packages; a sequential-pruned package is ${SEQUENTIAL_PRUNED_LAYOUTS.join(' or ')}`,
    );
  }
  if (options.finetune !== undefined && Number(options.finetune) !== 0) {
    throw new UsageError(
      '--finetune is for CTR packages: the SASRec trainer has no frozen mask to keep pruned elements pruned',
    );
  }
  return known;
}

/** Where a package's ranking came from, for its notes. */
function estimateNotes(options: PruneCliOptions, estimate: ShapleyEstimate | undefined) {
  if (!estimate) return {};
  return {
    shapley: { dir: options.shapley, samples: estimate.samples, passes: estimate.passes },
  };
}

/** A sequential-dense package's item table pruned to each budget, as sequential-pruned packages. */
async function pruneSequential(
  model: string,
  pkg: ModelPackage,
  options: PruneCliOptions,
  settings: ReturnType<typeof pruneSettings>,
  estimate: ShapleyEstimate | undefined,
): Promise<{ rankMs: number; written: Written[] }> {
  const { method } = settings;
  const layout = sequentialLayout(settings.layout, options);
  await useWasmBackend();
  const sequence = sequentialFromPackage(pkg);
  const tableTensor = sequence.items.weights[DENSE_TABLE];
  if (!tableTensor) throw new UsageError(`${model} has no dense item table`);
  const table = (await tableTensor.data()) as Float32Array;
  const rankStarted = performance.now();
  const scores = methodScores(method, {
    table,
    ...(estimate ? { estimate } : {}),
    seed: settings.seed,
  });
  const order = ranking(withPaddingLast(scores, sequence.config.dim));
  const rankMs = performance.now() - rankStarted;
  const fill = methodFill(method, estimate);
  const written: Written[] = [];
  for (const sparsity of settings.budgets) {
    const out = prunedOut(options.out, sparsity, settings.several);
    const kept = keptCount(table.length, sparsity);
    const dense = await sequentialPackageSpec(sequence, {
      name: out.split('/').filter(Boolean).pop() ?? 'pruned',
      dataset: pkg.manifest.training.dataset,
      ...(pkg.itemIds ? { itemIds: pkg.itemIds } : {}),
      notes: JSON.stringify({
        command: commandLine('prune', [model], options),
        prunedFrom: { package: model, version: pkg.manifest.manifestSha256 },
        ...estimateNotes(options, estimate),
      }),
    });
    const spec = sequentialPrunedSpec(dense, maskFromRanking(order, kept), fill, {
      layout,
      dtype: settings.dtype,
      method,
    });
    const built = await buildModelPackage(spec);
    await writePackageDirectory(out, built.files);
    written.push({
      out,
      sparsity,
      kept,
      bytes: built.manifest.size.bytes,
      denseBytes: pkg.manifest.size.bytes,
      layout: String(built.manifest.architecture.layout),
    });
  }
  tf.dispose([...Object.values(sequence.encoder), tableTensor]);
  return { rankMs, written };
}

function report(
  output: Output,
  options: PruneCliOptions,
  r: { model: string; method: PruneMethod; rankMs: number; written: Written[] },
): void {
  if (options.json) {
    printJson(output, { model: r.model, method: r.method, rankMs: r.rankMs, packages: r.written });
    return;
  }
  output.out(
    table([
      ['model', r.model],
      ['method', `${r.method} (ranked in ${r.rankMs.toFixed(1)} ms)`],
      ...r.written.map(
        (w) =>
          [
            `sparsity ${w.sparsity}`,
            `${w.out}: ${w.kept.toLocaleString('en-US')} elements kept, ${formatBytes(w.bytes)} (${w.layout}), ${(w.denseBytes / w.bytes).toFixed(2)}x smaller than dense` +
              (w.finetuneValidationAuc === undefined
                ? ''
                : `; fine-tuned: validation AUC ${w.finetuneValidationAuc.toFixed(5)}`),
          ] as const,
      ),
    ]),
  );
}

/**
 * With --finetune, a function that fine-tunes the dense model pruned by `mask` on the
 * package's data set (loaded once) and returns the tuned model; without, null.
 */
async function fineTuning(options: PruneCliOptions, dataset: string, output: Output) {
  const d = DEFAULT_PRUNE;
  const epochs = numberOption(options.finetune, 'finetune', d.finetune, { integer: true, min: 0 });
  if (epochs === 0) return null;
  const lr = numberOption(options.finetuneLr, 'finetune-lr', d.finetuneLr, { min: 1e-7, max: 1 });
  const workers = trainingWorkers(options.threads);
  const loaded = await loadCtrFields(dataset, options.dataDir ? { dataDir: options.dataDir } : {});
  return async (dense: CtrModel, mask: Uint8Array, fill: PruneFill, sparsity: number) => {
    // A model cut down to fewer fields (pocketrec umec) trains on those fields alone.
    const data = dataOnFields(options.out, dense.schema, loaded);
    const fillTable = prunedTable(
      new Float32Array(mask.length),
      mask,
      fill,
      fieldLayout(dense.schema),
    );
    const settings = {
      ...DEFAULT_CTR_TRAIN,
      lr,
      epochs,
      patience: d.finetunePatience,
      batchSize: d.finetuneBatch,
      lrDecay: 1,
    };
    const progress = epochProgress(`finetune at ${sparsity}`, VALIDATION_AUC, options, output);
    const start = { weights: weightValues(dense.weights), frozen: { mask, fill: fillTable } };
    const result = await trainCtr(
      data,
      configOfModel(dense, settings),
      { workers, onBatch: progress.onBatch, onEpoch: progress.onEpoch },
      start,
    ).finally(progress.stop);
    const { state } = result;
    return {
      // Its pruned elements were never read; the package stores only the kept ones.
      model: result.model,
      metrics: {
        'validation/AUC': state.bestScore,
        epochs: state.epoch,
        bestEpoch: state.bestEpoch,
        trainSeconds: state.trainSeconds,
      },
      notes: { epochs, lr, batchSize: settings.batchSize, history: trainingHistory(state) },
    };
  };
}
