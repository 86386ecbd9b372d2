/**
 * The work of one request of any package kind, from its manifest alone, and its ratio to the
 * same architecture unpruned: what `pocketrec info` reports as `flops` and `flopsRatio`.
 * Multiply-adds, counted as src/model/ctr/flops.ts says for CTR models (one row) and as
 * src/model/sequential-flops.ts says for sequence models (one incremental step and scoring).
 * A sequence model is counted as the engine serves it: the incremental step over a full
 * cache where the model allows one (else the whole window), and a tensor-train or RecJPQ
 * table built once at load and scored as a dense one when it has at most `materialiseRows`
 * rows (the engine's own threshold, which the caller passes), else scored by contracting its
 * cores or through its codebooks; a quotient-remainder table is built whatever its rows
 * (sequential-flops.ts says why). A Markov package (sequential-markov) has no products to count:
 * scoring adds the transition counts of the last item's sparse row to a popularity score, so
 * it reports none (null) rather than a figure of 0 that would read as a model of no cost.
 */
import type { Manifest } from '../package/manifest.ts';
import { ctrFlops } from './ctr/flops.ts';
import { UNPRUNED_FLOPS_KEY } from './ctr/package.ts';
import { CTR_PRUNED_KIND, checkCtrPrunedStructure } from './ctr/pruned-package.ts';
import { checkCtrStructure, isCtrPackageKind } from './ctr/structure.ts';
import type { SasrecConfig } from './sasrec.ts';
import { BUILT_SCORING, sequentialFlops } from './sequential-flops.ts';
import {
  checkSequentialStructure,
  isSequentialKind,
  type SequentialItemTable,
} from './sequential-structure.ts';

export interface PackageFlops {
  /** Multiply-adds of one request. */
  flops: number;
  /** flops over the unpruned architecture's: 1 for a package that was never cut down. */
  flopsRatio: number;
}

/** A package's FLOPs, or null for a kind without a forward pass to count. */
export function packageFlops(
  manifest: Manifest,
  serving: { materialiseRows: number },
): PackageFlops | null {
  if (isCtrPackageKind(manifest.kind)) {
    const structure = checkCtrStructure(manifest);
    return withRatio(manifest, ctrFlops(structure, structure.schema));
  }
  if (manifest.kind === CTR_PRUNED_KIND) {
    // A pruned table is read element by element: the request's products are the dense model's.
    const { model } = checkCtrPrunedStructure(manifest);
    return withRatio(manifest, ctrFlops(model, model.schema));
  }
  if (isSequentialKind(manifest.kind)) {
    const { config, table } = checkSequentialStructure(manifest);
    return withRatio(manifest, servedSequentialFlops(config, table, serving));
  }
  return null;
}

/** One request of a sequence model as the engine serves it (see the header). */
export function servedSequentialFlops(
  config: SasrecConfig,
  table: SequentialItemTable,
  serving: { materialiseRows: number },
): number {
  const built = table.kind !== 'dense' && config.numItems + 1 <= serving.materialiseRows;
  return sequentialFlops(config, table, built ? { scoring: BUILT_SCORING[table.kind] } : {});
}

/** The ratio to the architecture's `unprunedFlops` when it records one, else 1. */
function withRatio(manifest: Manifest, flops: number): PackageFlops {
  const unpruned = manifest.architecture[UNPRUNED_FLOPS_KEY];
  return {
    flops,
    flopsRatio: typeof unpruned === 'number' && unpruned > 0 ? flops / unpruned : 1,
  };
}
