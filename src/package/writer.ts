import { PocketrecError } from '../errors.ts';
import { sha256Hex } from './digest.ts';
import {
  type AxisScales,
  type Dtype,
  encodeFloat16,
  type StoredArray,
  scalesDtype,
  storedBytes,
} from './dtypes.ts';
import { encodeItemIds, ITEM_MAP_FILES, itemIdEncodingFor } from './item-map.ts';
import {
  type ArchitectureValue,
  encodeManifest,
  type FileEntry,
  FORMAT_NAME,
  formatVersionFor,
  isSafeFileName,
  MANIFEST_FILE,
  type Manifest,
  type ModelKind,
  sealManifest,
  type TensorEntry,
} from './manifest.ts';
import { type DenseEquivalent, elementCount, scaleBytes, sizeFigures, valueBytes } from './size.ts';

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: StoredArray;
  role?: 'item-embedding';
  /** int8 with one scale. */
  scale?: number;
  /** int8 with one scale per slice along an axis (written after the values). */
  scales?: AxisScales;
}

export interface PackageSpec {
  kind: ModelKind;
  name: string;
  architecture: Record<string, ArchitectureValue>;
  items: { count: number; ids?: readonly string[] };
  training: { dataset: string; metrics?: Record<string, number>; notes?: string };
  denseEquivalent: DenseEquivalent;
  tensors: TensorSpec[];
  /**
   * Files beside the weights that the model's loader reads (a CTR vocabulary), by plain
   * file name: listed in `files`, so hashed and sealed like the weights.
   */
  attachments?: ReadonlyMap<string, Uint8Array>;
  /** Weight files are cut at about this size, like tfjs's 4 MB shards, so downloads and stores stay chunked. */
  shardBytes?: number;
  createdAt?: Date;
}

export interface BuiltPackage {
  manifest: Manifest;
  /** Every file of the package by name, manifest.json included. */
  files: Map<string, Uint8Array>;
}

const ALIGN = 8;

/** Lays out tensors in weight shards, hashes every file and seals the manifest. */
export async function buildModelPackage(spec: PackageSpec): Promise<BuiltPackage> {
  const shardBytes = spec.shardBytes ?? 4 * 1024 * 1024;
  const shards: { tensors: { spec: TensorSpec; offset: number }[]; bytes: number }[] = [];
  for (const tensor of spec.tensors) {
    if (tensor.data.length !== elementCount(tensor.shape)) {
      throw new PocketrecError(
        'bad-tensor',
        `tensor "${tensor.name}": ${tensor.data.length} values for shape [${tensor.shape}]`,
      );
    }
    checkScales(tensor);
    checkInt4(tensor);
    const size = spanBytes(tensor);
    let shard = shards[shards.length - 1];
    if (!shard || (shard.bytes > 0 && shard.bytes + size > shardBytes)) {
      shard = { tensors: [], bytes: 0 };
      shards.push(shard);
    }
    const offset = Math.ceil(shard.bytes / ALIGN) * ALIGN;
    shard.tensors.push({ spec: tensor, offset });
    shard.bytes = offset + size;
  }

  const files = new Map<string, Uint8Array>();
  const tensorEntries: TensorEntry[] = [];
  shards.forEach((shard, index) => {
    const path = `weights-${index}.bin`;
    const bytes = new Uint8Array(shard.bytes);
    for (const { spec: tensor, offset } of shard.tensors) {
      bytes.set(storedBytes(tensor.dtype, tensor.data), offset);
      const scales = tensor.scales;
      const scalesOffset = offset + alignedValueBytes(tensor);
      if (scales) bytes.set(scalesAsStored(tensor.dtype, scales), scalesOffset);
      tensorEntries.push({
        name: tensor.name,
        dtype: tensor.dtype,
        shape: [...tensor.shape],
        file: path,
        offset,
        ...(tensor.role ? { role: tensor.role } : {}),
        ...(tensor.scale === undefined ? {} : { scale: tensor.scale }),
        ...(scales ? { scales: { axis: scales.axis, offset: scalesOffset } } : {}),
      });
    }
    files.set(path, bytes);
  });
  let items: Manifest['items'] = { count: spec.items.count, idMap: null };
  if (spec.items.ids) {
    if (spec.items.ids.length !== spec.items.count) {
      throw new PocketrecError(
        'bad-item-map',
        `${spec.items.ids.length} item ids for ${spec.items.count} items`,
      );
    }
    const idEncoding = itemIdEncodingFor(spec.items.ids);
    const idMap = ITEM_MAP_FILES[idEncoding];
    files.set(idMap, encodeItemIds(spec.items.ids, idEncoding));
    items = { count: spec.items.count, idMap, idEncoding };
  }

  for (const [path, bytes] of spec.attachments ?? []) {
    if (!isSafeFileName(path) || files.has(path)) {
      throw new PocketrecError(
        'bad-attachment',
        `attachment "${path}" is not a plain file name, or is a file the package writes itself`,
      );
    }
    files.set(path, bytes);
  }

  const fileEntries: FileEntry[] = [];
  for (const [path, bytes] of files) {
    fileEntries.push({ path, bytes: bytes.byteLength, sha256: await sha256Hex(bytes) });
  }
  const manifest = await sealManifest({
    format: FORMAT_NAME,
    formatVersion: formatVersionFor(items),
    kind: spec.kind,
    name: spec.name,
    createdAt: (spec.createdAt ?? new Date()).toISOString(),
    architecture: spec.architecture,
    items,
    training: {
      dataset: spec.training.dataset,
      metrics: spec.training.metrics ?? {},
      ...(spec.training.notes === undefined ? {} : { notes: spec.training.notes }),
    },
    size: sizeFigures(tensorEntries, spec.denseEquivalent),
    files: fileEntries,
    tensors: tensorEntries,
  });
  files.set(MANIFEST_FILE, encodeManifest(manifest));
  return { manifest, files };
}

function scalesAsStored(dtype: Dtype, scales: AxisScales): Uint8Array {
  const values = scalesDtype(dtype) === 'float16' ? encodeFloat16(scales.values) : scales.values;
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** The values, padded so the scales after them stay aligned. */
function alignedValueBytes(tensor: TensorSpec): number {
  return Math.ceil(valueBytes(tensor) / 4) * 4;
}

/** The span a tensor takes in its shard: its values, then its per-slice scales if any. */
function spanBytes(tensor: TensorSpec): number {
  return tensor.scales ? alignedValueBytes(tensor) + scaleBytes(tensor) : valueBytes(tensor);
}

function checkScales(tensor: TensorSpec): void {
  const scales = tensor.scales;
  if (!scales) return;
  const size = tensor.shape[scales.axis];
  const integer = tensor.dtype === 'int8' || tensor.dtype === 'int4';
  if (!integer || tensor.scale !== undefined || size !== scales.values.length) {
    throw new PocketrecError(
      'bad-tensor',
      `tensor "${tensor.name}": per-slice scales need an int8 or int4 tensor without "scale" and one scale per slice of axis ${scales.axis} (${size}), found ${scales.values.length}`,
    );
  }
}

/** int4 values are held one to an Int8Array element and must fit in a nibble. */
function checkInt4(tensor: TensorSpec): void {
  if (tensor.dtype !== 'int4') return;
  const values = tensor.data;
  const fits = values instanceof Int8Array && values.every((v) => v >= -8 && v <= 7);
  if (!fits) {
    throw new PocketrecError(
      'bad-tensor',
      `tensor "${tensor.name}": int4 values must be an Int8Array of values in -8..7`,
    );
  }
}
