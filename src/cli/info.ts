import { CTR_PRUNED_KIND } from '../model/ctr/pruned-package.ts';
import { packageFlops } from '../model/package-flops.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import { PRIOR_MAX_COUNT, PRIOR_TENSOR } from '../model/popularity.ts';
import { SEQUENTIAL_PRUNED_KIND } from '../model/sequential-pruned.ts';
import type { ArchitectureValue, Manifest } from '../package/manifest.ts';
import { directorySource } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { tensorBytes } from '../package/size.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../runtime/engine/engine.ts';
import { formatBytes, type Output, printJson, table } from './output.ts';

/**
 * Prints what a package is and how small it is; reading it verifies it too, format and
 * structure. manifest.json is written without indentation, so `manifest` prints the whole
 * verified manifest indented: the way to read every field of it.
 */
export async function infoCommand(
  dir: string,
  options: { json?: boolean; manifest?: boolean },
  output: Output,
): Promise<void> {
  const pkg = await readModelPackage(directorySource(dir));
  await verifyModelStructure(pkg);
  const { manifest } = pkg;
  if (options.manifest) {
    printJson(output, manifest);
    return;
  }
  const { size } = manifest;
  const idMap = manifest.items.idMap;
  const itemIds =
    idMap === null ? 'none' : `${idMap} (${manifest.items.idEncoding ?? 'lines'} encoding)`;
  const pruning = pruningOf(manifest);
  const work = packageFlops(manifest, DEFAULT_ENGINE_OPTIONS);
  const prior = priorOf(manifest);
  if (options.json) {
    printJson(output, {
      name: manifest.name,
      kind: manifest.kind,
      formatVersion: manifest.formatVersion,
      createdAt: manifest.createdAt,
      items: manifest.items.count,
      idMap,
      idEncoding: idMap === null ? null : (manifest.items.idEncoding ?? 'lines'),
      dataset: manifest.training.dataset,
      architecture: manifest.architecture,
      metrics: manifest.training.metrics,
      size,
      ...(pruning ? { pruning } : {}),
      prior,
      ...(work ?? {}),
      files: manifest.files,
    });
    return;
  }
  const metrics = Object.entries(manifest.training.metrics).map(
    ([k, v]) => [`  ${k}`, Number.isInteger(v) ? String(v) : v.toFixed(4)] as const,
  );
  output.out(
    table([
      ['name', manifest.name],
      ['kind', manifest.kind],
      ['format version', String(manifest.formatVersion)],
      ['created', manifest.createdAt],
      ['items', String(manifest.items.count)],
      ['item ids', itemIds],
      ['trained on', manifest.training.dataset],
      [
        'architecture',
        Object.entries(manifest.architecture)
          .map(([k, v]) => `${k}=${architectureValue(v)}`)
          .join(' '),
      ],
      ['params', size.params.toLocaleString('en-US')],
      ['bytes', `${size.bytes.toLocaleString('en-US')} (${formatBytes(size.bytes)})`],
      [
        'dense equivalent',
        `${size.denseEquivalentBytes.toLocaleString('en-US')} (${formatBytes(size.denseEquivalentBytes)})`,
      ],
      ['embedding compression', `${size.embeddingCompression.toFixed(2)}x`],
      ['model compression', `${size.modelCompression.toFixed(2)}x`],
      ...(pruning
        ? ([
            [
              'sparsity',
              `${(pruning.sparsity * 100).toFixed(2)}% of the embedding pruned (${pruning.method}, ${pruning.layout})`,
            ],
            [
              'against the dense package',
              `${pruning.denseBytes.toLocaleString('en-US')} bytes, ${pruning.compression.toFixed(2)}x`,
            ],
          ] as const)
        : []),
      // A CTR model has no catalogue of items to be popular: it ranks what it is given.
      ...(manifest.items.count > 0
        ? ([['popularity prior', priorText(manifest, prior)]] as const)
        : []),
      ...(work
        ? ([
            [
              'FLOPs per request',
              `${work.flops.toLocaleString('en-US')} multiply-adds, ${work.flopsRatio.toFixed(3)} of the unpruned model`,
            ],
          ] as const)
        : []),
      ['files', manifest.files.map((f) => `${f.path} (${formatBytes(f.bytes)})`).join(', ')],
      ...(metrics.length > 0 ? [['metrics', ''] as const, ...metrics] : []),
    ]),
  );
}

/**
 * The package's popularity prior tensor (what an empty history is answered with): its bytes
 * and the count its top level stands for; null without one (a Markov package's prior is
 * its popularity tensor, priorText says so).
 */
function priorOf(manifest: Manifest): { bytes: number; maxCount: number } | null {
  const entry = manifest.tensors.find((t) => t.name === PRIOR_TENSOR);
  const maxCount = manifest.architecture[PRIOR_MAX_COUNT];
  if (!entry || typeof maxCount !== 'number') return null;
  return { bytes: tensorBytes(entry), maxCount };
}

function priorText(manifest: Manifest, prior: ReturnType<typeof priorOf>): string {
  if (prior) {
    return `yes: ${prior.bytes.toLocaleString('en-US')} bytes, the training split's item counts (the most ${prior.maxCount.toLocaleString('en-US')}) as log levels; an empty history gets the most popular items`;
  }
  if (manifest.kind === 'sequential-markov') {
    return 'its popularity tensor: an empty history gets the most popular items';
  }
  return 'none: an empty history gets no recommendations (pocketrec prior adds one)';
}

/** One architecture value on one line: a long list (a CTR schema's boundaries) cut short. */
function architectureValue(value: ArchitectureValue): string {
  if (!Array.isArray(value)) return String(value);
  const shown = value.slice(0, ARCHITECTURE_LIST_SHOWN).join(',');
  return value.length > ARCHITECTURE_LIST_SHOWN
    ? `[${shown},… ${value.length} values]`
    : `[${shown}]`;
}

const ARCHITECTURE_LIST_SHOWN = 8;

/** A pruned package's sparsity (CTR or sequential) and its bytes against the dense package it came from. */
function pruningOf(manifest: Manifest) {
  if (manifest.kind !== CTR_PRUNED_KIND && manifest.kind !== SEQUENTIAL_PRUNED_KIND) return null;
  const { sparsity, denseBytes, pruneMethod, layout } = manifest.architecture;
  if (typeof sparsity !== 'number' || typeof denseBytes !== 'number') return null;
  return {
    sparsity,
    method: String(pruneMethod ?? 'unknown'),
    layout: String(layout),
    denseBytes,
    bytes: manifest.size.bytes,
    compression: denseBytes / manifest.size.bytes,
  };
}
