/**
 * The model package in the browser: downloaded once, verified, kept in IndexedDB.
 *
 * A stored copy is verified again on every load (the same reader and SHA-256 checks as
 * a download), so a disk error, a half-finished write or a meddling extension can only
 * cost a re-download, never a model that silently scores wrong. Versions are swapped
 * atomically: the files of a new version and the pointer to it are written in one
 * transaction, so a reader sees the old version or the new one, never a mix. And a
 * downloaded version is stored only when the caller commits it (commitModel), after an
 * engine built from it has worked: one that crashes the worker while being built never
 * takes the place of the last good copy. Storage is a cache, not a requirement: without
 * it (private modes, quota, a blocked upgrade) the verified package is still returned,
 * from memory, with a warning.
 *
 * With a download budget (budget.ts), a progressive ctr-pruned package is fetched only as far
 * as the budget reaches: one HTTP Range request per weight file for the dense weights and
 * the first c chunks, verified by their own hashes (readPrunedPrefix), stored with c. A
 * stored prefix with more chunks than a later budget allows serves it, cut to that budget's
 * chunks, so one budget always gives one model; one with fewer is extended: the same
 * version's missing bytes are fetched with a Range request from where the stored ones end.
 */
import { type DBSchema, type IDBPDatabase, wrap } from 'idb';
import { CTR_PRUNED_KIND } from '../model/ctr/pruned-kind.ts';
import type { PrunedPrefixLayout, RangeSource } from '../model/ctr/pruned-package.ts';
import { ModelPackageError } from '../package/errors.ts';
import {
  type FileEntry,
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  type Manifest,
  parseManifest,
} from '../package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import {
  memorySource,
  missingFileProblem,
  type PackageSource,
  packageFileUrl,
  readResponseBody,
} from '../package/source.ts';
import { chunksWithinBudget, type DownloadBudget, type PrefixInfo } from './budget.ts';
import { RuntimeError } from './errors.ts';
import { abortQuietly, errorSummary, openDatabase } from './idb-open.ts';

export interface ModelStoreOptions {
  /** Defaults to globalThis.indexedDB; null means none (private modes): memory only. */
  indexedDB?: IDBFactory | null;
  /** Default 'pocketrec-models'. */
  dbName?: string;
  /** Default globalThis.fetch; tests and service-worker setups pass their own. */
  fetch?: typeof fetch;
  /**
   * Bytes of the package's files (manifest.json excluded) as they arrive; never decreases.
   * For a prefix (see budget), of the prefix: its bytes already stored count from the start.
   */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /**
   * How much of a progressive ctr-pruned package to fetch (budget.ts); absent or null: the
   * whole package, whatever its kind. Another kind of package is fetched whole anyway.
   */
  budget?: DownloadBudget | null;
  /**
   * Called once the version is known (the manifest read, or the stored copy's pointer) and
   * before anything is built from it, so the worker can name the version a crash is to be
   * blamed on, or refuse one. What it throws rejects the load.
   */
  onVersion?: (version: string) => void;
}

/**
 * A verified package that is not (yet) the stored copy: from the network it is only
 * stored by commitModel, once the caller knows the model works (an engine built from it
 * warmed up), so a package that crashes the worker never replaces the last good one.
 */
export type PreparedModel = {
  /** Verified: every hash, shape and offset checked, whichever way it came. */
  pkg: ModelPackage;
  /** manifest.manifestSha256: it changes whenever any byte of the package does. */
  version: string;
  /** What went wrong without stopping the load (storage problems, a damaged stored copy). */
  warnings: string[];
  /** Set when pkg is a prefix of a progressive package: what a budget took of it. */
  prefix: PrefixInfo | null;
} & (
  | {
      from: 'network';
      /**
       * Every file as fetched, manifest.json included: what commitModel stores (for a
       * prefix, each weight file's first bytes, as far as `prefix.chunks` reach).
       */
      files: ReadonlyMap<string, Uint8Array>;
      /**
       * False when the database could not be opened to look for a stored copy (the
       * warnings say why): commitModel does not try again, since an open queued behind
       * an upgrade that another tab blocks would wait as long as that tab does.
       */
      storable: boolean;
    }
  | { from: 'indexeddb' }
);

