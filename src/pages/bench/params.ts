/**
 * What a bench.html run measures, read from (and written back to) the page's URL, so a run
 * can be linked, repeated and driven by `npm run bench:browsers`:
 *
 *   bench.html?models=tt,teacher,baseline&backends=webgpu,wasm,cpu&warmup=5&runs=50
 *             &catalogue=ml-1m&idb=1&seed=1&run=1
 *
 * Anything missing takes its default; anything malformed is an error that names the
 * parameter (a silently ignored typo would measure something else than asked).
 */

/** The model variants compared in one run. */
export const VARIANTS = ['tt', 'teacher', 'baseline'] as const;
export type Variant = (typeof VARIANTS)[number];

export const BENCH_BACKENDS = ['webgpu', 'wasm', 'cpu'] as const;
export type BenchBackend = (typeof BENCH_BACKENDS)[number];

/** The ML-1M pair shipped in models/, or a generated catalogue of this many items. */
export type Catalogue = 'ml-1m' | number;

export interface BenchParams {
  variants: Variant[];
  backends: BenchBackend[];
  /** Untimed requests before the timed ones. */
  warmup: number;
  /** Timed requests per measurement (warm recommend; append + recommend). */
  runs: number;
  catalogue: Catalogue;
  /** Store the model in IndexedDB first and time the open from there too. */
  idb: boolean;
  /** Seed of the generated sessions. */
  seed: number;
}

export const DEFAULT_PARAMS: BenchParams = {
  variants: [...VARIANTS],
  backends: [...BENCH_BACKENDS],
  warmup: 10,
  runs: 50,
  catalogue: 'ml-1m',
  idb: true,
  seed: 1,
};

export class BenchParamError extends Error {
  override name = 'BenchParamError';
}

function list<T extends string>(name: string, raw: string, allowed: readonly T[]): T[] {
  const values = raw
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  const unknown = values.filter((v) => !allowed.includes(v as T));
  if (unknown.length || values.length === 0) {
    throw new BenchParamError(
      `${name} must be a comma-separated list of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`,
    );
  }
  // In the canonical order, each once.
  return allowed.filter((a) => values.includes(a));
}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) {
    throw new BenchParamError(`${name} must be an integer from ${min} to ${max}; got ${raw}`);
  }
  return n;
}

function flag(name: string, raw: string): boolean {
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(raw)) return false;
  throw new BenchParamError(`${name} must be 1 or 0; got ${JSON.stringify(raw)}`);
}

/** The run the URL asks for, and whether it asks to start at once (`run=1`). */
export function parseParams(search: URLSearchParams): { params: BenchParams; autorun: boolean } {
  const params: BenchParams = { ...DEFAULT_PARAMS };
  const get = (name: string) => search.get(name);
  const models = get('models');
  if (models !== null) params.variants = list('models', models, VARIANTS);
  const backends = get('backends');
  if (backends !== null) params.backends = list('backends', backends, BENCH_BACKENDS);
  const warmup = get('warmup');
  if (warmup !== null) params.warmup = integer('warmup', warmup, 0, 10_000);
  const runs = get('runs');
  if (runs !== null) params.runs = integer('runs', runs, 1, 100_000);
  const catalogue = get('catalogue');
  if (catalogue !== null && catalogue !== 'ml-1m') {
    params.catalogue = integer('catalogue', catalogue, 2, 10_000_000);
  }
  const idb = get('idb');
  if (idb !== null) params.idb = flag('idb', idb);
  const seed = get('seed');
  if (seed !== null) params.seed = integer('seed', seed, 0, 2 ** 32 - 1);
  const run = get('run');
  return { params, autorun: run !== null && flag('run', run) };
}

/** The URL query of a run (the inverse of parseParams). */
export function paramsToSearch(params: BenchParams, autorun = false): URLSearchParams {
  const search = new URLSearchParams({
    models: params.variants.join(','),
    backends: params.backends.join(','),
    warmup: String(params.warmup),
    runs: String(params.runs),
    catalogue: String(params.catalogue),
    idb: params.idb ? '1' : '0',
    seed: String(params.seed),
  });
  if (autorun) search.set('run', '1');
  return search;
}
