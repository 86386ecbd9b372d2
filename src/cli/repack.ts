/**
 * `pocketrec repack <package> --out <dir>`: the same model written again in this version's
 * format (a compact manifest, the binary id map for integer ids), every tensor byte for byte
 * and the name, notes, metrics and creation time kept. A package made before the format
 * shrank its fixed costs then weighs what a new one would, which is what a comparison by
 * downloaded bytes needs. `--out` may be the package itself: it is replaced whole.
 */

import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import { MANIFEST_FILE } from '../package/manifest.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { repackageSpec } from '../package/repackage.ts';
import { buildModelPackage } from '../package/writer.ts';
import { kibText, type Output, printJson } from './output.ts';

export async function repackCommand(
  dir: string,
  options: { out: string; json?: boolean },
  output: Output,
): Promise<void> {
  // Only the package itself may be replaced: another one at --out would be lost.
  if (resolve(options.out) !== resolve(dir) && existsSync(join(options.out, MANIFEST_FILE))) {
    throw new UsageError(`${options.out} already holds another model package; remove it first`);
  }
  const source = directorySource(dir);
  const pkg = await readModelPackage(source);
  await verifyModelStructure(pkg);
  const { manifest } = pkg;
  const before =
    (await stat(join(dir, MANIFEST_FILE))).size + manifest.files.reduce((n, f) => n + f.bytes, 0);
  const spec = repackageSpec(pkg, {
    name: manifest.name,
    notes: manifest.training.notes,
    metrics: manifest.training.metrics,
  });
  const built = await buildModelPackage({ ...spec, createdAt: new Date(manifest.createdAt) });
  await writePackageDirectory(options.out, built.files);
  const after = [...built.files.values()].reduce((n, b) => n + b.byteLength, 0);
  const summary = { package: dir, out: options.out, bytesBefore: before, bytesAfter: after };
  if (options.json) printJson(output, summary);
  else output.out(`wrote ${options.out}: ${kibText(after)}, was ${kibText(before)}`);
}
