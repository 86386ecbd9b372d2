/**
 * The `ctr-pruned` package: a CTR model whose field embedding table was pruned (Shaver,
 * src/compression/shaver/), stored as what is kept. Every other weight is stored as in
 * `ctr-dense` (package.ts); the table [rows, dim] becomes
 *
 *   embedding.codebook    float32 [numFields, dim], when pruned elements take their field's
 *                         codebook vector (architecture.fill "codebook"; absent for "zero")
 *   and, by architecture.layout:
 *   bitmap       embedding.bitmap [rows, ⌈dim/8⌉] uint8 + embedding.values [kept]
 *   csr          embedding.rowCounts [rows] + embedding.columns [kept] (uint8, or int32 past
 *                dim 255/256) + embedding.values [kept]
 *   progressive  embedding.chunk.<c>.indices uint8 (ascending element indices as varint gaps)
 *                + embedding.chunk.<c>.values [n_c], c = 0..chunks-1: the kept elements in
 *                descending order of score, 1 to chunkElements per chunk (the writer cuts
 *                at every chunkElements and at the kept count of each budget it is given)
 *
 * (codecs: src/compression/shaver/sparse.ts). Values are float32, float16 or int8; int8 has
 * a scale per tensor, so per chunk in the progressive layout. Every one of these tensors has
 * role "item-embedding", so the size figures' embeddingBytes are the bytes of what is kept
 * and denseEmbeddingBytes those of the dense table.
 *
 * Bitmap and CSR store one budget as small as possible; the writer picks whichever of the
 * two is smaller (`layout: 'auto'`). The progressive layout is the same kind's third layout,
 * for one package that serves every budget: its chunks lie in the weight files in order,
 * after every other tensor, so a prefix of the files holds the dense weights and the first c
 * chunks, which are exactly the model pruned to its top n_0 + … + n_(c-1) elements. The
 * format's whole-file SHA-256 cannot vouch for a prefix, so the architecture also lists
 * `headSha256` (every tensor but the chunks, concatenated in manifest order) and
 * `chunkSha256` (chunk c's indices then values): the manifest digest seals them as it seals
 * `files`. readModelPackage checks the whole files as for any kind; readPrunedPrefix reads
 * byte ranges (an HTTP Range request in a browser) and checks the head and chunk hashes.
 *
 * The table is rebuilt dense to run the model, so its size is capped
 * (MAX_PRUNED_TABLE_ELEMENTS): in the progressive layout no tensor has a row per table row,
 * so the row count is a stated number, bounded like a tensor-train's item count.
 */
import * as tf from '@tensorflow/tfjs';
import { maskFromRanking, type PruneFill } from '../../compression/shaver/prune.ts';
import {
  decodeIndexDeltas,
  encodeIndexDeltas,
  type Fail,
  gather,
  keptIndices,
  progressiveChunks,
  smallerPositionLayout,
} from '../../compression/shaver/sparse.ts';
import { PocketrecError } from '../../errors.ts';
import { sha256Hex } from '../../package/digest.ts';
import {
  alignmentOf,
  asBytes,
  byteLength,
  type Dtype,
  type StoredArray,
  viewAs,
} from '../../package/dtypes.ts';
import { ModelPackageError } from '../../package/errors.ts';
import type {
  ArchitectureValue,
  FileEntry,
  Manifest,
  SizeFigures,
  TensorEntry,
} from '../../package/manifest.ts';
import { type ModelPackage, type PackageTensor, tensorValues } from '../../package/reader.ts';
import { elementCount, sizeFigures } from '../../package/size.ts';
import type { PackageSpec, TensorSpec } from '../../package/writer.ts';
import { DEFAULT_CHUNK_ELEMENTS } from '../defaults.ts';
import {
  checkBitmapWidth,
  checkPrunedFigures,
  codebookTable,
  decodePositions,
  MAX_PRUNED_TABLE_ELEMENTS,
  PRUNED_FILLS,
  PRUNED_VALUE_DTYPES,
  type PrunedFillKind,
  type PrunedValueDtype,
  placeKept,
  positionStructure,
  positionTensors,
  prunedTensorNames,
  prunedTensorReader,
  tensorTaker,
  valueTensor,
} from '../pruned-table.ts';
import { packageTensor } from '../sequential-package.ts';
import { fieldLayout } from './field-embedding.ts';
import type { Weights } from './layers.ts';
import type { CtrModel } from './model.ts';
import { type CtrPackageMeta, checkMovingVariances, ctrPackageSpec } from './package.ts';
import { CTR_EMBEDDING, type CtrStructure, ctrStructureOf, ctrWeightShapes } from './structure.ts';
import { withPackagedVocabulary } from './vocabulary.ts';

