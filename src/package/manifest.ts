import { canonicalJson, sha256Hex } from './digest.ts';
import type { Dtype } from './dtypes.ts';
import { isDtype } from './dtypes.ts';
import { ModelPackageError } from './errors.ts';
import { ITEM_ID_ENCODINGS, type ItemIdEncoding } from './item-map.ts';

export const MANIFEST_FILE = 'manifest.json';
export const FORMAT_NAME = 'pocketrec-model';
/**
 * The newest format version, and every version this reader reads. Version 2 adds the
 * integer-delta id map; a package is written in the lowest version that can describe it,
 * so only a package that needs the new id map is closed to version-1 readers, and those
 * refuse it by its version instead of reading items.bin as lines of text.
 */
export const FORMAT_VERSION = 2;
export const FORMAT_VERSIONS = [1, 2] as const;
export type FormatVersion = (typeof FORMAT_VERSIONS)[number];
/** A manifest larger than this is refused before it is parsed (ours are a few KiB). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/**
 * The most items a package may have: a tensor-train table states its item count rather
 * than storing a row per item, so the count itself must be bounded (a score row of this
 * many items is 16 MiB). Far above any catalogue an on-device model serves.
 */
export const MAX_ITEMS = 2 ** 22;
/** Objects and arrays nested deeper than this are refused before the digest recurses into them. */
export const MAX_MANIFEST_DEPTH = 64;

/** Known kinds; the format accepts any lower-case kind so new model families need no format change. */
export type ModelKind =
  | 'sequential-tt'
  | 'sequential-dense'
  | 'sequential-markov'
  | 'sequential-popularity'
  | 'ctr-pruned'
  | 'ctr-dense'
  | (string & {});

export type ArchitectureValue = number | string | boolean | number[] | string[];

export interface FileEntry {
  /** A plain file name inside the package directory. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  file: string;
  /** Byte offset of the first element in `file`; the length follows from dtype and shape. */
  offset: number;
  /** 'item-embedding' marks the tensors that make up the item table (dense or TT cores). */
  role?: 'item-embedding';
  /** int8 or int4 with one scale: value = q * scale. */
  scale?: number;
  /**
   * int8 or int4 with one scale per slice along `axis` instead: shape[axis] scales (float32
   * for int8, float16 for int4) at byte `offset` of the tensor's own file; value = q * scales[slice].
   */
  scales?: { axis: number; offset: number };
}

export interface SizeFigures {
  params: number;
  bytes: number;
  denseEquivalentParams: number;
  denseEquivalentBytes: number;
  embeddingParams: number;
  embeddingBytes: number;
  denseEmbeddingBytes: number;
  /** denseEmbeddingBytes / embeddingBytes */
  embeddingCompression: number;
  /** denseEquivalentBytes / bytes */
  modelCompression: number;
}

export interface Manifest {
  format: typeof FORMAT_NAME;
  formatVersion: FormatVersion;
  kind: ModelKind;
  name: string;
  createdAt: string;
  architecture: Record<string, ArchitectureValue>;
  /**
   * Internal item ids are 1..count (0 is padding); `idMap` lists the external id of each,
   * encoded as `idEncoding` says (absent: 'lines', as in every package before it).
   */
  items: { count: number; idMap: string | null; idEncoding?: ItemIdEncoding };
  training: {
    dataset: string;
    metrics: Record<string, number>;
    notes?: string;
  };
  size: SizeFigures;
  files: FileEntry[];
  tensors: TensorEntry[];
  /** SHA-256 of the canonical JSON of every other field: an edited manifest is caught. */
  manifestSha256: string;
}

export type UnsealedManifest = Omit<Manifest, 'manifestSha256'>;

export async function sealManifest(manifest: UnsealedManifest): Promise<Manifest> {
  const digest = await manifestDigest(manifest);
  return { ...manifest, manifestSha256: digest };
}

async function manifestDigest(manifest: UnsealedManifest): Promise<string> {
  const { manifestSha256: _ignored, ...rest } = manifest as Manifest;
  return sha256Hex(new TextEncoder().encode(canonicalJson(rest)));
}

/** The lowest format version that describes a package with this id map (see FORMAT_VERSION). */
export function formatVersionFor(items: Manifest['items']): FormatVersion {
  return items.idEncoding === 'integer-deltas' ? 2 : 1;
}

