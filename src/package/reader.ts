import { sha256Hex } from './digest.ts';
import {
  type AxisScales,
  alignmentOf,
  byteLength,
  type Dtype,
  int4PaddingIsZero,
  type StoredArray,
  scalesDtype,
  toFloat32,
  viewAs,
} from './dtypes.ts';
import { ModelPackageError } from './errors.ts';
import { decodeItemIds } from './item-map.ts';
import {
  type FileEntry,
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  type Manifest,
  parseManifest,
  type SizeFigures,
  type TensorEntry,
} from './manifest.ts';
import { elementCount, sizeFigures } from './size.ts';
import type { PackageSource } from './source.ts';

export interface PackageTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** The elements as stored: float16 as raw Uint16 halves, int8 as quantised values. */
  data: StoredArray;
  scale?: number;
  /** int8 with one scale per slice along an axis. */
  scales?: AxisScales;
}

export interface ModelPackage {
  manifest: Manifest;
  tensors: Map<string, PackageTensor>;
  /** External item id of internal item i at index i - 1, when the package has an id map. */
  itemIds: string[] | null;
  /**
   * The verified bytes of every listed file that holds no tensor (the id map, a CTR
   * vocabulary), by path: what a kind's loader reads beside the weights.
   */
  attachments?: ReadonlyMap<string, Uint8Array>;
  /**
   * Set when only a prefix of a progressive ctr-pruned package was read (readPrunedPrefix):
   * the head and chunks 0..prefixChunks-1, and no other chunk. A model built from it is the
   * one pruned to that many chunks.
   */
  prefixChunks?: number;
}

/** A tensor's elements as float32, dequantised if it was stored as float16 or int8. */
export function tensorValues(tensor: PackageTensor): Float32Array {
  const { scales } = tensor;
  return toFloat32(
    tensor.dtype,
    tensor.data,
    tensor.scale,
    scales ? { ...scales, shape: tensor.shape } : undefined,
  );
}

/**
 * Reads a package and checks everything a model relies on before any of it is used:
 * the manifest (structure, version, digest), every file's length and SHA-256, every
 * tensor's extent inside its file, the stated size figures, finite weights and the
 * item id map. Any failure is a ModelPackageError naming the file and the problem.
 */
export async function readModelPackage(
  source: PackageSource,
  options: { onProgress?: (loadedBytes: number, totalBytes: number) => void } = {},
): Promise<ModelPackage> {
  const manifestWhere = source.locate(MANIFEST_FILE);
  const manifest = await readManifest(source);
  const totalBytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  let loadedBytes = 0;

  const contents = new Map<string, Uint8Array>();
  for (const file of manifest.files) {
    const bytes = await readListedFile(source, file);
    contents.set(file.path, bytes);
    loadedBytes += bytes.byteLength;
    options.onProgress?.(loadedBytes, totalBytes);
  }

  checkLayout(manifest, manifestWhere);
  checkSizeFigures(manifest, manifestWhere);

  const tensors = new Map<string, PackageTensor>();
  for (const entry of manifest.tensors) {
    const bytes = contents.get(entry.file) as Uint8Array;
    const count = elementCount(entry.shape);
    const stored = bytes.subarray(entry.offset, entry.offset + byteLength(entry.dtype, count));
    if (entry.dtype === 'int4' && !int4PaddingIsZero(stored, count)) {
      throw new ModelPackageError(
        'bad-quantization',
        source.locate(entry.file),
        `int4 tensor "${entry.name}" has ${count} values but its last byte's unused high nibble is not zero`,
      );
    }
    const data = viewAs(entry.dtype, stored, count);
    checkFinite(entry, data, source.locate(entry.file));
    const scales = entry.scales && readScales(entry, bytes, source.locate(entry.file));
    tensors.set(entry.name, {
      name: entry.name,
      dtype: entry.dtype,
      shape: entry.shape,
      data,
      ...(entry.scale === undefined ? {} : { scale: entry.scale }),
      ...(scales ? { scales } : {}),
    });
  }

  const { idMap } = manifest.items;
  const itemIds =
    idMap === null ? null : itemIdsOf(manifest, contents.get(idMap) as Uint8Array, source);
  const weightFiles = new Set(manifest.tensors.map((t) => t.file));
  const attachments = new Map([...contents].filter(([path]) => !weightFiles.has(path)));
  return { manifest, tensors, itemIds, attachments };
}