export { CTR_PRUNED_KIND } from './pruned-kind.ts';
// In ../defaults.ts, which the command line's help reads without loading tfjs.
export {
  DEFAULT_CHUNK_ELEMENTS,
  MAX_PRUNED_TABLE_ELEMENTS,
  PRUNED_VALUE_DTYPES,
  type PrunedFillKind,
  type PrunedValueDtype,
};

import { CTR_PRUNED_KIND } from './pruned-kind.ts';
export const PRUNED_LAYOUTS = ['bitmap', 'csr', 'progressive'] as const;
export type PrunedLayout = (typeof PRUNED_LAYOUTS)[number];

export const PRUNED_TENSORS = prunedTensorNames(CTR_EMBEDDING);
export const chunkIndicesName = (c: number): string => `embedding.chunk.${c}.indices`;
export const chunkValuesName = (c: number): string => `embedding.chunk.${c}.values`;
const CHUNK_TENSOR = /^embedding\.chunk\.\d+\.(indices|values)$/;
const CHUNK_VALUES = /^embedding\.chunk\.\d+\.values$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Which elements are kept: a mask (bitmap, csr), or a ranking and how many of it (any layout). */
export type PruneSelection = { mask: Uint8Array } | { ranking: Int32Array; kept: number };

export interface CtrPrunedOptions extends CtrPackageMeta {
  /** 'auto' (the default): bitmap or CSR, whichever stores the positions in fewer bytes. */
  layout?: PrunedLayout | 'auto';
  /** How kept values are stored (default float32). */
  dtype?: PrunedValueDtype;
  /** progressive only (default DEFAULT_CHUNK_ELEMENTS). */
  chunkElements?: number;
  /**
   * progressive only: kept counts where a chunk must end (other budgets' kept counts), so
   * that the prefix at each is exactly the model pruned directly to it.
   */
  chunkBreaks?: readonly number[];
  /** Recorded as architecture.pruneMethod, for `info`. */
  method?: string;
}

/**
 * The package of `model` with its embedding table pruned to `selection` and filled with
 * `fill` (the codebook [numFields, dim] or zero). The model's own table is the dense one:
 * its kept elements are stored, the rest dropped. Asynchronous because the progressive
 * layout's chunk hashes come from Web Crypto.
 */
