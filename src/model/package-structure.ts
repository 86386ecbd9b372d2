/**
 * The structural checks of each model kind, for `pocketrec verify` and `info`: what a
 * loader of that kind checks before it builds anything (architecture against tensors,
 * tensor-train padding, RecJPQ codes against their codebooks, a quotient-remainder table's
 * factors against its remainder rows and item count, sparse indices, CTR schema
 * against the embedding table), run without building the model.
 */
import { ModelPackageError } from '../package/errors.ts';
import type { ModelPackage } from '../package/reader.ts';
import { checkCtrPackage } from './ctr/package.ts';
import { CTR_PRUNED_KIND, checkPrunedHashes, decodePrunedTable } from './ctr/pruned-package.ts';
import { isCtrPackageKind } from './ctr/structure.ts';
import { markovFromPackage } from './markov.ts';
import {
  POPULARITY_KIND,
  PRIOR_MAX_COUNT,
  popularityFromPackage,
  popularityPriorOf,
} from './popularity.ts';
import { qrQuotientRows } from './qr-partition.ts';
import { jpqPackageCodes, repeatBonusOf } from './sequential-package.ts';
import {
  decodePrunedItemTable,
  type PrunedItemTable,
  SEQUENTIAL_PRUNED_KIND,
} from './sequential-pruned.ts';
import { checkSequentialStructure, isSequentialKind } from './sequential-structure.ts';

export const LOADABLE_KINDS = [
  'sequential-dense',
  'sequential-tt',
  'sequential-jpq',
  'sequential-qr',
  SEQUENTIAL_PRUNED_KIND,
  'sequential-markov',
  POPULARITY_KIND,
  'ctr-pruned',
  'ctr-dense',
] as const;

/** What was checked, in words; a ModelPackageError when the package does not fit its kind. */
export function checkModelStructure(pkg: ModelPackage): string {
  const { kind } = pkg.manifest;
  if (isSequentialKind(kind)) {
    const { config, table, pruned } = checkSequentialStructure(pkg.manifest);
    repeatBonusOf(pkg);
    let items: string;
    if (pruned) items = prunedItemTableText(pkg, pruned);
    else if (table.kind === 'dense') items = 'dense item table';
    else if (table.kind === 'tt') {
      items = `tensor-train item table of ${table.shape.rows.join('x')} rows for ${config.numItems + 1}`;
    } else if (table.kind === 'jpq') {
      jpqPackageCodes(pkg, table);
      items = `RecJPQ item table of ${table.splits} splits x ${table.centroids} centroids, every code in range`;
    } else {
      const rows = config.numItems + 1;
      items = `quotient-remainder item table (${table.operation}) of ${qrQuotientRows(rows, table.buckets)} quotient x ${table.buckets} remainder rows for ${rows}`;
    }
    const inner = config.inner
      ? `, inner widths qk ${config.inner.map((w) => w.qk).join('/')} v ${config.inner.map((w) => w.v).join('/')} ffn ${config.inner.map((w) => w.ffn).join('/')}`
      : '';
    const prior = priorText(pkg);
    return `${kind}: ${config.blocks} blocks, dim ${config.dim}, maxLen ${config.maxLen}${inner} against their tensors; ${items}${prior ? `; ${prior}` : ''}`;
  }
  if (kind === 'sequential-markov') {
    const model = markovFromPackage(pkg);
    return `sequential-markov: ${model.indices.length} transitions over ${model.numItems} items, indices in range; its popularity is its prior`;
  }
  if (kind === POPULARITY_KIND) {
    popularityFromPackage(pkg);
    return `${kind}: ${priorText(pkg)}`;
  }
  if (isCtrPackageKind(kind)) {
    const { kind: model, config, schema } = checkCtrPackage(pkg);
    const rows = schema.fields.reduce((n, f) => n + f.vocabularySize, 0);
    return `${kind}: ${model} over ${schema.fields.length} fields, ${rows} embedding rows of dim ${config.dim}, every tensor against the architecture`;
  }
  if (kind === CTR_PRUNED_KIND) {
    // Decodes the positions (no tfjs): every index is checked, as a loader would.
    const { structure, kept } = decodePrunedTable(pkg);
    const { model, rows, dim, storage } = structure;
    const chunks =
      storage.layout === 'progressive'
        ? ` in ${storage.chunks.length} chunks of ${storage.chunkElements}`
        : '';
    return `${kind}: ${model.kind} over ${model.schema.fields.length} fields, ${rows} embedding rows of dim ${dim}, ${kept} of ${rows * dim} elements kept (${storage.layout}${chunks}, ${structure.fill} fill), every tensor against the architecture, every position in range`;
  }
  throw new ModelPackageError(
    'bad-manifest',
    pkg.manifest.name,
    `kind "${kind}" is not a model this pocketrec can load (${LOADABLE_KINDS.join(', ')})`,
  );
}

/** The prior's check, in words, or null for a package without one. */
function priorText(pkg: ModelPackage): string | null {
  const prior = popularityPriorOf(pkg);
  if (!prior) return null;
  let seen = 0;
  for (const score of prior.scores) if (Number.isFinite(score)) seen++;
  return `popularity prior of ${pkg.manifest.items.count} items (${seen} seen in training, the most ${pkg.manifest.architecture[PRIOR_MAX_COUNT]} times), padding and top level in place`;
}

/** A pruned item table's positions decoded (no tfjs): every one is checked, as a loader would. */
function prunedItemTableText(pkg: ModelPackage, pruned: PrunedItemTable): string {
  decodePrunedItemTable(pkg, pruned);
  const { rows, dim, kept, layout, fill } = pruned;
  return `pruned item table of ${rows} rows of dim ${dim}, ${kept} of ${rows * dim} elements kept (${layout}, ${fill} fill), every position in range`;
}

/**
 * checkModelStructure, and what only a reader of ranges would check: a progressive
 * ctr-pruned package's head and chunk hashes, so that `verify` refuses a package whose
 * files verify but whose prefixes would not.
 */
export async function verifyModelStructure(pkg: ModelPackage): Promise<string> {
  const checked = checkModelStructure(pkg);
  if (pkg.manifest.kind !== CTR_PRUNED_KIND) return checked;
  await checkPrunedHashes(pkg);
  return pkg.manifest.architecture.layout === 'progressive'
    ? `${checked}; head and chunk SHA-256`
    : checked;
}
