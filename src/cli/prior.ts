/**
 * `pocketrec prior [package] --out <dir>`: the popularity prior of a data set's training
 * split (how often each item occurs in what `train` fits on: aggregate counts, no one's
 * sequence), written into a copy of a next-item package, so that an empty history gets the
 * most popular items (src/model/popularity.ts), or, without a package, as a
 * `sequential-popularity` package of its own: the popularity baseline as a model that
 * `eval`, `report` and the browser runtime take like any other.
 *
 * A package keeps every tensor, its name, metrics and creation time; a prior it already
 * carries is replaced. `--out` may be the package itself, which is then replaced whole
 * (as `repack` does), never another package unless `--force`.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';
import { itemCounts } from '../eval/hot-items.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import {
  POPULARITY_KIND,
  popularityPackageSpec,
  withPopularityPrior,
} from '../model/popularity.ts';
import { isSequentialKind } from '../model/sequential-structure.ts';
import { MANIFEST_FILE } from '../package/manifest.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import { repackageSpec } from '../package/repackage.ts';
import { type BuiltPackage, buildModelPackage, type PackageSpec } from '../package/writer.ts';
import type { EventLogCliOptions } from './options.ts';
import { checkOutputWritable, checkPackageFitsData } from './options.ts';
import { commandLine, type Output, printJson } from './output.ts';
import { type TrainingData, trainingData } from './training-data.ts';

export interface PriorCliOptions extends EventLogCliOptions {
  /** Default with a package: the data set it was trained on. */
  dataset?: string;
  out: string;
  users?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
}

/**
 * What `train` and `distill` write: `spec` with the prior of the split they trained on,
 * unless `--no-prior` (options.prior false) leaves it out.
 */
export function withTrainingPrior(
  spec: PackageSpec,
  data: Pick<TrainingData, 'train' | 'numItems'>,
  options: { prior?: boolean },
): PackageSpec {
  if (options.prior === false) return spec;
  return withPopularityPrior(spec, itemCounts(data.train, data.numItems));
}

/**
 * The options as a command line records them: `--no-prior` sets `prior: false`, and its
 * default (true) is no flag at all.
 */
export function recordedOptions<T extends { prior?: boolean }>(options: T): Omit<T, 'prior'> | T {
  if (options.prior === false) return options;
  const { prior: _default, ...rest } = options;
  return rest;
}

/** What `prior` wrote, as `--json` prints it. */
interface PriorSummary {
  out: string;
  kind: string;
  dataset: string;
  items: number;
  /** Items that occur in the training split at all. */
  seenItems: number;
  maxCount: number;
  /** Every file of the package given (0 without one), manifest included, and of the one written. */
  bytesBefore: number;
  bytesAfter: number;
}

export async function priorCommand(
  model: string | undefined,
  options: PriorCliOptions,
  output: Output,
): Promise<void> {
  const source = model === undefined ? null : await readSource(model);
  checkOutputWritable(options.out, {
    ...(model === undefined ? {} : { source: model }),
    force: options.force,
  });
  const dataset = options.dataset ?? source?.pkg.manifest.training.dataset;
  if (dataset === undefined) {
    throw new UsageError('--dataset is required without a package: whose training split to count');
  }
  const data = await trainingData(dataset, options);
  const counts = itemCounts(data.train, data.numItems);
  const provenance = {
    command: commandLine('prior', model === undefined ? [] : [model], options),
    sequences: data.train.length,
  };
  const built = source
    ? await withPrior(source, data, counts, provenance)
    : await buildModelPackage(
        popularityPackageSpec(counts, {
          name: options.out.split('/').filter(Boolean).pop() ?? 'popularity',
          dataset: data.dataset,
          ...(data.itemIds ? { itemIds: data.itemIds } : {}),
          notes: JSON.stringify(provenance),
        }),
      );
  await writePackageDirectory(options.out, built.files);
  const summary: PriorSummary = {
    out: options.out,
    kind: built.manifest.kind,
    dataset: data.dataset,
    items: data.numItems,
    seenItems: counts.filter((c, i) => i > 0 && c > 0).length,
    maxCount: counts.reduce((a, b) => Math.max(a, b), 0),
    bytesBefore: source?.bytes ?? 0,
    bytesAfter: [...built.files.values()].reduce((n, b) => n + b.byteLength, 0),
  };
  if (options.json) printJson(output, summary);
  else output.out(summaryText(model, summary));
}

/** What was written, in one line. */
function summaryText(model: string | undefined, s: PriorSummary): string {
  // The bytes before include a manifest that may have been indented, so the difference is
  // not the prior's alone: both are shown, not their difference.
  const what =
    model === undefined
      ? `a ${POPULARITY_KIND} package of ${s.bytesAfter.toLocaleString('en-US')} bytes`
      : `${model} with a popularity prior, ${s.bytesAfter.toLocaleString('en-US')} bytes (was ${s.bytesBefore.toLocaleString('en-US')})`;
  return `wrote ${s.out}: ${what}; ${s.seenItems} of ${s.items} items occur in the training split of ${s.dataset}, the most ${s.maxCount} times`;
}

/** A package given on the command line, verified, and what its directory weighs. */
interface SourcePackage {
  dir: string;
  pkg: ModelPackage;
  /** Every file, manifest included: what a download costs. */
  bytes: number;
}

async function readSource(dir: string): Promise<SourcePackage> {
  const pkg = await readModelPackage(directorySource(dir));
  await verifyModelStructure(pkg);
  const paths = [MANIFEST_FILE, ...pkg.manifest.files.map((f) => f.path)];
  const sizes = await Promise.all(paths.map(async (path) => (await stat(join(dir, path))).size));
  return { dir, pkg, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** The package again with the prior of `counts`, its provenance added to JSON notes. */
async function withPrior(
  { dir: model, pkg }: SourcePackage,
  data: TrainingData,
  counts: Int32Array,
  provenance: Record<string, unknown>,
): Promise<BuiltPackage> {
  const { manifest } = pkg;
  if (!isSequentialKind(manifest.kind)) {
    throw new UsageError(
      `${model} is a ${manifest.kind} package: a prior goes into a SASRec package (a Markov package's popularity is its prior; write a new ${POPULARITY_KIND} package without a package argument)`,
    );
  }
  checkPackageFitsData(model, manifest, data.dataset, data.numItems);
  if (pkg.itemIds && data.itemIds && pkg.itemIds.some((id, i) => id !== data.itemIds?.[i])) {
    throw new UsageError(`${model} numbers its items differently from ${data.dataset}`);
  }
  const spec = repackageSpec(pkg, {
    name: manifest.name,
    notes: notesWith(manifest.training.notes, provenance),
    metrics: manifest.training.metrics,
  });
  return buildModelPackage({
    ...withPopularityPrior(spec, counts),
    createdAt: new Date(manifest.createdAt),
  });
}

/** JSON notes with `prior` set; notes that are not a JSON object are kept as they are. */
function notesWith(notes: string | undefined, prior: Record<string, unknown>): string | undefined {
  if (notes === undefined) return JSON.stringify({ prior });
  try {
    const parsed: unknown = JSON.parse(notes);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return JSON.stringify({ ...parsed, prior });
    }
  } catch {
    // Free text: left alone.
  }
  return notes;
}
