/**
 * `pocketrec prune <ctr package> --sparsity 0.5,0.8 --method shaver --shapley <dir> --out <dir>`:
 * single-shot pruning of a CTR model's embedding table to each budget, written as
 * `ctr-pruned` packages. The ranking is computed once; every budget is a prefix of it.
 */
import { readShapleyEstimate } from '../compression/shaver/estimate-store.ts';
import {
  isPruneMethod,
  keptCount,
  methodFill,
  methodScores,
  PRUNE_METHODS,
  type PruneMethod,
  ranking,
} from '../compression/shaver/prune.ts';
import type { ShapleyEstimate } from '../compression/shaver/values.ts';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { ctrFromPackage } from '../model/ctr/package.ts';
import {
  ctrPrunedPackageSpec,
  PRUNED_LAYOUTS,
  PRUNED_VALUE_DTYPES,
  type PrunedLayout,
  type PrunedValueDtype,
} from '../model/ctr/pruned-package.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import { checkOutputFree, numberOption } from './options.ts';
import { commandLine, formatBytes, type Output, printJson, table } from './output.ts';

export interface PruneCliOptions {
  sparsity: string;
  method: string;
  shapley?: string;
  out: string;
  layout?: string;
  dtype?: string;
  seed?: string;
  force?: boolean;
  json?: boolean;
}

export const DEFAULT_PRUNE = {
  method: 'shaver' satisfies PruneMethod,
  layout: 'auto' as PrunedLayout | 'auto',
  dtype: 'float32' as PrunedValueDtype,
  seed: 2025,
};

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

export async function pruneCommand(
  model: string,
  options: PruneCliOptions,
  output: Output,
): Promise<void> {
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
  const dtype = oneOf(options.dtype ?? DEFAULT_PRUNE.dtype, PRUNED_VALUE_DTYPES, '--dtype');
  const seed = numberOption(options.seed, 'seed', DEFAULT_PRUNE.seed, { integer: true, min: 0 });
  const estimate = await estimateFor(method, options.shapley);

  const pkg = await readModelPackage(directorySource(model));
  if (pkg.manifest.kind !== 'ctr-dense') {
    throw new UsageError(`prune takes a ctr-dense package; ${model} is ${pkg.manifest.kind}`);
  }
  await useWasmBackend();
  const ctr = ctrFromPackage(pkg);
  const tableTensor = ctr.weights.embedding;
  if (!tableTensor) throw new UsageError(`${model} has no embedding table`);
  const denseTable = (await tableTensor.data()) as Float32Array;

  const rankStarted = performance.now();
  const order = ranking(
    methodScores(method, { table: denseTable, ...(estimate ? { estimate } : {}), seed }),
  );
  const rankMs = performance.now() - rankStarted;
  const fill = methodFill(method, estimate);
  const written = [];
  for (const sparsity of budgets) {
    const out = prunedOut(options.out, sparsity, several);
    const kept = keptCount(denseTable.length, sparsity);
    const spec = await ctrPrunedPackageSpec(ctr, { ranking: order, kept }, fill, {
      name: out.split('/').filter(Boolean).pop() ?? 'pruned',
      dataset: pkg.manifest.training.dataset,
      metrics: {},
      notes: JSON.stringify({
        command: commandLine('prune', [model], { ...options, sparsity: String(sparsity) }),
        prunedFrom: { package: model, version: pkg.manifest.manifestSha256 },
        ...(estimate
          ? {
              shapley: { dir: options.shapley, samples: estimate.samples, passes: estimate.passes },
            }
          : {}),
      }),
      layout,
      dtype,
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
  if (options.json) {
    printJson(output, { model, method, rankMs, packages: written });
    return;
  }
  output.out(
    table([
      ['model', model],
      ['method', `${method} (ranked in ${rankMs.toFixed(1)} ms)`],
      ...written.map(
        (w) =>
          [
            `sparsity ${w.sparsity}`,
            `${w.out}: ${w.kept.toLocaleString('en-US')} elements kept, ${formatBytes(w.bytes)} (${w.layout}), ${(w.denseBytes / w.bytes).toFixed(2)}x smaller than dense`,
          ] as const,
      ),
    ]),
  );
}