export async function ctrPrunedPackageSpec(
  model: CtrModel,
  selection: PruneSelection,
  fill: PruneFill,
  options: CtrPrunedOptions,
): Promise<PackageSpec> {
  const dense = ctrPackageSpec(model, options);
  const refuse = (problem: string): never => {
    throw new PocketrecError('bad-prune', `${options.name}: ${problem}`);
  };
  const embedding = dense.tensors.find((t) => t.name === CTR_EMBEDDING);
  const table = embedding?.data;
  const [rows, dim] = embedding?.shape ?? [];
  if (!(table instanceof Float32Array) || rows === undefined || dim === undefined) {
    return refuse('the model has no float32 embedding table');
  }
  const total = rows * dim;
  if (total > MAX_PRUNED_TABLE_ELEMENTS) {
    refuse(
      `a table of ${total} elements is over the ${MAX_PRUNED_TABLE_ELEMENTS} a reader accepts`,
    );
  }
  const ranked = 'ranking' in selection ? selection : null;
  if (ranked && ranked.ranking.length !== total) {
    refuse(`a ranking of ${ranked.ranking.length} elements for a table of ${total}`);
  }
  const mask =
    'mask' in selection ? selection.mask : maskFromRanking(selection.ranking, selection.kept);
  if (mask.length !== total) refuse(`a mask of ${mask.length} elements for a table of ${total}`);
  const kept = keptIndices(mask);
  if (ranked && kept.length !== ranked.kept) refuse('the ranking names an element twice');
  const numFields = model.schema.fields.length;
  if (fill !== 'zero' && fill.length !== numFields * dim) {
    refuse(`the codebook has ${fill.length} values, [${numFields}, ${dim}] needed`);
  }

  const dtype = options.dtype ?? 'float32';
  const role = 'item-embedding' as const;
  const head: TensorSpec[] = dense.tensors.filter((t) => t !== embedding);
  if (fill !== 'zero') {
    head.push({
      name: PRUNED_TENSORS.codebook,
      dtype: 'float32',
      shape: [numFields, dim],
      data: fill,
      role,
    });
  }
  const requested = options.layout ?? 'auto';
  const layout: PrunedLayout =
    requested === 'auto' ? smallerPositionLayout(rows, dim, kept.length) : requested;
  const architecture: Record<string, ArchitectureValue> = {
    ...dense.architecture,
    layout,
    fill: fill === 'zero' ? 'zero' : 'codebook',
    keptElements: kept.length,
    sparsity: total > 0 ? 1 - kept.length / total : 0,
    // The dense package stores every weight as float32: its bytes are its dense equivalent's.
    denseBytes: 4 * dense.denseEquivalent.params,
    ...(options.method === undefined ? {} : { pruneMethod: options.method }),
  };
  const tensors: TensorSpec[] = [...head];
  if (layout !== 'progressive') {
    tensors.push(...positionTensors(PRUNED_TENSORS, layout, mask, table, { rows, dim }, dtype));
  } else {
    if (!ranked)
      return refuse('the progressive layout stores elements in rank order: pass a ranking');
    const chunkElements = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
    const chunks = progressiveChunks(
      ranked.ranking,
      ranked.kept,
      chunkElements,
      options.chunkBreaks,
    );
    const hashes: string[] = [];
    for (const [c, indices] of chunks.entries()) {
      const deltas = encodeIndexDeltas(indices);
      const index: TensorSpec = {
        name: chunkIndicesName(c),
        dtype: 'uint8',
        shape: [deltas.length],
        data: deltas,
        role,
      };
      const values = valueTensor(chunkValuesName(c), gather(table, indices), dtype);
      tensors.push(index, values);
      hashes.push(await segmentSha256([index.data, values.data]));
    }
    Object.assign(architecture, {
      chunkElements,
      chunks: chunks.length,
      chunkSha256: hashes,
      headSha256: await segmentSha256(head.map((t) => t.data)),
    });
  }
  return { ...dense, kind: CTR_PRUNED_KIND, architecture, tensors };
}

/** SHA-256 of tensors' stored bytes, one after another (no alignment padding). */
async function segmentSha256(parts: readonly StoredArray[]): Promise<string> {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(asBytes(part), at);
    at += part.byteLength;
  }
  return sha256Hex(bytes);
}

/** One progressive chunk as the manifest states it. */
export interface PrunedChunk {
  elements: number;
  sha256: string;
}

export type PrunedStorage =
  | { layout: 'bitmap' }
  | { layout: 'csr' }
  | { layout: 'progressive'; chunkElements: number; chunks: PrunedChunk[]; headSha256: string };

export interface CtrPrunedStructure {
  model: CtrStructure;
  rows: number;
  dim: number;
  fill: PrunedFillKind;
  /** Elements stored (in all chunks, for the progressive layout). */
  kept: number;
  storage: PrunedStorage;
}

/**
 * The structure a `ctr-pruned` manifest must have, on the manifest alone (the ctr-dense
 * checks of structure.ts, the table's rows tied to the bitmap's rows or the CSR row counts,
 * or for the progressive layout stated and capped). The chunk count must match the chunk
 * tensors present and each chunk their length; every number in the architecture must agree
 * with the tensors. Indices are checked when they are decoded (decodePrunedTable).
 */