/**
 * Without indentation: it is a download like the weights (a third of a small package's
 * manifest was spaces). The digest is over canonicalJson, so whitespace was never part of
 * it and pretty-printed packages still verify; `pocketrec info --manifest` shows it indented.
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(manifest)}\n`);
}

/**
 * Parses and checks the manifest's structure, version and digest. File contents are
 * checked by the reader; this only trusts nothing about the JSON.
 */
export async function parseManifest(bytes: Uint8Array, where = MANIFEST_FILE): Promise<Manifest> {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ModelPackageError(
      'bad-manifest',
      where,
      `manifest is larger than ${MAX_MANIFEST_BYTES} bytes, the most this reader accepts`,
    );
  }
  const parsed = parseStrictJson(bytes);
  if (typeof parsed === 'string') throw new ModelPackageError('bad-manifest', where, parsed);
  const { json } = parsed;
  const check = new ManifestChecker(where);
  const root = check.object(json, 'manifest');
  if (root.format !== FORMAT_NAME) {
    check.fail(`"format" must be "${FORMAT_NAME}", found ${JSON.stringify(root.format)}`);
  }
  if (!(FORMAT_VERSIONS as readonly unknown[]).includes(root.formatVersion)) {
    throw new ModelPackageError(
      'unsupported-version',
      where,
      `format version ${JSON.stringify(root.formatVersion)} is not supported (this pocketrec reads versions ${FORMAT_VERSIONS.join(' and ')})`,
    );
  }
  const manifest = check.manifest(root);
  // Over every field as written, not just the ones this reader knows: an added field is an edit too.
  const expected = await manifestDigest(root as unknown as UnsealedManifest);
  if (manifest.manifestSha256 !== expected) {
    throw new ModelPackageError(
      'manifest-digest',
      where,
      'manifest was modified after it was written (manifestSha256 does not match its content)',
    );
  }
  return manifest;
}

/**
 * JSON bytes a package holds, parsed strictly: UTF-8 (fatal on a bad byte), then refused
 * when too large, too deep or with a repeated key (jsonStructureProblem), since readers
 * that parse the same bytes differently could disagree on what a package says. The problem
 * in words when they are not.
 */
export function parseStrictJson(bytes: Uint8Array): { json: unknown } | string {
  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    json = JSON.parse(text);
  } catch (error) {
    return `not valid UTF-8 JSON (${String(error)})`;
  }
  return jsonStructureProblem(text) ?? { json };
}

/**
 * What JSON.parse lets through and the format forbids: nesting deeper than
 * MAX_MANIFEST_DEPTH, and a key twice in one object (JSON.parse keeps the last, so the
 * digest and a reader that kept the first would see different manifests). One pass over
 * valid JSON text, no recursion. Null when there is neither.
 */
export function jsonStructureProblem(text: string): string | null {
  const objects: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return `key ${JSON.stringify(key)} appears twice in one object`;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      objects.push(c === '{' ? new Set() : null);
      if (objects.length > MAX_MANIFEST_DEPTH) {
        return `nested more than ${MAX_MANIFEST_DEPTH} levels deep`;
      }
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      objects.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = objects[objects.length - 1] instanceof Set;
    }
  }
  return null;
}

/** Quantised dtypes and the largest magnitude one of their stored values can have. */
// The largest magnitude a stored value can have, so the largest multiple of a scale it decodes to.
const QUANTIZED_RANGE = { int8: 128, int4: 8 } as const;

const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeFileName(path: string): boolean {
  return SAFE_FILE.test(path) && path !== MANIFEST_FILE;
}

class ManifestChecker {
  constructor(private readonly where: string) {}

