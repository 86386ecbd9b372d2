/**
 * The popularity prior: how often each item occurs in the training split, carried by a
 * next-item package so that a shopper with no history yet is shown the most popular items
 * (reason 'popular') instead of nothing. It holds aggregate counts of the training data,
 * never a sequence, and the runtime reads it without any user data.
 *
 * Stored as one byte per row, `prior.popularity` uint8 [numItems + 1]: the log-count on 255
 * levels, level = round(255 · ln(1 + c) / ln(1 + max c)), at least 5 for an item seen at all
 * (counts are safe integers), 0 for an item never seen and for the padding row 0;
 * `architecture.priorMaxCount` is max c, so level l decodes to ln(1 + c) ≈ l / 255 ·
 * ln(1 + max c). One byte a row (ML-1M: 3,417
 * bytes) rather than two for uint16 counts (which would also overflow past 65,535) or four
 * for float32; on a log scale the 255 levels keep counts apart that differ by more than
 * ln(1 + max c) / 255 (3.2% for ML-1M), which is what ranking the head of the catalogue needs.
 *
 * A `sequential-popularity` package is the prior alone: a model that recommends the most
 * popular items whatever the history, which `pocketrec eval` ranks like any other and the
 * browser runtime runs. A Markov package needs no separate prior: its `popularity` tensor,
 * the same counts in float32, is one (markov.ts).
 */
import { PocketrecError } from '../errors.ts';
import { ModelPackageError } from '../package/errors.ts';
import type { Manifest, TensorEntry } from '../package/manifest.ts';
import type { ModelPackage } from '../package/reader.ts';
import type { PackageSpec, TensorSpec } from '../package/writer.ts';

export const PRIOR_TENSOR = 'prior.popularity';
/** The architecture key of the largest count, which the top level stands for. */
export const PRIOR_MAX_COUNT = 'priorMaxCount';
export const POPULARITY_KIND = 'sequential-popularity';
/** The level of the most frequent item; a uint8 holds it. */
export const PRIOR_LEVELS = 255;

/** What a recommendation rests on: the model's answer to the history, or the prior's. */
export type RecommendationReason = 'model' | 'popular';

export interface PopularityPrior {
  /**
   * ln(1 + training count) of each row (as the package stores it: quantised for a prior
   * tensor); -Infinity for row 0 and for items never seen, which are never recommended as
   * popular.
   */
  scores: Float32Array;
}

/** A prior from exact counts (index 0 unused): a Markov model's popularity, say. */
export function priorFromCounts(counts: ArrayLike<number>): PopularityPrior {
  const scores = new Float32Array(counts.length).fill(Number.NEGATIVE_INFINITY);
  for (let i = 1; i < counts.length; i++) {
    const c = counts[i] as number;
    if (c > 0) scores[i] = Math.log1p(c);
  }
  return { scores };
}

/** Counts (index 0 unused) as the stored levels and the largest count. */
export function encodePriorLevels(counts: ArrayLike<number>): {
  levels: Uint8Array;
  maxCount: number;
} {
  let maxCount = 0;
  for (let i = 1; i < counts.length; i++) {
    const c = counts[i] as number;
    if (!(Number.isSafeInteger(c) && c >= 0)) {
      throw new PocketrecError(
        'bad-prior',
        `item ${i} has count ${c}; counts are whole numbers >= 0`,
      );
    }
    maxCount = Math.max(maxCount, c);
  }
  if (maxCount === 0) {
    throw new PocketrecError('bad-prior', 'no item occurs in the counts: there is nothing popular');
  }
  const top = Math.log1p(maxCount);
  const levels = new Uint8Array(counts.length);
  for (let i = 1; i < counts.length; i++) {
    const c = counts[i] as number;
    // Counts are safe integers, so one occurrence is at least 255 · ln 2 / ln 2^53 ≈ 4.8:
    // never level 0, which an item never seen has.
    if (c > 0) levels[i] = Math.round((PRIOR_LEVELS * Math.log1p(c)) / top);
  }
  return { levels, maxCount };
}

/**
 * `spec` with the prior of `counts` (index 0 unused, one per row): the tensor, its
 * architecture key, and its float32 counts in the dense equivalent. A prior already in the
 * spec is replaced.
 */
export function withPopularityPrior(spec: PackageSpec, counts: ArrayLike<number>): PackageSpec {
  const rows = spec.items.count + 1;
  if (counts.length !== rows) {
    throw new PocketrecError(
      'bad-prior',
      `${counts.length} counts for ${spec.items.count} items (and the padding row)`,
    );
  }
  const { levels, maxCount } = encodePriorLevels(counts);
  const had = spec.tensors.some((t) => t.name === PRIOR_TENSOR);
  const tensor: TensorSpec = { name: PRIOR_TENSOR, dtype: 'uint8', shape: [rows], data: levels };
  return {
    ...spec,
    architecture: { ...spec.architecture, [PRIOR_MAX_COUNT]: maxCount },
    denseEquivalent: {
      ...spec.denseEquivalent,
      params: spec.denseEquivalent.params + (had ? 0 : rows),
    },
    tensors: [...spec.tensors.filter((t) => t.name !== PRIOR_TENSOR), tensor],
  };
}