export function checkCtrPrunedStructure(manifest: Manifest): CtrPrunedStructure {
  const fail: Fail = (problem) => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
  if (manifest.kind !== CTR_PRUNED_KIND) {
    throw new ModelPackageError(
      'bad-manifest',
      manifest.name,
      `kind "${manifest.kind}" is not ${CTR_PRUNED_KIND}`,
    );
  }
  const arch = manifest.architecture;
  const layout = PRUNED_LAYOUTS.find((l) => l === arch.layout);
  if (layout === undefined)
    return fail(`architecture.layout must be one of ${PRUNED_LAYOUTS.join(', ')}`);
  const fill = PRUNED_FILLS.find((f) => f === arch.fill);
  if (fill === undefined)
    return fail(`architecture.fill must be one of ${PRUNED_FILLS.join(', ')}`);
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const apart = new Set<string>();
  const take = tensorTaker(manifest, apart, fail);

  let rows: number;
  let kept: number;
  let storage: PrunedStorage;
  let bitmapWidth = 0;
  if (layout !== 'progressive') {
    ({ rows, kept, bitmapWidth } = positionStructure(layout, PRUNED_TENSORS, take, fail));
    storage = { layout };
  } else {
    ({ rows, kept, storage } = progressiveOf(manifest, take, fail));
  }
  // Before any list proportional to the rows is built: the shapes below are compared, not allocated.
  if (!(rows <= MAX_PRUNED_TABLE_ELEMENTS)) {
    fail(
      `a table of ${rows} rows is over the ${MAX_PRUNED_TABLE_ELEMENTS} elements a reader rebuilds`,
    );
  }
  if (fill === 'codebook') take(PRUNED_TENSORS.codebook, ['float32'], 2);
  const model = ctrStructureOf(manifest, rows, { tensors: apart });
  const { dim } = model.config;
  const total = rows * dim;
  if (total > MAX_PRUNED_TABLE_ELEMENTS) {
    fail(
      `a table of ${rows} x ${dim} elements is over the ${MAX_PRUNED_TABLE_ELEMENTS} a reader rebuilds`,
    );
  }
  if (layout !== 'progressive') checkBitmapWidth(PRUNED_TENSORS, layout, bitmapWidth, dim, fail);
  const codebook = entries.get(PRUNED_TENSORS.codebook);
  const numFields = model.schema.fields.length;
  if (codebook && (codebook.shape[0] !== numFields || codebook.shape[1] !== dim)) {
    fail(
      `"${PRUNED_TENSORS.codebook}" has shape [${codebook.shape}], expected [${numFields}, ${dim}]`,
    );
  }
  if (kept > total) fail(`${kept} elements stored for a table of ${total}`);
  checkFigures(manifest, model, total, kept, fail);
  return { model, rows, dim, fill, kept, storage };
}

/** The progressive layout's chunks, their count tied to the chunk tensors present. */
function progressiveOf(
  manifest: Manifest,
  take: (name: string, dtypes: readonly Dtype[], rank: number) => TensorEntry,
  fail: Fail,
): { rows: number; kept: number; storage: PrunedStorage } {
  const arch = manifest.architecture;
  const found = manifest.tensors.filter((t) => CHUNK_VALUES.test(t.name)).length;
  if (arch.chunks !== found) {
    fail(`architecture.chunks is ${JSON.stringify(arch.chunks)}, the package has ${found} chunks`);
  }
  const chunkElements = arch.chunkElements;
  if (
    typeof chunkElements !== 'number' ||
    !Number.isSafeInteger(chunkElements) ||
    chunkElements < 1
  ) {
    return fail('architecture.chunkElements must be an integer >= 1');
  }
  const hashes = arch.chunkSha256;
  const headSha256 = arch.headSha256;
  if (typeof headSha256 !== 'string' || !SHA256.test(headSha256)) {
    return fail('architecture.headSha256 must be a SHA-256 hex digest');
  }
  if (!Array.isArray(hashes) || hashes.length !== found) {
    return fail(`architecture.chunkSha256 must list one SHA-256 per chunk (${found})`);
  }
  const chunks: PrunedChunk[] = [];
  let kept = 0;
  for (let c = 0; c < found; c++) {
    const sha256 = hashes[c];
    if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
      return fail(`architecture.chunkSha256[${c}] is not a SHA-256 hex digest`);
    }
    take(chunkIndicesName(c), ['uint8'], 1);
    const elements = take(chunkValuesName(c), PRUNED_VALUE_DTYPES, 1).shape[0] ?? 0;
    if (!(elements >= 1 && elements <= chunkElements)) {
      fail(`chunk ${c} holds ${elements} elements; chunks hold 1 to ${chunkElements}`);
    }
    chunks.push({ elements, sha256 });
    kept += elements;
  }
  // No tensor has a row per table row here: the rows are the schema's, capped by the caller
  // before anything is sized by them, and checked against the schema by ctrStructureOf.
  let rows = 0;
  const sizes = arch.vocabularySizes;
  for (const size of Array.isArray(sizes) ? sizes : []) rows += typeof size === 'number' ? size : 0;
  return { rows, kept, storage: { layout: 'progressive', chunkElements, chunks, headSha256 } };
}

