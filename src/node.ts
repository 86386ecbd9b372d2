/**
 * `pocketrec/node`: the toolkit in a Node program. Training, distillation, compression and
 * evaluation run through `runCommand`, with the command line's own commands, options, output
 * and exit codes (`npx pocketrec <command> --help` documents each): the functions beneath
 * them take the toolkit's internal task and hook objects, which are not a stable interface.
 * Model packages are read, verified and written here directly, and the format itself
 * (`pocketrec/package-format`) is re-exported.
 */
import { verifyModelStructure } from './model/package-structure.ts';
import { directorySource } from './package/node-fs.ts';
import { type ModelPackage, readModelPackage } from './package/reader.ts';

export { main as runCommand } from './cli/main.ts';
export { EXIT, type Output } from './cli/output.ts';
export {
  type CtrDataset,
  DATASET_NAMES,
  DATASETS,
  type DatasetName,
  type DatasetSpec,
  getDataset,
  isDatasetName,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
  resolveDataDir,
} from './data/index.ts';
export { PocketrecError } from './errors.ts';
export { verifyModelStructure } from './model/package-structure.ts';
export * from './package/index.ts';
export { directorySource, writePackageDirectory } from './package/node-fs.ts';

/**
 * Reads a package directory and checks all of it, as `pocketrec verify` does: the format
 * (manifest, hashes, tensor extents, finite weights) and the model structure its kind
 * requires. A failure is the ModelPackageError (or PocketrecError) that names it.
 */
export async function readPackageDirectory(
  dir: string,
  options: { onProgress?: (loadedBytes: number, totalBytes: number) => void } = {},
): Promise<ModelPackage> {
  const pkg = await readModelPackage(directorySource(dir), options);
  await verifyModelStructure(pkg);
  return pkg;
}