/**
 * A package's manifest and external item ids without its weights: what a page needs to
 * match its catalogue to a model before (or without) downloading the model. The manifest
 * and the id map get every check readModelPackage gives them; the weights are not read.
 */
export async function readItemIds(
  source: PackageSource,
): Promise<{ manifest: Manifest; itemIds: string[] | null }> {
  const manifest = await readManifest(source);
  const { idMap } = manifest.items;
  if (idMap === null) return { manifest, itemIds: null };
  const file = manifest.files.find((f) => f.path === idMap) as FileEntry;
  return { manifest, itemIds: itemIdsOf(manifest, await readListedFile(source, file), source) };
}

async function readManifest(source: PackageSource): Promise<Manifest> {
  return parseManifest(
    await source.read(MANIFEST_FILE, MAX_MANIFEST_BYTES),
    source.locate(MANIFEST_FILE),
  );
}

/** A file the manifest lists, read no further than its stated length and checked against it and its hash. */
async function readListedFile(source: PackageSource, file: FileEntry): Promise<Uint8Array> {
  const where = source.locate(file.path);
  const bytes = await source.read(file.path, file.bytes);
  if (bytes.byteLength < file.bytes) {
    throw new ModelPackageError(
      'truncated',
      where,
      `file is truncated: ${bytes.byteLength} bytes, the manifest says ${file.bytes}`,
    );
  }
  if (bytes.byteLength > file.bytes) {
    // Sources stop one byte past the stated length, so how much longer is not known.
    throw new ModelPackageError(
      'oversized',
      where,
      `file is longer than the ${file.bytes} bytes the manifest says`,
    );
  }
  const digest = await sha256Hex(bytes);
  if (digest !== file.sha256) {
    throw new ModelPackageError(
      'hash-mismatch',
      where,
      `SHA-256 is ${digest}, the manifest says ${file.sha256}: the file is corrupt`,
    );
  }
  return bytes;
}

function itemIdsOf(manifest: Manifest, bytes: Uint8Array, source: PackageSource): string[] {
  const { count, idMap, idEncoding = 'lines' } = manifest.items;
  return decodeItemIds(bytes, count, idEncoding, source.locate(idMap as string));
}

/** Every tensor lies inside its file, aligned to its element size, and no two overlap. */
function checkLayout(manifest: Manifest, where: string): void {
  const fileBytes = new Map(manifest.files.map((f) => [f.path, f.bytes]));
  const byFile = new Map<string, Span[]>();
  for (const entry of manifest.tensors) {
    const available = fileBytes.get(entry.file) as number;
    const alignment = alignmentOf(entry.dtype);
    // Checked dimension by dimension so an absurd shape cannot overflow into a small number.
    let elements = 1;
    for (const d of entry.shape) {
      elements *= d;
      if (byteLength(entry.dtype, elements) > available) {
        throw new ModelPackageError(
          'offset-out-of-range',
          where,
          `tensor "${entry.name}" with shape [${entry.shape}] needs more bytes than ${entry.file} holds (${available})`,
        );
      }
    }
    const end = entry.offset + byteLength(entry.dtype, elements);
    if (end > available) {
      throw new ModelPackageError(
        'offset-out-of-range',
        where,
        `tensor "${entry.name}" spans bytes ${entry.offset}..${end} but ${entry.file} has ${available}`,
      );
    }
    if (entry.offset % alignment !== 0) {
      throw new ModelPackageError(
        'offset-out-of-range',
        where,
        `tensor "${entry.name}" offset ${entry.offset} is not a multiple of its element size ${alignment}`,
      );
    }
    const list = byFile.get(entry.file) ?? [];
    list.push({ entry, start: entry.offset, end, scales: false });
    if (entry.scales) list.push(scalesSpan(entry, available, where));
    byFile.set(entry.file, list);
  }
  for (const list of byFile.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1] as Span;
      const current = list[i] as Span;
      if (current.start < previous.end) {
        throw new ModelPackageError(
          'offset-out-of-range',
          where,
          `${both(previous, current)} overlap in ${current.entry.file}`,
        );
      }
    }
  }
}