/** What loadModel returns: a PreparedModel once committed. */
export interface LoadedModel {
  pkg: ModelPackage;
  from: 'network' | 'indexeddb';
  version: string;
  prefix: PrefixInfo | null;
  /** False when it lives in memory only and the next visit downloads it again. */
  persistent: boolean;
  warnings: string[];
}

/** What the server has, against the version in use (see prepareUpdate). */
export type UpdateCheck =
  | { status: 'current' | 'refused'; version: string }
  | { status: 'new'; version: string; model: PreparedModel & { from: 'network' } };

const DEFAULT_DB_NAME = 'pocketrec-models';

/** One record per package (see packageRoot): the version the files store holds completely. */
interface PackageRecord {
  url: string;
  version: string;
  /** Every file of that version, manifest.json included. */
  paths: string[];
  /** Set when the files hold a prefix of a progressive package: its chunk count. */
  chunks?: number;
  storedAt: number;
}

type FileKey = [url: string, version: string, path: string];

interface ModelDb extends DBSchema {
  packages: { key: string; value: PackageRecord };
  files: { key: FileKey; value: Uint8Array };
}

type ModelDatabase = IDBPDatabase<ModelDb>;

/**
 * The model at `url`, from IndexedDB when a copy verifies and holds all the budget asks
 * for (no network at all), else from the network, verified but NOT stored: commitModel
 * stores it once it has been shown to work. Rejects with RuntimeError('model-unavailable')
 * when the package cannot be fetched and nothing usable is stored (a stored prefix shorter
 * than the budget asks for is used then, with a warning), with the ModelPackageError itself
 * when the fetched package fails verification (its code names the problem), with
 * RuntimeError('budget-too-small') when the budget cannot hold the package's dense weights,
 * and with whatever onVersion throws. Storage never makes it fail.
 */
export async function prepareModel(
  url: string,
  options: ModelStoreOptions = {},
): Promise<PreparedModel> {
  const root = packageRoot(url);
  const warnings: string[] = [];
  const db = await openStorage(options, warnings);
  let stored: StoredCopy | null = null;
  if (db) {
    try {
      stored = await loadStoredCopy(db, root, warnings, options);
    } finally {
      db.close();
    }
  }
  const fromStore = (copy: StoredCopy): PreparedModel => ({
    from: 'indexeddb',
    pkg: copy.pkg,
    version: copy.version,
    prefix: copy.prefix,
    warnings,
  });
  if (stored?.enough) return fromStore(stored);
  try {
    const fetchImpl = fetchFunction(root, options);
    const remote = await fetchManifest(root, fetchImpl);
    options.onVersion?.(remote.manifest.manifestSha256);
    const same = stored?.version === remote.manifest.manifestSha256;
    const download = await downloadPackage(root, fetchImpl, remote, options, warnings, {
      have: same ? (stored?.files ?? null) : null,
    });
    return { from: 'network', ...download, storable: db !== null, warnings };
  } catch (error) {
    // Offline with a shorter prefix stored: a smaller model beats none.
    const unavailable = error instanceof RuntimeError && error.code === 'model-unavailable';
    if (!(stored && unavailable)) throw error;
    options.onVersion?.(stored.version);
    warnings.push(
      `${error.message}; the stored copy (${stored.prefix?.chunks ?? 0} chunks) is used until it can be fetched`,
    );
    return fromStore(stored);
  }
}

/**
 * Asks the server for its version of `url`. The same as `current` (the version in use) or
 * one of `refused`: nothing is downloaded. Otherwise the new version is downloaded and
 * verified, and stored by nobody: the stored copy stays the version in use until
 * commitModel. A failed download rejects with the ModelPackageError.
 */
export async function prepareUpdate(
  url: string,
  options: ModelStoreOptions & { current: string | null; refused?: readonly string[] },
): Promise<UpdateCheck> {
  const root = packageRoot(url);
  const fetchImpl = fetchFunction(root, options);
  const remote = await fetchManifest(root, fetchImpl);
  const version = remote.manifest.manifestSha256;
  if (version === options.current) return { status: 'current', version };
  if (options.refused?.includes(version)) return { status: 'refused', version };
  options.onVersion?.(version);
  const warnings: string[] = [];
  const download = await downloadPackage(root, fetchImpl, remote, options, warnings, {
    have: null,
  });
  return {
    status: 'new',
    version,
    model: { from: 'network', ...download, storable: true, warnings },
  };
}

