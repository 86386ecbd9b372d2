/**
 * A read package written again with other tensors (quantised, say): the same kind,
 * architecture, items, dense equivalent and attachments, under a new name and notes.
 */
import { PocketrecError } from '../errors.ts';
import type { ModelPackage } from './reader.ts';
import type { PackageSpec, TensorSpec } from './writer.ts';

export function repackageSpec(
  pkg: ModelPackage,
  changes: { name: string; notes: string | undefined; metrics: Record<string, number> },
): PackageSpec {
  const { manifest } = pkg;
  if (pkg.prefixChunks !== undefined) {
    throw new PocketrecError(
      'bad-package',
      `${manifest.name} was read only up to a prefix; write a package read whole`,
    );
  }
  const tensors: TensorSpec[] = manifest.tensors.map((entry) => {
    const t = pkg.tensors.get(entry.name);
    if (!t) throw new PocketrecError('bad-package', `tensor "${entry.name}" was not read`);
    return {
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      data: t.data,
      ...(entry.role ? { role: entry.role } : {}),
      ...(t.scale === undefined ? {} : { scale: t.scale }),
      ...(t.scales ? { scales: t.scales } : {}),
    };
  });
  // The id map is written again from the ids; every other attachment is copied.
  const attachments = new Map(
    [...(pkg.attachments ?? [])].filter(([path]) => path !== manifest.items.idMap),
  );
  return {
    kind: manifest.kind,
    name: changes.name,
    architecture: manifest.architecture,
    items: { count: manifest.items.count, ...(pkg.itemIds ? { ids: pkg.itemIds } : {}) },
    training: {
      dataset: manifest.training.dataset,
      metrics: changes.metrics,
      ...(changes.notes === undefined ? {} : { notes: changes.notes }),
    },
    denseEquivalent: {
      params: manifest.size.denseEquivalentParams,
      embeddingParams: manifest.size.denseEmbeddingBytes / 4,
    },
    tensors,
    ...(attachments.size > 0 ? { attachments } : {}),
  };
}