/** The architecture's and the size figures' numbers against the tensors. */
function checkFigures(
  manifest: Manifest,
  model: CtrStructure,
  total: number,
  kept: number,
  fail: Fail,
): void {
  let otherParams = 0;
  for (const [name, shape] of ctrWeightShapes(model))
    otherParams += name === CTR_EMBEDDING ? 0 : elementCount(shape);
  checkPrunedFigures(manifest, { otherParams, total, kept }, fail);
}

/**
 * The structure check and the values a model needs checked: moving variances >= 0 (batch
 * norm divides by their square roots; the same check as checkCtrPackage), and the
 * vocabulary, whose values join the schema.
 */
export function checkCtrPrunedPackage(pkg: ModelPackage): CtrPrunedStructure {
  const pruned = checkCtrPrunedStructure(pkg.manifest);
  checkMovingVariances(pkg, pruned.model);
  const schema = withPackagedVocabulary(pkg, pruned.model.schema);
  return { ...pruned, model: { ...pruned.model, schema } };
}

export interface PrunedTable {
  structure: CtrPrunedStructure;
  /** [rows, dim] row-major: kept values, pruned elements filled. */
  table: Float32Array;
  /** Elements taken from the package (fewer than structure.kept for a prefix). */
  kept: number;
}

/**
 * The dense table of a pruned package, every position checked as it is decoded (in range,
 * ascending where the encoding says so, no element twice, as many as the values stored).
 * `prefixChunks` (progressive only) takes chunks 0..c-1 alone: the model pruned to its top
 * n_0 + … + n_(c-1) elements. No tfjs: `verify` runs this too.
 */
export function decodePrunedTable(
  pkg: ModelPackage,
  options: { prefixChunks?: number } = {},
): PrunedTable {
  const structure = checkCtrPrunedPackage(pkg);
  const { rows, dim, storage } = structure;
  const { manifest } = pkg;
  const reader = prunedTensorReader(pkg);
  const { failIn, tensor, bytesOf } = reader;

  const total = rows * dim;
  const table =
    structure.fill === 'codebook'
      ? codebookTable(
          tensorValues(tensor(PRUNED_TENSORS.codebook)),
          fieldLayout(structure.model.schema).offsets,
          { rows, dim },
        )
      : new Float32Array(total);

  if (storage.layout !== 'progressive') {
    if (options.prefixChunks !== undefined) {
      throw new PocketrecError(
        'bad-prune',
        `${manifest.name}: only a progressive package has chunks`,
      );
    }
    const { indices, values } = decodePositions(reader, PRUNED_TENSORS, storage.layout, {
      rows,
      dim,
    });
    placeKept(table, indices, values);
    return { structure, table, kept: indices.length };
  }

  const count = options.prefixChunks ?? pkg.prefixChunks ?? storage.chunks.length;
  if (!(Number.isInteger(count) && count >= 0 && count <= storage.chunks.length)) {
    throw new PocketrecError(
      'bad-prune',
      `${manifest.name}: cannot take ${count} chunks of ${storage.chunks.length}`,
    );
  }
  const seen = new Uint8Array(total);
  let kept = 0;
  for (let c = 0; c < count; c++) {
    const fail = failIn(`chunk ${c}`);
    const values = tensorValues(tensor(chunkValuesName(c)));
    const indices = decodeIndexDeltas(bytesOf(chunkIndicesName(c)), values.length, total, fail);
    for (const index of indices) {
      if (seen[index]) fail(`element ${index} is stored in an earlier chunk too`);
      seen[index] = 1;
    }
    placeKept(table, indices, values);
    kept += indices.length;
  }
  return { structure, table, kept };
}