/**
 * Makes a prepared model the stored copy of `url`: its files and the pointer in one
 * transaction, then the other versions removed. A model read from IndexedDB is stored
 * already. Never rejects: `persistent` false and a warning when it could not be stored.
 */
export async function commitModel(
  url: string,
  model: PreparedModel,
  options: Pick<ModelStoreOptions, 'indexedDB' | 'dbName'> = {},
): Promise<{ persistent: boolean; warnings: string[] }> {
  if (model.from === 'indexeddb') return { persistent: true, warnings: [] };
  if (!model.storable) return { persistent: false, warnings: [] };
  const root = packageRoot(url);
  const warnings: string[] = [];
  const db = await openStorage(options, warnings);
  if (!db) return { persistent: false, warnings };
  try {
    const persistent = await storeVersion(db, root, model, warnings);
    return { persistent, warnings };
  } finally {
    db.close();
  }
}

/**
 * prepareModel and commitModel at once, for a caller with nothing to try the model on
 * first. The worker keeps them apart (see worker.ts).
 */
export async function loadModel(
  url: string,
  options: ModelStoreOptions = {},
): Promise<LoadedModel> {
  const prepared = await prepareModel(url, options);
  const saved = await commitModel(url, prepared, options);
  return {
    pkg: prepared.pkg,
    from: prepared.from,
    version: prepared.version,
    prefix: prepared.prefix,
    persistent: saved.persistent,
    warnings: [...prepared.warnings, ...saved.warnings],
  };
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
 * The package's key in IndexedDB, and the directory its file URLs are resolved against
 * (packageFileUrl): one key per package whichever way the page spells its url. Resolved
 * against the page; the fragment dropped (no server ever sees it); the path with exactly
 * one trailing slash. The query stays in the key: `?v=2` or another signed path may be
 * another build at the same path, and a stored copy is used with no request at all, so
 * one key for both would serve a page asking for `?v=2` the copy another page stored for
 * `?v=1`. (A token that changes on every visit therefore costs a download per visit.)
 */
export function packageRoot(url: string): string {
  let resolved: URL;
  try {
    resolved = new URL(url, globalThis.location?.href);
  } catch (error) {
    throw new RuntimeError('bad-request', `model ${JSON.stringify(url)} is not a URL`, {
      cause: error,
    });
  }
  resolved.hash = '';
  resolved.pathname = `${resolved.pathname.replace(/\/+$/, '')}/`;
  return resolved.href;
}

/** A prefix held in memory, for readPrunedPrefix; its files named as heldSource names them. */
function heldRangeSource(
  files: ReadonlyMap<string, Uint8Array>,
  locate: (path: string) => string,
): RangeSource {
  return {
    locate,
    async readRange(path, start, end) {
      const bytes = files.get(path);
      if (!bytes) throw new ModelPackageError('missing-file', locate(path), 'file is missing');
      return bytes.subarray(start, Math.min(end, bytes.byteLength));
    },
  };
}

/** A package held in memory, its files named where they came from (query and all). */
function heldSource(
  files: ReadonlyMap<string, Uint8Array>,
  locate: (path: string) => string,
): PackageSource {
  const memory = memorySource(files);
  return {
    locate,
    read(path, limit) {
      if (!files.has(path)) {
        return Promise.reject(
          new ModelPackageError('missing-file', locate(path), 'file is missing'),
        );
      }
      return memory.read(path, limit);
    },
  };
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

/** A stored copy, verified as far as it is used. */
interface StoredCopy {
  pkg: ModelPackage;
  version: string;
  prefix: PrefixInfo | null;
  /** Whether it holds all that was asked for; if not, a shorter prefix to extend or fall back on. */
  enough: boolean;
  files: ReadonlyMap<string, Uint8Array>;
}

interface StoredFiles {
  version: string;
  files: Map<string, Uint8Array>;
  /** The record's chunk count: set for a stored prefix. */
  chunks: unknown;
}

/**
 * The stored copy, verified, or null when there is none or it failed verification (then it
 * is deleted and a warning names the problem, so the caller downloads a fresh one).
 */
async function loadStoredCopy(
  db: ModelDatabase,
  root: string,
  warnings: string[],
  options: Pick<ModelStoreOptions, 'onVersion' | 'budget'>,
): Promise<StoredCopy | null> {
  let stored: StoredFiles | null;
  try {
    stored = await readStoredFiles(db, root);
  } catch (error) {
    warnings.push(`the stored copy of ${root} could not be read (${errorSummary(error)})`);
    return null;
  }
  if (!stored) return null;
  // Outside the try below: a refused version is not a damaged copy, and is not deleted.
  options.onVersion?.(stored.version);
  try {
    return await verifyStoredCopy(root, stored, options.budget ?? null, warnings);
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
 * Verifies a stored copy with the reader a download would go through: readModelPackage for
 * a whole package, readPrunedPrefix for a prefix (a stored one, or the part of a whole
 * progressive package that the budget takes). Rejects with the ModelPackageError of a
 * damaged copy, and with 'budget-too-small' as a download would.
 */
async function verifyStoredCopy(
  root: string,
  stored: StoredFiles,
  budget: DownloadBudget | null,
  warnings: string[],
): Promise<StoredCopy> {
  const locate = (path: string) => `indexeddb:${packageFileUrl(root, path)}`;
  const held = heldSource(stored.files, locate);
  const manifestBytes = await held.read(MANIFEST_FILE, MAX_MANIFEST_BYTES);
  const manifest = await parseManifest(manifestBytes, locate(MANIFEST_FILE));
  if (manifest.manifestSha256 !== stored.version) {
    throw new ModelPackageError(
      'manifest-digest',
      locate(MANIFEST_FILE),
      `stored as version ${stored.version} but the manifest is version ${manifest.manifestSha256}`,
    );
  }
  const plan = budget ? await budgetPlan(manifest, budget, root, warnings) : null;
  const copy = { version: stored.version, files: stored.files };
  const range = heldRangeSource(stored.files, locate);
  if (stored.chunks === undefined) {
    if (!plan) return { ...copy, pkg: await readModelPackage(held), prefix: null, enough: true };
    const { readPrunedPrefix } = await prunedReader();
    const pkg = await readPrunedPrefix(manifest, range, plan.chunks);
    return { ...copy, pkg, prefix: prefixInfo(plan), enough: true };
  }
  const { prunedPrefixLayout, readPrunedPrefix } = await prunedReader();
  const layout = prunedPrefixLayout(manifest, locate);
  const kept = stored.chunks;
  if (!(typeof kept === 'number' && Number.isSafeInteger(kept) && kept <= layout.chunks)) {
    throw new ModelPackageError(
      'bad-manifest',
      locate(MANIFEST_FILE),
      `stored as a prefix of ${JSON.stringify(kept)} chunks, the package has ${layout.chunks}`,
    );
  }
  const chunks = Math.min(kept, plan?.chunks ?? kept);
  const pkg = await readPrunedPrefix(manifest, range, chunks);
  const enough = plan !== null && plan.chunks <= kept;
  return { ...copy, pkg, prefix: prefixInfo(prefixAt(manifest, layout, chunks)), enough };
}

/**
 * The pointer and the files it names, read in one transaction so an update committing in
 * another tab cannot hand us half of each version. Records that are missing or are not
 * bytes are left out: verification then names them.
 */
async function readStoredFiles(db: ModelDatabase, root: string): Promise<StoredFiles | null> {
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
  return { version, files, chunks: record.chunks };
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
  let bytes: Uint8Array;
  try {
    // A larger manifest is refused by parseManifest: one byte past the cap is enough to see it.
    bytes = await fetchFile(root, MANIFEST_FILE, MAX_MANIFEST_BYTES, fetchImpl, () => {});
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
  return { manifest: await parseManifest(bytes, packageFileUrl(root, MANIFEST_FILE)), bytes };
}

/** The whole package, or the prefix of it the budget allows (budgetPlan). */
async function downloadPackage(
  root: string,
  fetchImpl: typeof fetch,
  remote: { manifest: Manifest; bytes: Uint8Array },
  options: Pick<ModelStoreOptions, 'budget' | 'onProgress'>,
  warnings: string[],
  stored: { have: ReadonlyMap<string, Uint8Array> | null },
): Promise<{
  pkg: ModelPackage;
  version: string;
  files: Map<string, Uint8Array>;
  prefix: PrefixInfo | null;
}> {
  const plan = options.budget
    ? await budgetPlan(remote.manifest, options.budget, root, warnings)
    : null;
  if (!plan) {
    return { ...(await downloadFiles(root, fetchImpl, remote, options.onProgress)), prefix: null };
  }
  const download = await downloadPrefix(root, fetchImpl, remote, plan, {
    have: stored.have,
    onProgress: options.onProgress,
  });
  return { ...download, prefix: prefixInfo(plan) };
}

/** A prefix of a progressive package: its chunk count, and the bytes of each file it takes. */
interface PrefixPlan extends PrefixInfo {
  /** Each weight file's first bytes needed, and the files read whole (prunedPrefixLayout). */
  ends: ReadonlyMap<string, number>;
  attachments: readonly FileEntry[];
}

/**
 * The pruned-package reader, loaded only for a progressive package's prefix: it comes with
 * the CTR model code (and tfjs), which a next-item model on the fused kernels never needs.
 */
function prunedReader() {
  return import('../model/ctr/pruned-package.ts');
}

function isProgressive(manifest: Manifest): boolean {
  return manifest.kind === CTR_PRUNED_KIND && manifest.architecture.layout === 'progressive';
}

/**
 * What a budget takes of this package: the prefix of as many chunks as fit, or null for the
 * whole package when it is not progressive (with a warning if it is larger than the budget).
 */
async function budgetPlan(
  manifest: Manifest,
  budget: DownloadBudget,
  root: string,
  warnings: string[],
): Promise<PrefixPlan | null> {
  if (!isProgressive(manifest)) {
    const total = totalFileBytes(manifest);
    if (total > budget.bytes) {
      warnings.push(
        `model ${root} is not a progressive package, so it was fetched whole: ${total} bytes, over the budget of ${budget.bytes}`,
      );
    }
    return null;
  }
  const { prunedPrefixLayout } = await prunedReader();
  const layout = prunedPrefixLayout(manifest, (path) => packageFileUrl(root, path));
  return prefixAt(manifest, layout, chunksWithinBudget(layout.bytes, budget, root));
}

function prefixAt(manifest: Manifest, layout: PrunedPrefixLayout, chunks: number): PrefixPlan {
  return {
    chunks,
    totalChunks: layout.chunks,
    bytes: layout.bytes[chunks] ?? 0,
    totalBytes: totalFileBytes(manifest),
    ends: layout.ends[chunks] ?? new Map(),
    attachments: layout.attachments,
  };
}

function prefixInfo(plan: PrefixPlan): PrefixInfo {
  const { chunks, totalChunks, bytes, totalBytes } = plan;
  return { chunks, totalChunks, bytes, totalBytes };
}

function totalFileBytes(manifest: Manifest): number {
  return manifest.files.reduce((sum, f) => sum + f.bytes, 0);
}

/**
 * The plan's bytes of each file, one Range request per file for what `have` (the same
 * version's stored prefix) lacks, then readPrunedPrefix's checks: the head's and every
 * chunk's SHA-256, the attachments' file hashes. Progress counts the prefix's bytes, those
 * already stored first.
 */
async function downloadPrefix(
  root: string,
  fetchImpl: typeof fetch,
  remote: { manifest: Manifest; bytes: Uint8Array },
  plan: PrefixPlan,
  options: {
    have: ReadonlyMap<string, Uint8Array> | null;
    onProgress: ModelStoreOptions['onProgress'];
  },
): Promise<{ pkg: ModelPackage; version: string; files: Map<string, Uint8Array> }> {
  const wanted = new Map(plan.ends);
  for (const file of plan.attachments) wanted.set(file.path, file.bytes);
  const stored = new Map<string, Uint8Array>();
  let loaded = 0;
  for (const [path, end] of wanted) {
    const bytes = options.have?.get(path)?.subarray(0, end) ?? new Uint8Array(0);
    stored.set(path, bytes);
    loaded += bytes.byteLength;
  }
  const report = () => options.onProgress?.(Math.min(loaded, plan.bytes), plan.bytes);
  report();
  const files = new Map<string, Uint8Array>([[MANIFEST_FILE, remote.bytes]]);
  for (const [path, end] of wanted) {
    const kept = stored.get(path) ?? new Uint8Array(0);
    const rest =
      kept.byteLength < end
        ? await fetchRange(root, path, { start: kept.byteLength, end }, fetchImpl, (bytes) => {
            loaded += bytes;
            report();
          })
        : new Uint8Array(0);
    files.set(path, joinBytes(kept, rest));
  }
  const locate = (path: string) => packageFileUrl(root, path);
  const { readPrunedPrefix } = await prunedReader();
  const pkg = await readPrunedPrefix(remote.manifest, heldRangeSource(files, locate), plan.chunks);
  return { pkg, version: remote.manifest.manifestSha256, files };
}

/** One exact buffer (structured clone would store a view's whole buffer). */
function joinBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const whole = head.byteOffset === 0 && head.byteLength === head.buffer.byteLength;
  if (tail.byteLength === 0 && whole) return head;
  const bytes = new Uint8Array(head.byteLength + tail.byteLength);
  bytes.set(head);
  bytes.set(tail, head.byteLength);
  return bytes;
}

/** Every file the manifest lists, with progress in bytes, then the full verification. */
async function downloadFiles(
  root: string,
  fetchImpl: typeof fetch,
  remote: { manifest: Manifest; bytes: Uint8Array },
  onProgress: ModelStoreOptions['onProgress'],
): Promise<{ pkg: ModelPackage; version: string; files: Map<string, Uint8Array> }> {
  const totalBytes = remote.manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  let doneBytes = 0;
  onProgress?.(0, totalBytes);
  const files = new Map<string, Uint8Array>([[MANIFEST_FILE, remote.bytes]]);
  for (const file of remote.manifest.files) {
    let fileBytes = 0;
    // Each file is read to its stated length plus one byte (then the reader calls it
    // oversized), and counted up to its stated length only: progress never overshoots.
    const bytes = await fetchFile(root, file.path, file.bytes, fetchImpl, (chunkBytes) => {
      fileBytes += chunkBytes;
      onProgress?.(doneBytes + Math.min(fileBytes, file.bytes), totalBytes);
    });
    doneBytes += Math.min(bytes.byteLength, file.bytes);
    files.set(file.path, bytes);
  }
  const pkg = await readModelPackage(heldSource(files, (path) => packageFileUrl(root, path)));
  return { pkg, version: pkg.manifest.manifestSha256, files };
}

/**
 * At most `limit + 1` bytes of one file (readResponseBody cancels the rest of the body).
 * A network failure (fetch rejects, the body breaks off) is 'model-unavailable' with the
 * underlying error as its cause; an HTTP error means the server lacks a file the package
 * needs, a ModelPackageError('missing-file') like the reader's own sources raise.
 */
async function fetchFile(
  root: string,
  path: string,
  limit: number,
  fetchImpl: typeof fetch,
  onChunk: (bytes: number) => void,
): Promise<Uint8Array> {
  const url = packageFileUrl(root, path);
  const response = await request(root, url, fetchImpl);
  const missing = missingFileProblem(response);
  if (missing) throw new ModelPackageError('missing-file', url, missing);
  return readBody(root, url, response, limit, onChunk);
}

/**
 * Bytes start..end-1 of one file, asked for with `Range: bytes=start-(end-1)`, and never
 * more read: a 206 is read from where its Content-Range starts; a 200 (a server that
 * ignores Range) is the whole file, read only up to `end` and then cancelled. Fewer bytes
 * when the file is shorter (a 416 past its end gives none): readPrunedPrefix then names
 * the chunk cut short. `onBytes` counts the bytes of the range only.
 */
async function fetchRange(
  root: string,
  path: string,
  range: { start: number; end: number },
  fetchImpl: typeof fetch,
  onBytes: (bytes: number) => void,
): Promise<Uint8Array> {
  const url = packageFileUrl(root, path);
  const { start, end } = range;
  const headers = { Range: `bytes=${start}-${end - 1}` };
  const response = await request(root, url, fetchImpl, { headers });
  if (response.status === 416) {
    await response.body?.cancel().catch(() => {});
    return new Uint8Array(0);
  }
  const missing = missingFileProblem(response);
  if (missing) throw new ModelPackageError('missing-file', url, missing);
  const first = rangeStartOf(response);
  if (!(first <= start)) {
    await response.body?.cancel().catch(() => {});
    throw new RuntimeError(
      'model-unavailable',
      `model ${root} could not be fetched: ${url} answered a request for bytes from ${start} with 206 and Content-Range ${JSON.stringify(response.headers.get('content-range'))}`,
    );
  }
  const skip = start - first;
  let received = 0;
  const body = await readBody(root, url, response, skip + end - start - 1, (bytes) => {
    const before = Math.max(0, received - skip);
    received += bytes;
    onBytes(Math.max(0, received - skip) - before);
  });
  return body.subarray(Math.min(skip, body.byteLength));
}

const CONTENT_RANGE = /^\s*bytes\s+(\d+)-\d+\/(?:\d+|\*)\s*$/i;

/**
 * The first byte of the file a response carries: 0 for a whole file (a server that ignores
 * Range), the Content-Range's start for a 206, NaN for a 206 that does not say.
 */
function rangeStartOf(response: Response): number {
  if (response.status !== 206) return 0;
  const header = response.headers.get('content-range') ?? '';
  return Number(CONTENT_RANGE.exec(header)?.[1] ?? Number.NaN);
}

/** fetch, a failure to reach the server being 'model-unavailable'. */
async function request(
  root: string,
  url: string,
  fetchImpl: typeof fetch,
  init?: RequestInit,
): Promise<Response> {
  try {
    return await (init ? fetchImpl(url, init) : fetchImpl(url));
  } catch (error) {
    throw unavailable(root, url, error);
  }
}

/** readResponseBody, a body that breaks off being 'model-unavailable'. */
async function readBody(
  root: string,
  url: string,
  response: Response,
  limit: number,
  onChunk: (bytes: number) => void,
): Promise<Uint8Array> {
  try {
    return await readResponseBody(response, limit, onChunk);
  } catch (error) {
    throw unavailable(root, url, error);
  }
}

function unavailable(root: string, url: string, error: unknown): RuntimeError {
  return new RuntimeError(
    'model-unavailable',
    `model ${root} could not be fetched: ${url} failed (${errorSummary(error)})`,
    { cause: error },
  );
}

// ---------------------------------------------------------------------------------------------
// Storing

/** Whether the download is now stored; a storage failure is a warning, never an error. */
async function storeVersion(
  db: ModelDatabase,
  root: string,
  model: PreparedModel & { from: 'network' },
  warnings: string[],
): Promise<boolean> {
  try {
    await writeVersion(db, root, model);
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

/**
 * All files and the pointer in one transaction: it commits whole or not at all. A longer
 * prefix of the version stored overwrites its files under the same keys.
 */
async function writeVersion(
  db: ModelDatabase,
  root: string,
  { version, files, prefix }: PreparedModel & { from: 'network' },
): Promise<void> {
  const tx = db.transaction(['packages', 'files'], 'readwrite');
  const committed = tx.done;
  // Kept one by one: when a put throws (quota), the requests already made reject with
  // AbortError as the transaction unwinds, and those rejections must not go unhandled.
  const requests: Promise<unknown>[] = [];
  try {
    const store = tx.objectStore('files');
    for (const [path, bytes] of files) requests.push(store.put(bytes, [root, version, path]));
    const record: PackageRecord = {
      url: root,
      version,
      paths: [...files.keys()],
      ...(prefix ? { chunks: prefix.chunks } : {}),
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
