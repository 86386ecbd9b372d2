/**
 * Which package each variant runs, per catalogue. The ML-1M pair is the dense teacher and
 * its tensor-train student as shipped in models/; the layers baseline is built from the
 * teacher (the network a developer would have). A generated catalogue of N items is one
 * random tensor-train package (scripts/generate-tt-model.ts): the student runs it as the
 * engine chooses (through the cores above 100,000 items), the dense variant has the engine
 * build the table once whatever its size (what a dense
 * teacher of that size would hold), and the baseline builds it dense too. A run reads the
 * catalogue (its ids and window) from the tensor-train package's manifest.
 */
import { ModelPackageError } from '../../package/errors.ts';
import { MANIFEST_FILE, type Manifest } from '../../package/manifest.ts';
import { readItemIds } from '../../package/reader.ts';
import { urlSource } from '../../package/source.ts';
import type { BenchParams, Catalogue, Variant } from './params.ts';

export interface VariantModel {
  variant: Variant;
  /** The package's URL on this origin. */
  url: string;
  /** Passed to createRecommender: build a tensor-train table up to this many rows. */
  materialiseRows?: number;
}

/** Where `npx tsx scripts/generate-tt-model.ts` writes a generated catalogue of `items`. */
export function generatedModelDir(items: number): string {
  return items === 1_000_000 ? 'runs/bench/tt-1m' : `runs/bench/tt-${items}`;
}

export function generateCommand(items: number): string {
  return `npx tsx scripts/generate-tt-model.ts --items ${items} --out ${generatedModelDir(items)}`;
}

export function variantModels(catalogue: Catalogue): Record<Variant, VariantModel> {
  if (catalogue === 'ml-1m') {
    return {
      tt: { variant: 'tt', url: '/models/ml-1m-tt2-r12-fo' },
      teacher: { variant: 'teacher', url: '/models/ml-1m-teacher-fo' },
      baseline: { variant: 'baseline', url: '/models/ml-1m-teacher-fo' },
    };
  }
  const url = `/${generatedModelDir(catalogue)}`;
  return {
    tt: { variant: 'tt', url },
    teacher: { variant: 'teacher', url, materialiseRows: Number.MAX_SAFE_INTEGER },
    baseline: { variant: 'baseline', url },
  };
}

export interface CatalogueInfo {
  ids: string[] | null;
  numItems: number;
  maxLen: number;
}

/**
 * The catalogue and window of a package, from its manifest and id map, both verified by the
 * package reader (whichever file and encoding the id map uses).
 */
export async function catalogueOf(url: string, params: BenchParams): Promise<CatalogueInfo> {
  const hint =
    typeof params.catalogue === 'number'
      ? `; generate it with: ${generateCommand(params.catalogue)}`
      : '';
  const source = urlSource(url);
  let read: { manifest: Manifest; itemIds: string[] | null };
  try {
    read = await readItemIds(source);
  } catch (error) {
    const absent =
      error instanceof ModelPackageError &&
      error.code === 'missing-file' &&
      error.file === source.locate(MANIFEST_FILE);
    if (absent) throw new Error(`no model package at ${url} (${error.message})${hint}`);
    throw error;
  }
  const { manifest, itemIds } = read;
  const { maxLen } = manifest.architecture;
  if (typeof maxLen !== 'number') {
    throw new Error(`${source.locate(MANIFEST_FILE)}: architecture.maxLen is not a number`);
  }
  return { ids: itemIds, numItems: manifest.items.count, maxLen };
}