/** Bytes of a file that one thing (a tensor's values, or its per-slice scales) occupies. */
interface Span {
  entry: TensorEntry;
  start: number;
  end: number;
  /** The tensor's per-slice scales rather than its values. */
  scales: boolean;
}

/** The two things that overlap, in words: two tensors, or a tensor and some scales. */
function both(a: Span, b: Span): string {
  if (!a.scales && !b.scales) return `tensors "${a.entry.name}" and "${b.entry.name}"`;
  const word = (s: Span) =>
    s.scales ? `the scales of tensor "${s.entry.name}"` : `tensor "${s.entry.name}"`;
  return `${word(a)} and ${word(b)}`;
}

function scalesSpan(entry: TensorEntry, available: number, where: string): Span {
  const { axis, offset } = entry.scales as { axis: number; offset: number };
  const dtype = scalesDtype(entry.dtype);
  const end = offset + byteLength(dtype, entry.shape[axis] as number);
  const what = `the ${dtype} scales of tensor "${entry.name}"`;
  if (end > available || offset % alignmentOf(dtype) !== 0) {
    throw new ModelPackageError(
      'offset-out-of-range',
      where,
      `${what} span bytes ${offset}..${end} of ${entry.file} (${available} bytes), or are not ${alignmentOf(dtype)}-byte aligned`,
    );
  }
  return { entry, start: offset, end, scales: true };
}

/** Per-slice scales: positive, and finite when multiplied by any stored value. */
function readScales(entry: TensorEntry, bytes: Uint8Array, where: string): AxisScales {
  const { axis, offset } = entry.scales as { axis: number; offset: number };
  const count = entry.shape[axis] as number;
  const dtype = scalesDtype(entry.dtype);
  const stored = viewAs(dtype, bytes.subarray(offset, offset + byteLength(dtype, count)));
  const values = toFloat32(dtype, stored);
  // The largest magnitude a stored value can have: -128 for int8, -8 for int4.
  const reach = entry.dtype === 'int4' ? 8 : 128;
  for (let i = 0; i < count; i++) {
    const scale = values[i] as number;
    if (!(scale > 0) || !Number.isFinite(Math.fround(scale * reach))) {
      throw new ModelPackageError(
        'bad-quantization',
        where,
        `tensor "${entry.name}" has scale ${scale} for slice ${i}: scales must be positive and finite times ${reach}`,
      );
    }
  }
  return { axis, values };
}

function checkSizeFigures(manifest: Manifest, where: string): void {
  const stated = manifest.size;
  const expected = sizeFigures(manifest.tensors, {
    params: stated.denseEquivalentParams,
    embeddingParams: stated.denseEmbeddingBytes / 4,
  });
  for (const key of Object.keys(expected) as (keyof SizeFigures)[]) {
    const a = stated[key];
    const b = expected[key];
    if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(b))) {
      throw new ModelPackageError(
        'size-figures',
        where,
        `size.${key} says ${a} but the tensors give ${b}`,
      );
    }
  }
}

function checkFinite(entry: TensorEntry, data: StoredArray, where: string): void {
  if (entry.dtype === 'float32') {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new ModelPackageError(
          'non-finite',
          where,
          `tensor "${entry.name}" holds ${data[i]} at element ${i}`,
        );
      }
    }
  } else if (entry.dtype === 'float16') {
    for (let i = 0; i < data.length; i++) {
      // Exponent bits all ones: infinity or NaN.
      if (((data[i] as number) & 0x7c00) === 0x7c00) {
        throw new ModelPackageError(
          'non-finite',
          where,
          `tensor "${entry.name}" holds a non-finite half at element ${i}`,
        );
      }
    }
  }
}
