// Node-only half of the package format: reading from and writing to a directory.
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelPackageError } from './errors.ts';
import type { PackageSource } from './source.ts';

/**
 * A package directory. Only regular files directly inside it are read: a symlink (to
 * /etc/passwd, /dev/zero), a FIFO or a device is refused before it is opened, the open
 * itself refuses to follow a link swapped in meanwhile, and no read goes past the length
 * the reader asked for plus one byte.
 */
export function directorySource(dir: string): PackageSource {
  const root = resolve(dir);
  return {
    locate: (path) => join(root, path),
    async read(path, limit) {
      const where = join(root, path);
      // Not a plain file of the package: it could lead anywhere (/etc/passwd, /dev/zero, a FIFO).
      const notPlain = (what: string) =>
        new ModelPackageError('bad-path', where, `is a ${what}, not a regular file of the package`);
      const failure = (error: unknown) => {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          return new ModelPackageError('missing-file', where, 'file is missing');
        if (code === 'ELOOP') return notPlain('symbolic link');
        return new ModelPackageError(
          'missing-file',
          where,
          `file cannot be read (${code ?? String(error)})`,
        );
      };
      const entry = await lstat(where).catch((error: unknown) => {
        throw failure(error);
      });
      if (!entry.isFile()) throw notPlain(fileType(entry));
      const handle = await open(
        where,
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      ).catch((error: unknown) => {
        throw failure(error);
      });
      try {
        const opened = await handle.stat();
        if (!opened.isFile()) throw notPlain(fileType(opened));
        const buffer = new Uint8Array(Math.min(limit + 1, entry.size + 1));
        let length = 0;
        while (length < buffer.byteLength) {
          const { bytesRead } = await handle.read(buffer, length, buffer.byteLength - length, null);
          if (bytesRead === 0) break;
          length += bytesRead;
        }
        return length === buffer.byteLength ? buffer : buffer.slice(0, length);
      } finally {
        await handle.close();
      }
    },
  };
}

function fileType(entry: Awaited<ReturnType<typeof lstat>>): string {
  if (entry.isSymbolicLink()) return 'symbolic link';
  if (entry.isDirectory()) return 'directory';
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'device';
  if (entry.isSocket()) return 'socket';
  return 'special file';
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