  fail(problem: string): never {
    throw new ModelPackageError('bad-manifest', this.where, problem);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.fail(`"${field}" must be an object`);
    }
    return value as Record<string, unknown>;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string') this.fail(`"${field}" must be a string`);
    return value;
  }

  count(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(`"${field}" must be a non-negative integer, found ${JSON.stringify(value)}`);
    }
    return value;
  }

  finite(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.fail(`"${field}" must be a finite number, found ${JSON.stringify(value)}`);
    }
    return value;
  }

  array(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(`"${field}" must be an array`);
    return value;
  }

  manifest(root: Record<string, unknown>): Manifest {
    const kind = this.string(root.kind, 'kind');
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(kind))
      this.fail(`"kind" ${JSON.stringify(kind)} is not a model kind`);
    const formatVersion = root.formatVersion as FormatVersion;
    const items = this.items(this.object(root.items, 'items'), formatVersion);
    const training = this.object(root.training, 'training');
    const metrics = this.object(training.metrics, 'training.metrics');
    for (const [k, v] of Object.entries(metrics)) this.finite(v, `training.metrics.${k}`);
    const architecture = this.object(root.architecture, 'architecture');
    for (const [k, v] of Object.entries(architecture))
      this.architectureValue(v, `architecture.${k}`);
    const files = this.array(root.files, 'files').map((f, i) => this.file(f, `files[${i}]`));
    const tensors = this.array(root.tensors, 'tensors').map((t, i) =>
      this.tensor(t, `tensors[${i}]`),
    );
    const manifest: Manifest = {
      format: FORMAT_NAME,
      formatVersion,
      kind,
      name: this.string(root.name, 'name'),
      createdAt: this.string(root.createdAt, 'createdAt'),
      architecture: architecture as Record<string, ArchitectureValue>,
      items,
      training: {
        dataset: this.string(training.dataset, 'training.dataset'),
        metrics: metrics as Record<string, number>,
        ...(training.notes === undefined
          ? {}
          : { notes: this.string(training.notes, 'training.notes') }),
      },
      size: this.size(this.object(root.size, 'size')),
      files,
      tensors,
      manifestSha256: this.string(root.manifestSha256, 'manifestSha256'),
    };
    this.crossReferences(manifest);
    return manifest;
  }

  items(items: Record<string, unknown>, formatVersion: FormatVersion): Manifest['items'] {
    const count = this.itemCount(items.count);
    const idMap = items.idMap === null ? null : this.string(items.idMap, 'items.idMap');
    if (items.idEncoding === undefined) return { count, idMap };
    const idEncoding = items.idEncoding;
    if (!(ITEM_ID_ENCODINGS as readonly unknown[]).includes(idEncoding)) {
      this.fail(
        `"items.idEncoding" ${JSON.stringify(idEncoding)} is not an id map encoding this reader knows (${ITEM_ID_ENCODINGS.map((e) => `"${e}"`).join(', ')})`,
      );
    }
    const parsed = { count, idMap, idEncoding: idEncoding as ItemIdEncoding };
    if (formatVersionFor(parsed) > formatVersion) {
      // A version-1 reader would not know to refuse it, and would read the map as text.
      this.fail(
        `"items.idEncoding" ${JSON.stringify(idEncoding)} needs format version ${formatVersionFor(parsed)}, the manifest says ${formatVersion}`,
      );
    }
    return parsed;
  }

  itemCount(value: unknown): number {
    const count = this.count(value, 'items.count');
    if (count > MAX_ITEMS)
      this.fail(`"items.count" ${count} is above the limit of ${MAX_ITEMS} items`);
    return count;
  }

  architectureValue(value: unknown, field: string): void {
    if (typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      this.finite(value, field);
      return;
    }
    const list = this.array(value, field);
    const allNumbers = list.every((v) => typeof v === 'number' && Number.isFinite(v));
    const allStrings = list.every((v) => typeof v === 'string');
    if (!allNumbers && !allStrings) this.fail(`"${field}" must be a list of numbers or of strings`);
  }

  file(value: unknown, field: string): FileEntry {
    const entry = this.object(value, field);
    const path = this.string(entry.path, `${field}.path`);
    if (!isSafeFileName(path)) {
      throw new ModelPackageError(
        'bad-path',
        this.where,
        `${field}.path ${JSON.stringify(path)} is not a plain file name inside the package`,
      );
    }
    const sha256 = this.string(entry.sha256, `${field}.sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) this.fail(`"${field}.sha256" is not a SHA-256 hex digest`);
    return { path, bytes: this.count(entry.bytes, `${field}.bytes`), sha256 };
  }

  tensor(value: unknown, field: string): TensorEntry {
    const entry = this.object(value, field);
    const name = this.string(entry.name, `${field}.name`);
    if (!isDtype(entry.dtype)) {
      throw new ModelPackageError(
        'unknown-dtype',
        this.where,
        `tensor "${name}" has unknown dtype ${JSON.stringify(entry.dtype)}`,
      );
    }
    const shape = this.array(entry.shape, `${field}.shape`).map((d) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        throw new ModelPackageError(
          'bad-shape',
          this.where,
          `tensor "${name}" has shape ${JSON.stringify(entry.shape)}: dimensions must be non-negative integers`,
        );
      }
      return d;
    });
    const tensor: TensorEntry = {
      name,
      dtype: entry.dtype,
      shape,
      file: this.string(entry.file, `${field}.file`),
      offset: this.count(entry.offset, `${field}.offset`),
    };
    if (entry.role !== undefined) {
      if (entry.role !== 'item-embedding') this.fail(`"${field}.role" must be "item-embedding"`);
      tensor.role = entry.role;
    }
    const range = QUANTIZED_RANGE[entry.dtype as keyof typeof QUANTIZED_RANGE];
    if (range !== undefined) {
      if (entry.scales !== undefined) {
        if (entry.scale !== undefined) {
          this.fail(`${entry.dtype} tensor "${name}" has both "scale" and "scales"`);
        }
        tensor.scales = this.axisScales(entry.scales, `${field}.scales`, shape.length);
        return tensor;
      }
      const scale = entry.scale;
      // Every stored value times the scale must decode to a finite float32.
      if (
        typeof scale !== 'number' ||
        !Number.isFinite(scale) ||
        scale <= 0 ||
        Math.fround(scale * range) === Number.POSITIVE_INFINITY
      ) {
        throw new ModelPackageError(
          'bad-quantization',
          this.where,
          `${entry.dtype} tensor "${name}" needs a positive "scale" whose product with ${range} is a finite float32, or per-slice "scales"; found ${JSON.stringify(scale)}`,
        );
      }
      tensor.scale = scale;
    } else if (entry.scale !== undefined || entry.scales !== undefined) {
      const key = entry.scale !== undefined ? 'scale' : 'scales';
      this.fail(`"${field}.${key}" is only allowed on quantised (int8) tensors`);
    }
    return tensor;
  }

  /** Per-slice scales: an axis of the tensor and where its float32 scales start. */
  axisScales(value: unknown, field: string, rank: number): { axis: number; offset: number } {
    const scales = this.object(value, field);
    const axis = this.count(scales.axis, `${field}.axis`);
    if (axis >= rank) {
      throw new ModelPackageError(
        'bad-quantization',
        this.where,
        `"${field}.axis" is ${axis}, but the tensor has ${rank} dimensions`,
      );
    }
    return { axis, offset: this.count(scales.offset, `${field}.offset`) };
  }

  size(size: Record<string, unknown>): SizeFigures {
    const counts = [
      'params',
      'bytes',
      'denseEquivalentParams',
      'denseEquivalentBytes',
      'embeddingParams',
      'embeddingBytes',
      'denseEmbeddingBytes',
    ] as const;
    const out: Record<string, number> = {};
    for (const key of counts) out[key] = this.count(size[key], `size.${key}`);
    out.embeddingCompression = this.finite(size.embeddingCompression, 'size.embeddingCompression');
    out.modelCompression = this.finite(size.modelCompression, 'size.modelCompression');
    return out as unknown as SizeFigures;
  }

  crossReferences(manifest: Manifest): void {
    const files = new Set<string>();
    for (const file of manifest.files) {
      if (files.has(file.path)) this.fail(`file "${file.path}" is listed twice`);
      files.add(file.path);
    }
    const names = new Set<string>();
    for (const tensor of manifest.tensors) {
      if (names.has(tensor.name)) this.fail(`tensor "${tensor.name}" is listed twice`);
      names.add(tensor.name);
      if (!files.has(tensor.file))
        this.fail(
          `tensor "${tensor.name}" refers to file "${tensor.file}", which is not in "files"`,
        );
    }
    if (manifest.items.idMap !== null && !files.has(manifest.items.idMap)) {
      this.fail(`items.idMap "${manifest.items.idMap}" is not in "files"`);
    }
  }
}
