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
  const pkg = await readModelPackage(directorySource(model));
  const { manifest } = pkg;
  if (!kinds.includes(manifest.kind)) {
    throw new UsageError(
      `${model} is a ${manifest.kind} package; this needs ${kinds.join(' or ')}`,
    );
  }
  if (manifest.training.dataset !== options.dataset) {
    throw new UsageError(
      `${model} was trained on ${manifest.training.dataset}, not ${options.dataset}`,
    );
  }
  const data = await loadCtrFields(
    options.dataset,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  await useWasmBackend();
  const ctr = manifest.kind === CTR_PRUNED_KIND ? ctrFromPrunedPackage(pkg) : ctrFromPackage(pkg);
  checkSameSchema(model, ctr.schema, data.schema);
  return { pkg, ctr, data };
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
}
