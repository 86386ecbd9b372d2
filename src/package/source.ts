import { ModelPackageError } from './errors.ts';

/**
 * Where a package's files come from: a directory (Node), a URL (browser), IndexedDB
 * records or memory. The reader only ever asks for whole files by name.
 */
export interface PackageSource {
  /** How to name a file of this package in an error message. */
  locate(path: string): string;
  /** The file's bytes; rejects with ModelPackageError('missing-file') when it does not exist. */
  read(path: string): Promise<Uint8Array>;
}

export function memorySource(
  files: ReadonlyMap<string, Uint8Array>,
  label = 'memory',
): PackageSource {
  return {
    locate: (path) => `${label}/${path}`,
    async read(path) {
      const bytes = files.get(path);
      if (!bytes)
        throw new ModelPackageError('missing-file', `${label}/${path}`, 'file is missing');
      return bytes;
    },
  };
}

/** Fetches files relative to a base URL (a directory URL, with or without the trailing slash). */
export function urlSource(base: string, fetchImpl: typeof fetch = fetch): PackageSource {
  const root = base.endsWith('/') ? base : `${base}/`;
  return {
    locate: (path) => `${root}${path}`,
    async read(path) {
      const url = `${root}${path}`;
      let response: Response;
      try {
        response = await fetchImpl(url);
      } catch (error) {
        throw new ModelPackageError('missing-file', url, `could not be fetched (${String(error)})`);
      }
      if (!response.ok) {
        throw new ModelPackageError(
          'missing-file',
          url,
          `could not be fetched (HTTP ${response.status})`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}
