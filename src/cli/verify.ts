import { verifyModelStructure } from '../model/package-structure.ts';
import { directorySource } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { type Output, printJson } from './output.ts';
import { progressBar } from './progress.ts';

/** Full check of a package; a failure surfaces as the ModelPackageError that names it. */
export async function verifyCommand(
  dir: string,
  options: { json?: boolean },
  output: Output,
): Promise<void> {
  const progress = progressBar('verifying', { enabled: !options.json, unit: 'bytes' });
  const pkg = await readModelPackage(directorySource(dir), {
    onProgress: (done, total) => progress.update(done, total),
  }).finally(() => progress.stop());
  const { manifest, tensors, itemIds } = pkg;
  const structure = await verifyModelStructure(pkg);
  const summary = {
    ok: true,
    package: dir,
    files: manifest.files.length,
    tensors: tensors.size,
    itemIds: itemIds?.length ?? 0,
    checked: [
      'manifest structure, version and digest',
      'file lengths and SHA-256',
      'tensor shapes, offsets and overlap',
      'size figures',
      'finite weights',
      'item id map',
      `model structure (${structure})`,
    ],
  };
  if (options.json) printJson(output, summary);
  else
    output.out(
      `ok: ${dir}: ${summary.files} files, ${summary.tensors} tensors verified (${summary.checked.join('; ')})`,
    );
}
