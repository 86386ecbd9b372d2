/**
 * What every command that runs a CTR package on its data set does first (eval, shapley):
 * read and verify the package, check it was trained on that data set, load the data set's
 * field rows, and check the package reads the same encoding of them.
 */
import { type CtrFieldData, loadCtrFields } from '../data/ctr/index.ts';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import type { CtrModel } from '../model/ctr/model.ts';
import { ctrFromPackage } from '../model/ctr/package.ts';
import { CTR_PRUNED_KIND, ctrFromPrunedPackage } from '../model/ctr/pruned-package.ts';
import type { CtrRows, CtrSchema } from '../model/ctr/schema.ts';
import { directorySource } from '../package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';

export async function ctrPackageWithData(
  model: string,
  options: { dataset: string; dataDir?: string },
  /** The package kinds the command takes. */
  kinds: readonly string[],
): Promise<{ pkg: ModelPackage; ctr: CtrModel; data: CtrFieldData }> {
  const pkg = await readCtrPackage(model, options.dataset, kinds);
  const loaded = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  return { pkg, ...(await ctrModelOn(model, pkg, loaded)) };
}

/** The package read and verified, refused unless of one of `kinds` and trained on `dataset`. */
export async function readCtrPackage(
  model: string,
  dataset: string,
  kinds: readonly string[],
): Promise<ModelPackage> {
  const pkg = await readModelPackage(directorySource(model));
  const { manifest } = pkg;
  if (!kinds.includes(manifest.kind)) {
    throw new UsageError(
      `${model} is a ${manifest.kind} package; this needs ${kinds.join(' or ')}`,
    );
  }
  if (manifest.training.dataset !== dataset) {
    throw new UsageError(`${model} was trained on ${manifest.training.dataset}, not ${dataset}`);
  }
  return pkg;
}

/**
 * The package's model, and `data` as it reads it: checked to be the same encoding, and
 * narrowed to the package's fields where it reads only some (a UMEC-pruned model whose
 * fields were removed). For commands that load the data set once for several packages
 * (report).
 */
export async function ctrModelOn(
  model: string,
  pkg: ModelPackage,
  data: CtrFieldData,
): Promise<{ ctr: CtrModel; data: CtrFieldData }> {
  await useWasmBackend();
  const ctr =
    pkg.manifest.kind === CTR_PRUNED_KIND ? ctrFromPrunedPackage(pkg) : ctrFromPackage(pkg);
  return { ctr, data: dataOnFields(model, ctr.schema, data) };
}

/**
 * `data` with only the package's fields, in its order. The data set encodes its fields again
 * on every load (vocabularies fitted on train); a package trained on another encoding would
 * read the wrong rows, so every field must match by name, kind, size and values.
 */
export function dataOnFields(model: string, packaged: CtrSchema, data: CtrFieldData): CtrFieldData {
  const describe = (fields: CtrSchema['fields']) =>
    fields.map((f) => `${f.name}:${f.kind}:${f.vocabularySize}`).join(',');
  const at = packaged.fields.map((f) => data.schema.fields.findIndex((g) => g.name === f.name));
  const matched = at.map((i) => data.schema.fields[i]);
  const same = packaged.fields.every((f, i) => {
    const theirs = matched[i];
    return theirs && `${f.kind}:${f.vocabularySize}` === `${theirs.kind}:${theirs.vocabularySize}`;
  });
  if (!same) {
    throw new UsageError(
      `${model}'s fields (${describe(packaged.fields)}) are not among the data set's (${describe(data.schema.fields)})`,
    );
  }
  // Same sizes, other values: ids that mean other things (a package predating vocabularies
  // has none to compare).
  const differs = packaged.fields.find((f, i) => {
    const theirs = matched[i]?.values;
    return (
      f.values !== undefined && theirs !== undefined && f.values.some((v, j) => v !== theirs[j])
    );
  });
  if (differs) {
    throw new UsageError(
      `${model}'s vocabulary of field "${differs.name}" differs from the data set's: its ids mean other values`,
    );
  }
  if (at.every((i, k) => i === k) && at.length === data.schema.fields.length) return data;
  const rows = (split: CtrRows): CtrRows => ({
    ...split,
    ids: at.map((i) => split.ids[i] as Int32Array),
  });
  return {
    ...data,
    schema: { fields: matched as CtrSchema['fields'] },
    train: rows(data.train),
    validation: rows(data.validation),
    test: rows(data.test),
  };
}
