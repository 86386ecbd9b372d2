/**
 * First-order Markov next-item model: score(j | last item i) = count(i -> j), ties broken
 * by popularity. It is the strong simple baseline of next-item work (see
 * ../shared/reference/baselines.md) and small enough to run anywhere. Transitions are
 * stored sparse (CSR), so the model grows with observed pairs, not items squared.
 * Pure TypeScript: the same code scores in Node and in the browser.
 */
import type { Dtype, StoredArray } from '../package/dtypes.ts';
import { ModelPackageError } from '../package/errors.ts';
import type { ModelPackage } from '../package/reader.ts';
import type { PackageSpec } from '../package/writer.ts';

export interface MarkovModel {
  numItems: number;
  /** CSR row pointers over source items 0..numItems (0 = padding), length numItems + 2. */
  indptr: Int32Array;
  /** Successor item of each stored transition. */
  indices: Int32Array;
  counts: Float32Array;
  /** Occurrences of each item as a next item, index 0 unused. */
  popularity: Float32Array;
}

export function fitMarkov(sequences: readonly Int32Array[], numItems: number): MarkovModel {
  const rows: Map<number, number>[] = Array.from({ length: numItems + 1 }, () => new Map());
  const popularity = new Float32Array(numItems + 1);
  for (const seq of sequences) {
    for (let t = 0; t < seq.length; t++) {
      const item = seq[t] as number;
      popularity[item] = (popularity[item] as number) + 1;
      if (t === 0) continue;
      const row = rows[seq[t - 1] as number] as Map<number, number>;
      row.set(item, (row.get(item) ?? 0) + 1);
    }
  }
  const indptr = new Int32Array(numItems + 2);
  rows.forEach((row, i) => {
    indptr[i + 1] = (indptr[i] as number) + row.size;
  });
  const nnz = indptr[numItems + 1] as number;
  const indices = new Int32Array(nnz);
  const counts = new Float32Array(nnz);
  rows.forEach((row, i) => {
    let p = indptr[i] as number;
    for (const [j, c] of [...row].sort((a, b) => a[0] - b[0])) {
      indices[p] = j;
      counts[p++] = c;
    }
  });
  return { numItems, indptr, indices, counts, popularity };
}

/** Scores for items 0..numItems given a history; item 0 (padding) scores -Infinity. */
export function scoreMarkov(model: MarkovModel, history: ArrayLike<number>): Float32Array {
  const scores = new Float32Array(model.numItems + 1);
  let maxPopularity = 1;
  for (const p of model.popularity) maxPopularity = Math.max(maxPopularity, p);
  // Popularity only breaks ties between equal transition counts: it stays below 1.
  for (let j = 1; j <= model.numItems; j++)
    scores[j] = (model.popularity[j] as number) / (maxPopularity + 1);
  scores[0] = Number.NEGATIVE_INFINITY;
  const last = history.length > 0 ? (history[history.length - 1] as number) : 0;
  if (last > 0 && last <= model.numItems) {
    for (let p = model.indptr[last] as number; p < (model.indptr[last + 1] as number); p++) {
      const j = model.indices[p] as number;
      scores[j] = (scores[j] as number) + (model.counts[p] as number);
    }
  }
  return scores;
}

export function markovPackageSpec(
  model: MarkovModel,
  meta: {
    name: string;
    dataset: string;
    itemIds?: readonly string[];
    metrics?: Record<string, number>;
  },
): PackageSpec {
  const n = model.numItems + 1;
  return {
    kind: 'sequential-markov',
    name: meta.name,
    architecture: { order: 1, transitions: model.indices.length },
    items: { count: model.numItems, ...(meta.itemIds ? { ids: meta.itemIds } : {}) },
    training: { dataset: meta.dataset, metrics: meta.metrics ?? {} },
    // The dense equivalent is the full transition matrix plus the popularity vector.
    denseEquivalent: { params: n * n + n, embeddingParams: 0 },
    tensors: [
      {
        name: 'transitions/indptr',
        dtype: 'int32',
        shape: [model.indptr.length],
        data: model.indptr,
      },
      {
        name: 'transitions/indices',
        dtype: 'int32',
        shape: [model.indices.length],
        data: model.indices,
      },
      {
        name: 'transitions/counts',
        dtype: 'float32',
        shape: [model.counts.length],
        data: model.counts,
      },
      { name: 'popularity', dtype: 'float32', shape: [n], data: model.popularity },
    ],
  };
}

/** Rebuilds the model from a verified package, checking the structure the format cannot know. */
export function markovFromPackage(pkg: ModelPackage): MarkovModel {
  const fail = (problem: string): never => {
    throw new ModelPackageError('bad-shape', pkg.manifest.name, `sequential-markov: ${problem}`);
  };
  const get = <T extends StoredArray>(name: string, dtype: Dtype): T => {
    const t = pkg.tensors.get(name);
    if (!t) return fail(`tensor "${name}" is missing`);
    if (t.dtype !== dtype) fail(`tensor "${name}" is ${t.dtype}, expected ${dtype}`);
    return t.data as T;
  };
  const numItems = pkg.manifest.items.count;
  const model: MarkovModel = {
    numItems,
    indptr: get<Int32Array>('transitions/indptr', 'int32'),
    indices: get<Int32Array>('transitions/indices', 'int32'),
    counts: get<Float32Array>('transitions/counts', 'float32'),
    popularity: get<Float32Array>('popularity', 'float32'),
  };
  if (model.indptr.length !== numItems + 2)
    fail(`indptr has ${model.indptr.length} entries for ${numItems} items`);
  if (model.popularity.length !== numItems + 1)
    fail(`popularity has ${model.popularity.length} entries for ${numItems} items`);
  if (model.counts.length !== model.indices.length) fail('counts and indices differ in length');
  if (model.indptr[0] !== 0 || model.indptr[numItems + 1] !== model.indices.length)
    fail('indptr does not span the transitions');
  for (let i = 1; i < model.indptr.length; i++) {
    if ((model.indptr[i] as number) < (model.indptr[i - 1] as number))
      fail('indptr is not non-decreasing');
  }
  for (const j of model.indices)
    if (j < 1 || j > numItems) fail(`transition to item ${j} is outside 1..${numItems}`);
  return model;
}
