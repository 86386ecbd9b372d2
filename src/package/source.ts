import { ModelPackageError } from './errors.ts';

/**
 * Where a package's files come from: a directory (Node), a URL (browser), IndexedDB
 * records or memory. The reader only ever asks for whole files by name, and says how long
 * it expects each to be.
 */
export interface PackageSource {
  /** How to name a file of this package in an error message. */
  locate(path: string): string;
  /**
   * The file's bytes, but never more than `limit + 1` of them: a source stops reading
   * there, so a file longer than the manifest says costs one byte over its stated length,
   * not its real one, and the reader still sees that it is too long. Rejects with
   * ModelPackageError('missing-file') when the file does not exist (or is not a plain file).
   */
  read(path: string, limit: number): Promise<Uint8Array>;
}

export function memorySource(
  files: ReadonlyMap<string, Uint8Array>,
  label = 'memory',
): PackageSource {
  return {
    locate: (path) => `${label}/${path}`,
    async read(path, limit) {
      const bytes = files.get(path);
      if (!bytes)
        throw new ModelPackageError('missing-file', `${label}/${path}`, 'file is missing');
      return bytes.byteLength > limit + 1 ? bytes.subarray(0, limit + 1) : bytes;
    },
  };
}

/**
 * A package's file URLs, resolved with the URL API: `model` names the package directory
 * (with or without a trailing slash); its query string travels with every file request
 * (signed or versioned URLs) and its fragment with none.
 */
export function packageFileUrl(model: string, path: string): string {
  const directory = new URL(model);
  directory.hash = '';
  if (!directory.pathname.endsWith('/')) directory.pathname += '/';
  const file = new URL(path, directory);
  file.search = directory.search;
  return file.href;
}

/**
 * A response body read chunk by chunk up to `limit + 1` bytes, then cancelled: a server
 * that sends more than the manifest says is caught after one byte too many, however much
 * it would have sent. `onChunk` sees each chunk's length as it arrives.
 */
export async function readResponseBody(
  response: Response,
  limit: number,
  onChunk: (bytes: number) => void = () => {},
): Promise<Uint8Array> {
  const cap = limit + 1;
  if (!response.body) {
    // Only a response built by hand lacks a stream; it is in memory already.
    const bytes = new Uint8Array(await response.arrayBuffer());
    const kept = bytes.byteLength > cap ? bytes.slice(0, cap) : bytes;
    onChunk(kept.byteLength);
    return kept;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < cap) {
      const { done, value } = await reader.read();
      if (done) break;
      const kept = length + value.byteLength > cap ? value.subarray(0, cap - length) : value;
      chunks.push(kept);
      length += kept.byteLength;
      onChunk(kept.byteLength);
    }
  } finally {
    if (length >= cap) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  // One exact buffer: structured clone stores a view's whole buffer, not just the view.
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Why a response does not carry the file asked for, or null. Besides an HTTP error: an HTML
 * page, which static hosts and dev servers with a single-page-app fallback send with status
 * 200 for a path they do not have. No package file is HTML, so it is reported as missing,
 * not as a file of the wrong length.
 */
export function missingFileProblem(response: Response): string | null {
  if (!response.ok) return `could not be fetched (HTTP ${response.status})`;
  const type = response.headers.get('content-type') ?? '';
  if (/^\s*text\/html\b/i.test(type)) {
    return 'the server answered with an HTML page, not this file (a fallback page for a missing path?)';
  }
  return null;
}

/** Fetches files relative to a package URL (see packageFileUrl). */
export function urlSource(base: string, fetchImpl: typeof fetch = fetch): PackageSource {
  const absolute = new URL(base, globalThis.location?.href).href;
  return {
    locate: (path) => packageFileUrl(absolute, path),
    async read(path, limit) {
      const url = packageFileUrl(absolute, path);
      let response: Response;
      try {
        response = await fetchImpl(url);
      } catch (error) {
        throw new ModelPackageError('missing-file', url, `could not be fetched (${String(error)})`);
      }
      const missing = missingFileProblem(response);
      if (missing) throw new ModelPackageError('missing-file', url, missing);
      return readResponseBody(response, limit);
    },
  };
}