/** A `sequential-popularity` package: the prior of `counts` and nothing else. */
export function popularityPackageSpec(
  counts: ArrayLike<number>,
  meta: {
    name: string;
    dataset: string;
    itemIds?: readonly string[];
    metrics?: Record<string, number>;
    notes?: string;
  },
): PackageSpec {
  const numItems = counts.length - 1;
  return withPopularityPrior(
    {
      kind: POPULARITY_KIND,
      name: meta.name,
      architecture: {},
      items: { count: numItems, ...(meta.itemIds ? { ids: meta.itemIds } : {}) },
      training: {
        dataset: meta.dataset,
        metrics: meta.metrics ?? {},
        ...(meta.notes ? { notes: meta.notes } : {}),
      },
      denseEquivalent: { params: 0, embeddingParams: 0 },
      tensors: [],
    },
    counts,
  );
}

/**
 * The prior's entry, checked on the manifest alone: a uint8 vector of one level per row,
 * unscaled, beside a whole `priorMaxCount` >= 1; neither without the other. Null when the
 * package carries none. `fail` names the problem (a ModelPackageError 'bad-shape').
 */
export function checkPriorEntry(
  manifest: Manifest,
  fail: (problem: string) => never,
): { entry: TensorEntry; maxCount: number } | null {
  const entry = manifest.tensors.find((t) => t.name === PRIOR_TENSOR) ?? null;
  const maxCount = manifest.architecture[PRIOR_MAX_COUNT];
  if (entry === null) {
    if (maxCount !== undefined) {
      fail(`architecture.${PRIOR_MAX_COUNT} is set but there is no tensor "${PRIOR_TENSOR}"`);
    }
    return null;
  }
  const rows = manifest.items.count + 1;
  if (entry.shape.length !== 1 || entry.shape[0] !== rows) {
    fail(
      `tensor "${PRIOR_TENSOR}" has shape [${entry.shape}], expected [${rows}] (one level per item and the padding row)`,
    );
  }
  if (entry.dtype !== 'uint8' || entry.scale !== undefined || entry.scales) {
    fail(
      `tensor "${PRIOR_TENSOR}" is ${entry.dtype}; a popularity prior is uint8 levels, unscaled`,
    );
  }
  if (typeof maxCount !== 'number' || !Number.isSafeInteger(maxCount) || maxCount < 1) {
    fail(
      `architecture.${PRIOR_MAX_COUNT} must be a whole number >= 1 beside tensor "${PRIOR_TENSOR}", got ${JSON.stringify(maxCount)}`,
    );
  }
  return { entry, maxCount };
}

/** A manifest's checks failing as ModelPackageError('bad-shape'), naming the kind. */
function failFor(manifest: Manifest): (problem: string) => never {
  return (problem) => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
}

/**
 * The package's prior, checked to its bytes: the padding row at level 0 and the top level
 * reached (the largest count is level 255 by construction, so a prior without one was not
 * written by this encoder). Null when the package carries none; a ModelPackageError
 * ('bad-shape') naming the problem when it carries a broken one.
 */
export function popularityPriorOf(pkg: ModelPackage): PopularityPrior | null {
  const fail = failFor(pkg.manifest);
  const stated = checkPriorEntry(pkg.manifest, fail);
  if (!stated) return null;
  const tensor = pkg.tensors.get(PRIOR_TENSOR);
  if (!tensor || !(tensor.data instanceof Uint8Array)) {
    return fail(`tensor "${PRIOR_TENSOR}" was not read as uint8`);
  }
  const levels = tensor.data;
  if (levels[0] !== 0)
    fail(`tensor "${PRIOR_TENSOR}" gives the padding row 0 level ${levels[0]}, not 0`);
  let top = 0;
  for (const level of levels) top = Math.max(top, level);
  if (top !== PRIOR_LEVELS) {
    fail(
      `tensor "${PRIOR_TENSOR}" reaches level ${top}; the most frequent item is level ${PRIOR_LEVELS}`,
    );
  }
  const step = Math.log1p(stated.maxCount) / PRIOR_LEVELS;
  const scores = new Float32Array(levels.length).fill(Number.NEGATIVE_INFINITY);
  for (let i = 1; i < levels.length; i++) {
    const level = levels[i] as number;
    if (level > 0) scores[i] = level * step;
  }
  return { scores };
}

/**
 * A `sequential-popularity` package's structure on the manifest alone: the prior and no
 * other tensor. Its values are checked by popularityPriorOf.
 */
export function checkPopularityStructure(manifest: Manifest): void {
  const fail = failFor(manifest);
  if (!checkPriorEntry(manifest, fail)) fail(`tensor "${PRIOR_TENSOR}" is missing`);
  const extra = manifest.tensors.find((t) => t.name !== PRIOR_TENSOR);
  if (extra) fail(`tensor "${extra.name}" is not part of this model`);
}

/** A `sequential-popularity` package's prior, every check made. */
export function popularityFromPackage(pkg: ModelPackage): PopularityPrior {
  checkPopularityStructure(pkg.manifest);
  const prior = popularityPriorOf(pkg);
  if (!prior) return failFor(pkg.manifest)(`tensor "${PRIOR_TENSOR}" is missing`);
  return prior;
}

/**
 * Whether recommendations for an empty history come from a prior, by the manifest: a prior
 * tensor, a popularity package, or a Markov package (its own popularity).
 */
export function carriesPrior(manifest: Manifest): boolean {
  return (
    manifest.kind === POPULARITY_KIND ||
    manifest.kind === 'sequential-markov' ||
    manifest.tensors.some((t) => t.name === PRIOR_TENSOR)
  );
}