/**
 * The model of a pruned package, its table rebuilt dense (decodePrunedTable); every check
 * runs before a tensor is built.
 */
export function ctrFromPrunedPackage(
  pkg: ModelPackage,
  options: { prefixChunks?: number } = {},
): CtrModel {
  const { structure, table } = decodePrunedTable(pkg, options);
  const weights: Weights = {};
  for (const [name, shape] of ctrWeightShapes(structure.model)) {
    weights[name] =
      name === CTR_EMBEDDING
        ? tf.tensor2d(table, [structure.rows, structure.dim])
        : packageTensor(pkg, name, shape);
  }
  return { ...structure.model, weights };
}

/** Where a prefix reader gets bytes: byte ranges of a package's files (HTTP Range in a browser). */
export interface RangeSource {
  locate(path: string): string;
  /** Bytes start..end-1 of the file; fewer when the file is shorter, never more. */
  readRange(path: string, start: number, end: number): Promise<Uint8Array>;
}

/** A RangeSource over files in memory (tests, or a package already read whole). */
export function memoryRangeSource(
  files: ReadonlyMap<string, Uint8Array>,
  label = 'memory',
): RangeSource {
  return {
    locate: (path) => `${label}/${path}`,
    async readRange(path, start, end) {
      const bytes = files.get(path);
      if (!bytes)
        throw new ModelPackageError('missing-file', `${label}/${path}`, 'file is missing');
      return bytes.subarray(start, Math.min(end, bytes.byteLength));
    },
  };
}

/** The tensors one hash of a progressive package covers: the head, or one chunk. */
export interface PrefixSegment {
  what: string;
  sha256: string;
  tensors: TensorEntry[];
}

/**
 * Where the prefixes of a progressive package end. Index c stands for the head and chunks
 * 0..c-1: `ends[c]` is how far into each weight file they reach (a file none of their
 * tensors lies in is absent), and `bytes[c]` what downloading them costs: the sum of
 * `ends[c]` and of the attachments, which every prefix reads whole. Both grow with c. A
 * budget picks its c from `bytes` (src/runtime/budget.ts); readPrunedPrefix reads `ends[c]`.
 */
export interface PrunedPrefixLayout {
  /** The chunks the package has. */
  chunks: number;
  /** The head, then chunk 0, 1, ...: what each hash in the architecture covers. */
  segments: PrefixSegment[];
  /** Files that hold no tensor: read whole with every prefix, checked by their file hash. */
  attachments: FileEntry[];
  ends: Map<string, number>[];
  bytes: number[];
}

/**
 * The prefix layout of a progressive package, every tensor's extent checked against its
 * file (`offset-out-of-range`, named with `locate`). One pass over the tensors, so a
 * package of thousands of chunks costs no more than reading its manifest.
 */
