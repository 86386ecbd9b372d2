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
import type { CtrSchema } from '../model/ctr/schema.ts';
import { directorySource } from '../package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';

export async function ctrPackageWithData(
  model: string,
  options: { dataset: string; dataDir?: string },
  /** The package kinds the command takes. */
  kinds: readonly string[],
): Promise<{ pkg: ModelPackage; ctr: CtrModel; data: CtrFieldData }> {
  const pkg = await readCtrPackage(model, options.dataset, kinds);
  const data = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  return { pkg, ctr: await ctrModelOn(model, pkg, data), data };
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
 * The package's model, checked to read `data`'s encoding; for commands that load the data
 * set once for several packages (report).
 */
export async function ctrModelOn(
  model: string,
  pkg: ModelPackage,
  data: CtrFieldData,
): Promise<CtrModel> {
  await useWasmBackend();
  const ctr =
    pkg.manifest.kind === CTR_PRUNED_KIND ? ctrFromPrunedPackage(pkg) : ctrFromPackage(pkg);
  checkSameSchema(model, ctr.schema, data.schema);
  return ctr;
}

/**
 * The data set encodes its fields again on every load (vocabularies fitted on train); a
 * package trained on another encoding would read the wrong rows.
 */
function checkSameSchema(model: string, packaged: CtrSchema, loaded: CtrSchema): void {
  const describe = (schema: CtrSchema) =>
    schema.fields.map((f) => `${f.name}:${f.kind}:${f.vocabularySize}`).join(',');
  if (describe(packaged) !== describe(loaded)) {
    throw new UsageError(
      `${model}'s fields (${describe(packaged)}) differ from the data set's (${describe(loaded)})`,
    );
  }
  // Same sizes, other values: ids that mean other things (a package predating vocabularies
  // has none to compare).
  const differs = packaged.fields.find((f, i) => {
    const theirs = loaded.fields[i]?.values;
    return (
      f.values !== undefined && theirs !== undefined && f.values.some((v, j) => v !== theirs[j])
    );
  });
  if (differs) {
    throw new UsageError(
      `${model}'s vocabulary of field "${differs.name}" differs from the data set's: its ids mean other values`,
    );
  }
}
