// Node-only half of the package format: reading from and writing to a directory.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelPackageError } from './errors.ts';
import type { PackageSource } from './source.ts';

export function directorySource(dir: string): PackageSource {
  const root = resolve(dir);
  return {
    locate: (path) => join(root, path),
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(root, path)));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const problem =
          code === 'ENOENT' ? 'file is missing' : `file cannot be read (${code ?? String(error)})`;
        throw new ModelPackageError('missing-file', join(root, path), problem);
      }
    },
  };
}

/**
 * Writes into a sibling temp directory and renames it into place, so an interrupted
 * export never leaves a half-written package where a good one was.
 */
export async function writePackageDirectory(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<void> {
  const target = resolve(dir);
  const staging = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const [path, bytes] of files) await writeFile(join(staging, path), bytes);
  const previous = `${staging}-old`;
  await rm(previous, { recursive: true, force: true });
  await rename(target, previous).catch(() => undefined);
  await rename(staging, target);
  await rm(previous, { recursive: true, force: true });
}