export function prunedPrefixLayout(
  manifest: Manifest,
  locate: (path: string) => string = (path) => path,
): PrunedPrefixLayout {
  const { storage } = checkCtrPrunedStructure(manifest);
  if (storage.layout !== 'progressive') {
    throw new ModelPackageError(
      'bad-manifest',
      manifest.name,
      `${manifest.kind}: a ${storage.layout} package has no chunks to read a prefix of`,
    );
  }
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const segments: PrefixSegment[] = [
    {
      what: 'the head (every tensor but the chunks)',
      sha256: storage.headSha256,
      tensors: manifest.tensors.filter((t) => !CHUNK_TENSOR.test(t.name)),
    },
  ];
  storage.chunks.forEach((chunk, c) => {
    const tensors = [chunkIndicesName(c), chunkValuesName(c)].map((n) => entries.get(n));
    segments.push({
      what: `chunk ${c}`,
      sha256: chunk.sha256,
      tensors: tensors.filter((t) => t !== undefined),
    });
  });

  const fileBytes = new Map(manifest.files.map((f) => [f.path, f.bytes]));
  const weightFiles = new Set(manifest.tensors.map((t) => t.file));
  const attachments = manifest.files.filter((f) => !weightFiles.has(f.path));
  const ends: Map<string, number>[] = [];
  const bytes: number[] = [];
  let reach = new Map<string, number>();
  let total = attachments.reduce((sum, f) => sum + f.bytes, 0);
  for (const { what, tensors } of segments) {
    reach = new Map(reach);
    for (const t of tensors) {
      const end = t.offset + byteLength(t.dtype, elementCount(t.shape));
      const available = fileBytes.get(t.file) ?? 0;
      if (end > available || t.offset % alignmentOf(t.dtype) !== 0) {
        throw new ModelPackageError(
          'offset-out-of-range',
          locate(t.file),
          `${what}: tensor "${t.name}" spans bytes ${t.offset}..${end} of ${available}, or is misaligned`,
        );
      }
      const before = reach.get(t.file) ?? 0;
      if (end > before) {
        reach.set(t.file, end);
        total += end - before;
      }
    }
    ends.push(reach);
    bytes.push(total);
  }
  return { chunks: storage.chunks.length, segments, attachments, ends, bytes };
}

/**
 * Reads the head and the first `chunks` chunks of a progressive package, and nothing else:
 * of each weight file the bytes up to the last tensor needed, which is a prefix of it since
 * the chunks come after every other tensor and in order (prunedPrefixLayout). The head and
 * every chunk read are checked against their SHA-256 in the architecture (the whole files'
 * hashes cannot be checked from a prefix); a chunk cut short is `truncated` and one whose
 * bytes differ is `hash-mismatch`, naming the chunk. `manifest` must come from parseManifest
 * (its digest checked). The package returned holds only the tensors read and says so
 * (`prefixChunks`), so ctrFromPrunedPackage builds the prefix's model from it; or call
 * ctrFromPrunedPrefix.
 */
export async function readPrunedPrefix(
  manifest: Manifest,
  source: RangeSource,
  chunks: number,
): Promise<ModelPackage> {
  const layout = prunedPrefixLayout(manifest, (path) => source.locate(path));
  if (!(Number.isInteger(chunks) && chunks >= 0 && chunks <= layout.chunks)) {
    throw new PocketrecError(
      'bad-prune',
      `${manifest.name}: cannot read ${chunks} chunks of ${layout.chunks}`,
    );
  }
  checkStatedSizes(manifest);
  const segments = layout.segments.slice(0, chunks + 1);
  const needed = layout.ends[chunks] ?? new Map<string, number>();
  const contents = new Map<string, Uint8Array>();
  for (const [path, end] of needed) {
    const bytes = await source.readRange(path, 0, end);
    contents.set(path, bytes.subarray(0, end));
  }
  const attachments = await checkedAttachments(layout.attachments, contents, source);

  const tensors = new Map<string, PackageTensor>();
  for (const { what, sha256, tensors: entriesOf } of segments) {
    const parts: Uint8Array[] = [];
    for (const t of entriesOf) {
      const bytes = contents.get(t.file) ?? new Uint8Array(0);
      const end = t.offset + byteLength(t.dtype, elementCount(t.shape));
      if (bytes.byteLength < end) {
        throw new ModelPackageError(
          'truncated',
          source.locate(t.file),
          `${what} is cut short: tensor "${t.name}" ends at byte ${end}, only ${bytes.byteLength} could be read`,
        );
      }
      parts.push(bytes.subarray(t.offset, end));
    }
    const digest = await segmentSha256(parts);
    if (digest !== sha256) {
      throw new ModelPackageError(
        'hash-mismatch',
        source.locate(entriesOf[0]?.file ?? manifest.name),
        `${what}: SHA-256 is ${digest}, the manifest says ${sha256}: its bytes are corrupt`,
      );
    }
    entriesOf.forEach((t, i) => {
      const data = viewAs(t.dtype, parts[i] as Uint8Array, elementCount(t.shape));
      checkFinite(t, data, what, source.locate(t.file));
      tensors.set(t.name, {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        data,
        ...(t.scale === undefined ? {} : { scale: t.scale }),
      });
    });
  }
  return { manifest, tensors, itemIds: null, attachments, prefixChunks: chunks };
}

