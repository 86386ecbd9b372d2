/**
 * The model package in the browser: downloaded once, verified, kept in IndexedDB.
 *
 * A stored copy is verified again on every load (the same reader and SHA-256 checks as
 * a download), so a disk error, a half-finished write or a meddling extension can only
 * cost a re-download, never a model that silently scores wrong. Versions are swapped
 * atomically: the files of a new version and the pointer to it are written in one
 * transaction, so a reader sees the old version or the new one, never a mix. Storage is
 * a cache, not a requirement: without it (private modes, quota, a blocked upgrade) the
 * verified package is still returned, from memory, with a warning.
 */
import { type DBSchema, type IDBPDatabase, wrap } from 'idb';
import { ModelPackageError } from '../package/errors.ts';
import { MANIFEST_FILE, type Manifest, parseManifest } from '../package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import { memorySource } from '../package/source.ts';
import { RuntimeError } from './errors.ts';
import { abortQuietly, errorSummary, openDatabase } from './idb-open.ts';

export interface ModelStoreOptions {
  /** Defaults to globalThis.indexedDB; null means none (private modes): memory only. */
  indexedDB?: IDBFactory | null;
  /** Default 'pocketrec-models'. */
  dbName?: string;
  /** Default globalThis.fetch; tests and service-worker setups pass their own. */
  fetch?: typeof fetch;
  /** Bytes of the package's files (manifest.json excluded) as they arrive; never decreases. */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

export interface LoadedModel {
  /** Verified: every hash, shape and offset checked, whichever way it came. */
  pkg: ModelPackage;
  from: 'network' | 'indexeddb';
  /** manifest.manifestSha256: it changes whenever any byte of the package does. */
  version: string;
  /** False when it lives in memory only and the next visit downloads it again. */
  persistent: boolean;
  /** What went wrong without stopping the load (storage problems, a damaged stored copy). */
  warnings: string[];
}

const DEFAULT_DB_NAME = 'pocketrec-models';

/** One record per package url: the version the files store holds completely. */
interface PackageRecord {
  url: string;
  version: string;
  /** Every file of that version, manifest.json included. */
  paths: string[];
  storedAt: number;
}

type FileKey = [url: string, version: string, path: string];

interface ModelDb extends DBSchema {
  packages: { key: string; value: PackageRecord };
  files: { key: FileKey; value: Uint8Array };
}

type ModelDatabase = IDBPDatabase<ModelDb>;

interface Download {
  pkg: ModelPackage;
  version: string;
  /** Every file as fetched, manifest.json included: what gets stored. */
  files: Map<string, Uint8Array>;
}

/**
 * The model at `url`, from IndexedDB when a complete copy verifies (no network at all),
 * else from the network, then stored. Rejects with RuntimeError('model-unavailable') when
 * the package cannot be fetched and nothing usable is stored, and with the
 * ModelPackageError itself when the fetched package fails verification (its code names
 * the problem). Storage never makes it fail.
 */
export async function loadModel(
  url: string,
  options: ModelStoreOptions = {},
): Promise<LoadedModel> {
  const root = packageRoot(url);
  const warnings: string[] = [];
  const db = await openStorage(options, warnings);
  try {
    if (db) {
      const stored = await loadStoredCopy(db, root, warnings);
      if (stored) {
        return {
          pkg: stored.pkg,
          from: 'indexeddb',
          version: stored.version,
          persistent: true,
          warnings,
        };
      }
    }
    const fetchImpl = fetchFunction(root, options);
    const remote = await fetchManifest(root, fetchImpl);
    const download = await downloadFiles(root, fetchImpl, remote, options.onProgress);
    const persistent = db ? await storeVersion(db, root, download, warnings) : false;
    return { pkg: download.pkg, from: 'network', version: download.version, persistent, warnings };
  } finally {
    db?.close();
  }
}

/**
 * Brings the stored copy up to the version the server has. The new version is downloaded
 * and verified in full while the old one stays the one loadModel returns; only then does
 * one transaction switch to it. A failed download (a file missing or corrupt) leaves the
 * old version in place and rejects with the ModelPackageError. `version` is the server's
 * version; `updated` says whether the stored copy became it just now.
 */
export async function updateModel(
  url: string,
  options: ModelStoreOptions = {},
): Promise<{ updated: boolean; version: string; warnings: string[] }> {
  const root = packageRoot(url);
  const warnings: string[] = [];
  const db = await openStorage(options, warnings);
  try {
    const fetchImpl = fetchFunction(root, options);
    const remote = await fetchManifest(root, fetchImpl);
    const version = remote.manifest.manifestSha256;
    // Without storage there is no copy to bring up to date: loadModel downloads the newest anyway.
    if (!db) return { updated: false, version, warnings };
    if ((await storedVersion(db, root, warnings)) === version) {
      return { updated: false, version, warnings };
    }
    const download = await downloadFiles(root, fetchImpl, remote, options.onProgress);
    const updated = await storeVersion(db, root, download, warnings);
    return { updated, version, warnings };
  } finally {
    db?.close();
  }
}

/**
 * Forgets the stored copy of `url` (every version). Resolves when nothing can be stored
 * here at all; rejects with RuntimeError('storage-unavailable') when a copy may exist but
 * the database cannot be reached, so a page never believes a model is gone when it is not.
 */
export async function deleteModel(url: string, options: ModelStoreOptions = {}): Promise<void> {
  const root = packageRoot(url);
  const factory = options.indexedDB === undefined ? globalThis.indexedDB : options.indexedDB;
  if (!factory) return;
  const name = options.dbName ?? DEFAULT_DB_NAME;
  let db: ModelDatabase;
  try {
    db = await openModelDatabase(factory, name);
  } catch (error) {
    throw new RuntimeError(
      'storage-unavailable',
      `the stored copy of ${root} could not be deleted: IndexedDB database "${name}" could not be opened (${errorSummary(error)})`,
      { cause: error },
    );
  }
  try {
    const tx = db.transaction(['packages', 'files'], 'readwrite');
    const files = tx.objectStore('files');
    const keys = (await files.getAllKeys()).filter((key) => key[0] === root);
    await Promise.all([
      tx.objectStore('packages').delete(root),
      ...keys.map((k) => files.delete(k)),
    ]);
    await tx.done;
  } catch (error) {
    throw new RuntimeError(
      'storage-unavailable',
      `the stored copy of ${root} could not be deleted (${errorSummary(error)})`,
      { cause: error },
    );
  } finally {
    db.close();
  }
}

/**
 * One key per package whichever way the page spells its url: resolved against the page
 * (relative urls) and always with exactly one trailing slash.
 */
function packageRoot(url: string): string {
  const base = globalThis.location?.href;
  const absolute = base === undefined ? url : new URL(url, base).href;
  return `${absolute.replace(/\/+$/, '')}/`;
}

function fetchFunction(root: string, options: ModelStoreOptions): typeof fetch {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (!fetchImpl) {
    throw new RuntimeError('model-unavailable', `model ${root} cannot be fetched: no fetch here`);
  }
  return fetchImpl;
}

// ---------------------------------------------------------------------------------------------
// Reading and verifying the stored copy

/**
 * The stored copy, verified, or null when there is none or it failed verification (then it
 * is deleted and a warning names the problem, so the caller downloads a fresh one).
 */
async function loadStoredCopy(
  db: ModelDatabase,
  root: string,
  warnings: string[],
): Promise<{ pkg: ModelPackage; version: string } | null> {
  let stored: { version: string; files: Map<string, Uint8Array> } | null;
  try {
    stored = await readStoredFiles(db, root);
  } catch (error) {
    warnings.push(`the stored copy of ${root} could not be read (${errorSummary(error)})`);
    return null;
  }
  if (!stored) return null;
  try {
    const pkg = await readModelPackage(
      memorySource(stored.files, `indexeddb:${root.slice(0, -1)}`),
    );
    if (pkg.manifest.manifestSha256 !== stored.version) {
      throw new ModelPackageError(
        'manifest-digest',
        `indexeddb:${root}${MANIFEST_FILE}`,
        `stored as version ${stored.version} but the manifest is version ${pkg.manifest.manifestSha256}`,
      );
    }
    return { pkg, version: stored.version };
  } catch (error) {
    if (!(error instanceof ModelPackageError)) throw error;
    warnings.push(
      `the stored copy of ${root} (version ${stored.version}) failed verification (${error.code}: ${error.message}); it was deleted and the model fetched again`,
    );
    await deleteVersion(db, root, stored.version).catch((deleteError: unknown) => {
      warnings.push(
        `the damaged copy of ${root} could not be deleted (${errorSummary(deleteError)})`,
      );
    });
    return null;
  }
}

/**
 * The pointer and the files it names, read in one transaction so an update committing in
 * another tab cannot hand us half of each version. Records that are missing or are not
 * bytes are left out: verification then names them.
 */
async function readStoredFiles(
  db: ModelDatabase,
  root: string,
): Promise<{ version: string; files: Map<string, Uint8Array> } | null> {
  const tx = db.transaction(['packages', 'files'], 'readonly');
  const record = await tx.objectStore('packages').get(root);
  if (!record) {
    await tx.done;
    return null;
  }
  const version = String(record.version);
  const paths = Array.isArray(record.paths)
    ? record.paths.filter((p): p is string => typeof p === 'string')
    : [];
  const store = tx.objectStore('files');
  const contents = await Promise.all(paths.map((path) => store.get([root, version, path])));
  await tx.done;
  const files = new Map<string, Uint8Array>();
  paths.forEach((path, i) => {
    const bytes = contents[i];
    if (bytes instanceof Uint8Array) files.set(path, bytes);
  });
  return { version, files };
}

async function storedVersion(
  db: ModelDatabase,
  root: string,
  warnings: string[],
): Promise<string | null> {
  try {
    const record = await db.get('packages', root);
    return record ? String(record.version) : null;
  } catch (error) {
    warnings.push(`the stored copy of ${root} could not be read (${errorSummary(error)})`);
    return null;
  }
}

/** Drops one version's files, and the pointer only if it still names that version. */
async function deleteVersion(db: ModelDatabase, root: string, version: string): Promise<void> {
  const tx = db.transaction(['packages', 'files'], 'readwrite');
  const packages = tx.objectStore('packages');
  const files = tx.objectStore('files');
  const record = await packages.get(root);
  const keys = (await files.getAllKeys()).filter((k) => k[0] === root && k[1] === version);
  await Promise.all([
    ...(record && String(record.version) === version ? [packages.delete(root)] : []),
    ...keys.map((k) => files.delete(k)),
  ]);
  await tx.done;
}

// ---------------------------------------------------------------------------------------------
// Downloading

async function fetchManifest(
  root: string,
  fetchImpl: typeof fetch,
): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
  const where = `${root}${MANIFEST_FILE}`;
  let bytes: Uint8Array;
  try {
    bytes = await fetchFile(root, MANIFEST_FILE, fetchImpl, () => {});
  } catch (error) {
    // No manifest means no package to judge: the model is unavailable, not broken.
    if (error instanceof ModelPackageError) {
      throw new RuntimeError(
        'model-unavailable',
        `model ${root} could not be fetched: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  return { manifest: await parseManifest(bytes, where), bytes };
}

/** Every file the manifest lists, with progress in bytes, then the full verification. */
async function downloadFiles(
  root: string,
  fetchImpl: typeof fetch,
  remote: { manifest: Manifest; bytes: Uint8Array },
  onProgress: ModelStoreOptions['onProgress'],
): Promise<Download> {
  const totalBytes = remote.manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  let loadedBytes = 0;
  onProgress?.(0, totalBytes);
  const files = new Map<string, Uint8Array>([[MANIFEST_FILE, remote.bytes]]);
  for (const file of remote.manifest.files) {
    const bytes = await fetchFile(root, file.path, fetchImpl, (chunkBytes) => {
      loadedBytes += chunkBytes;
      // A file longer than the manifest says fails verification below; progress never overshoots.
      onProgress?.(Math.min(loadedBytes, totalBytes), totalBytes);
    });
    files.set(file.path, bytes);
  }
  const pkg = await readModelPackage(memorySource(files, root.slice(0, -1)));
  return { pkg, version: pkg.manifest.manifestSha256, files };
}

/**
 * A network failure (fetch rejects, the body breaks off) is 'model-unavailable' with the
 * underlying error as its cause; an HTTP error means the server lacks a file the package
 * needs, a ModelPackageError('missing-file') like the reader's own sources raise.
 */
async function fetchFile(
  root: string,
  path: string,
  fetchImpl: typeof fetch,
  onChunk: (bytes: number) => void,
): Promise<Uint8Array> {
  const url = `${root}${path}`;
  const unavailable = (error: unknown) =>
    new RuntimeError(
      'model-unavailable',
      `model ${root} could not be fetched: ${url} failed (${errorSummary(error)})`,
      { cause: error },
    );
  let response: Response;
  try {
    response = await fetchImpl(url);
  } catch (error) {
    throw unavailable(error);
  }
  if (!response.ok) {
    throw new ModelPackageError(
      'missing-file',
      url,
      `could not be fetched (HTTP ${response.status})`,
    );
  }
  try {
    return await readBody(response, onChunk);
  } catch (error) {
    throw unavailable(error);
  }
}

/** The body chunk by chunk, so progress moves during a large file, not only after it. */
async function readBody(response: Response, onChunk: (bytes: number) => void): Promise<Uint8Array> {
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onChunk(bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
    onChunk(value.byteLength);
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

// ---------------------------------------------------------------------------------------------
// Storing

/** Whether the download is now stored; a storage failure is a warning, never an error. */
async function storeVersion(
  db: ModelDatabase,
  root: string,
  download: Download,
  warnings: string[],
): Promise<boolean> {
  try {
    await writeVersion(db, root, download);
  } catch (error) {
    warnings.push(
      `the model from ${root} could not be stored in IndexedDB (${errorSummary(error)}): it is kept in memory only and will be downloaded again next time`,
    );
    return false;
  }
  await removeOtherVersions(db, root).catch((error: unknown) => {
    warnings.push(`older stored versions of ${root} could not be removed (${errorSummary(error)})`);
  });
  return true;
}

/** All files and the pointer in one transaction: it commits whole or not at all. */
async function writeVersion(db: ModelDatabase, root: string, download: Download): Promise<void> {
  const tx = db.transaction(['packages', 'files'], 'readwrite');
  const committed = tx.done;
  // Kept one by one: when a put throws (quota), the requests already made reject with
  // AbortError as the transaction unwinds, and those rejections must not go unhandled.
  const requests: Promise<unknown>[] = [];
  try {
    const files = tx.objectStore('files');
    for (const [path, bytes] of download.files) {
      requests.push(files.put(bytes, [root, download.version, path]));
    }
    const record: PackageRecord = {
      url: root,
      version: download.version,
      paths: [...download.files.keys()],
      storedAt: Date.now(),
    };
    requests.push(tx.objectStore('packages').put(record));
    await Promise.all(requests);
  } catch (error) {
    for (const request of requests) request.catch(() => {});
    committed.catch(() => {});
    abortQuietly(tx);
    throw error;
  }
  await committed;
}

/**
 * Deletes every version but the one the pointer names, read inside the same transaction
 * so a newer version another tab committed meanwhile is kept. Also sweeps files left by a
 * cleanup that never ran (the page closed between the two transactions).
 */
async function removeOtherVersions(db: ModelDatabase, root: string): Promise<void> {
  const tx = db.transaction(['packages', 'files'], 'readwrite');
  const record = await tx.objectStore('packages').get(root);
  const keep = record ? String(record.version) : null;
  const files = tx.objectStore('files');
  const stale = (await files.getAllKeys()).filter((k) => k[0] === root && k[1] !== keep);
  await Promise.all(stale.map((k) => files.delete(k)));
  await tx.done;
}

// ---------------------------------------------------------------------------------------------
// Opening the database

/** The database, or null with a warning saying why the model lives in memory only. */
async function openStorage(
  options: ModelStoreOptions,
  warnings: string[],
): Promise<ModelDatabase | null> {
  if (options.indexedDB === null) {
    warnings.push('IndexedDB is turned off (indexedDB: null): the model is kept in memory only');
    return null;
  }
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) {
    warnings.push('IndexedDB is not available here: the model is kept in memory only');
    return null;
  }
  const name = options.dbName ?? DEFAULT_DB_NAME;
  try {
    return await openModelDatabase(factory, name);
  } catch (error) {
    warnings.push(
      `IndexedDB database "${name}" could not be opened (${errorSummary(error)}): the model is kept in memory only`,
    );
    return null;
  }
}

async function openModelDatabase(factory: IDBFactory, name: string): Promise<ModelDatabase> {
  const hasSchema = (db: IDBDatabase) =>
    db.objectStoreNames.contains('packages') && db.objectStoreNames.contains('files');
  const db = await openDatabase(factory, name, hasSchema, (upgrading) => {
    if (!upgrading.objectStoreNames.contains('packages')) {
      upgrading.createObjectStore('packages', { keyPath: 'url' });
    }
    if (!upgrading.objectStoreNames.contains('files')) upgrading.createObjectStore('files');
  });
  return wrap(db) as unknown as ModelDatabase;
}
