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

/** The catalogue and window of a package, from its manifest (and id map). */
export async function catalogueOf(url: string, params: BenchParams): Promise<CatalogueInfo> {
  const hint =
    typeof params.catalogue === 'number'
      ? `; generate it with: ${generateCommand(params.catalogue)}`
      : '';
  let manifest: { items: { count: number; idMap?: string }; architecture: { maxLen: number } };
  try {
    const response = await fetch(`${url}/manifest.json`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    manifest = await response.json();
  } catch (error) {
    throw new Error(`no model package at ${url} (${(error as Error).message})${hint}`);
  }
  let ids: string[] | null = null;
  if (manifest.items.idMap) {
    const response = await fetch(`${url}/${manifest.items.idMap}`);
    if (!response.ok) throw new Error(`${url}/${manifest.items.idMap}: HTTP ${response.status}`);
    ids = (await response.text()).split('\n').filter(Boolean);
  }
  return { ids, numItems: manifest.items.count, maxLen: manifest.architecture.maxLen };
}