/**
 * The files that hold no tensor (the vocabulary), whole with every prefix, each checked
 * against its SHA-256 in `files`; read here unless the prefix's ranges already held them.
 */
async function checkedAttachments(
  entries: readonly FileEntry[],
  contents: ReadonlyMap<string, Uint8Array>,
  source: RangeSource,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const entry of entries) {
    const bytes = contents.get(entry.path) ?? (await source.readRange(entry.path, 0, entry.bytes));
    if (bytes.byteLength !== entry.bytes) {
      throw new ModelPackageError(
        'truncated',
        source.locate(entry.path),
        `file is ${bytes.byteLength} bytes, the manifest says ${entry.bytes}`,
      );
    }
    const digest = await sha256Hex(bytes);
    if (digest !== entry.sha256) {
      throw new ModelPackageError(
        'hash-mismatch',
        source.locate(entry.path),
        `SHA-256 is ${digest}, the manifest says ${entry.sha256}: the file is corrupt`,
      );
    }
    out.set(entry.path, bytes);
  }
  return out;
}

/** The model of a progressive package's first `chunks` chunks, read as ranges (readPrunedPrefix). */
export async function ctrFromPrunedPrefix(
  manifest: Manifest,
  source: RangeSource,
  chunks: number,
): Promise<CtrModel> {
  return ctrFromPrunedPackage(await readPrunedPrefix(manifest, source, chunks));
}

/**
 * Checks a whole progressive package's head and chunk hashes against its tensors, which
 * readModelPackage cannot (they are not file hashes): a package whose files verify but
 * whose prefix would not is refused by `verify` too. Nothing to do for bitmap and CSR.
 */
export async function checkPrunedHashes(pkg: ModelPackage): Promise<void> {
  const { storage } = checkCtrPrunedStructure(pkg.manifest);
  if (storage.layout !== 'progressive') return;
  const data = (t: TensorEntry): StoredArray => pkg.tensors.get(t.name)?.data ?? new Uint8Array(0);
  const head = pkg.manifest.tensors.filter((t) => !CHUNK_TENSOR.test(t.name));
  const segments = [{ what: 'the head', sha256: storage.headSha256, parts: head.map(data) }];
  storage.chunks.forEach((chunk, c) => {
    const parts = [chunkIndicesName(c), chunkValuesName(c)].map(
      (name) => pkg.tensors.get(name)?.data ?? new Uint8Array(0),
    );
    segments.push({ what: `chunk ${c}`, sha256: chunk.sha256, parts });
  });
  for (const { what, sha256, parts } of segments) {
    const digest = await segmentSha256(parts);
    if (digest !== sha256) {
      throw new ModelPackageError(
        'hash-mismatch',
        pkg.manifest.name,
        `${what}: SHA-256 is ${digest}, architecture says ${sha256}`,
      );
    }
  }
}

/** The reader's size-figures check, for a prefix read that does not go through readModelPackage. */
function checkStatedSizes(manifest: Manifest): void {
  const stated = manifest.size;
  const expected = sizeFigures(manifest.tensors, {
    params: stated.denseEquivalentParams,
    embeddingParams: stated.denseEmbeddingBytes / 4,
  });
  for (const key of Object.keys(expected) as (keyof SizeFigures)[]) {
    if (Math.abs(stated[key] - expected[key]) > 1e-9 * Math.max(1, Math.abs(expected[key]))) {
      throw new ModelPackageError(
        'size-figures',
        manifest.name,
        `size.${key} says ${stated[key]} but the tensors give ${expected[key]}`,
      );
    }
  }
}

/** As the reader: no NaN or infinity in float weights. */
function checkFinite(entry: TensorEntry, data: StoredArray, what: string, where: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    const finite =
      entry.dtype === 'float32'
        ? Number.isFinite(v)
        : entry.dtype !== 'float16' || (v & 0x7c00) !== 0x7c00;
    if (!finite) {
      throw new ModelPackageError(
        'non-finite',
        where,
        `${what}: tensor "${entry.name}" holds a non-finite value at element ${i}`,
      );
    }
  }
}
