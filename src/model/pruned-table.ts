/**
 * A pruned embedding table [rows, dim] stored as what is kept (Shaver, src/compression/shaver/):
 * what the `ctr-pruned` kind (ctr/pruned-package.ts) and the `sequential-pruned` kind
 * (sequential-pruned.ts) share. Under a table name `<t>` the tensors are
 *
 *   <t>.codebook   [groups, dim]: each group of rows' fill vector, when pruned elements take it
 *                  (architecture.fill "codebook"; absent for "zero"). A CTR table's groups are
 *                  its fields, an item table is one group.
 *   bitmap         <t>.bitmap [rows, ⌈dim/8⌉] uint8 + <t>.values [kept]
 *   csr            <t>.rowCounts [rows] + <t>.columns [kept] (uint8, or int32 past dim 255/256)
 *                  + <t>.values [kept]
 *
 * (codecs: src/compression/shaver/sparse.ts), every one `role: "item-embedding"`, so the size
 * figures' embeddingBytes are what is kept. Values are float32, float16 or int8 (one scale).
 * The reader rebuilds the dense table, so its size is capped (MAX_PRUNED_TABLE_ELEMENTS), and
 * every position is checked as it is decoded; the structure checks here read the manifest
 * alone and allocate nothing in proportion to what it states.
 */
import {
  bitmapRowBytes,
  decodeBitmap,
  decodeCsr,
  encodeBitmap,
  encodeCsr,
  type Fail,
  gather,
  keptIndices,
  type PositionLayout,
} from '../compression/shaver/sparse.ts';
import { type Dtype, encodeFloat16, quantizeInt8 } from '../package/dtypes.ts';
import { ModelPackageError } from '../package/errors.ts';
import type { Manifest, TensorEntry } from '../package/manifest.ts';
import { type ModelPackage, type PackageTensor, tensorValues } from '../package/reader.ts';
import type { TensorSpec } from '../package/writer.ts';

export const PRUNED_VALUE_DTYPES = ['float32', 'float16', 'int8'] as const;
export type PrunedValueDtype = (typeof PRUNED_VALUE_DTYPES)[number];
export const PRUNED_FILLS = ['codebook', 'zero'] as const;
export type PrunedFillKind = (typeof PRUNED_FILLS)[number];
/** The most elements a pruned table may have: rebuilt dense it is 64 MiB of float32. */
export const MAX_PRUNED_TABLE_ELEMENTS = 2 ** 24;
const POSITION_DTYPES: readonly Dtype[] = ['uint8', 'int32'];

/** The tensors of a pruned table named `<table>`. */
export interface PrunedTensorNames {
  codebook: string;
  bitmap: string;
  rowCounts: string;
  columns: string;
  values: string;
}

export function prunedTensorNames(table: string): PrunedTensorNames {
  return {
    codebook: `${table}.codebook`,
    bitmap: `${table}.bitmap`,
    rowCounts: `${table}.rowCounts`,
    columns: `${table}.columns`,
    values: `${table}.values`,
  };
}

/** Kept values as a tensor of the package, stored as `dtype` (int8: one scale). */
export function valueTensor(
  name: string,
  values: Float32Array,
  dtype: PrunedValueDtype,
): TensorSpec {
  const role = 'item-embedding' as const;
  const shape = [values.length];
  switch (dtype) {
    case 'float32':
      return { name, dtype, shape, data: values, role };
    case 'float16':
      return { name, dtype, shape, data: encodeFloat16(values), role };
    case 'int8':
      return { name, dtype, shape, role, ...quantizeInt8(values) };
  }
}

function positionDtype(data: Uint8Array | Int32Array): 'uint8' | 'int32' {
  return data instanceof Uint8Array ? 'uint8' : 'int32';
}

/** The positions and values of `table` [rows, dim] pruned to `mask`, in a bitmap or CSR layout. */
export function positionTensors(
  names: PrunedTensorNames,
  layout: PositionLayout,
  mask: Uint8Array,
  table: Float32Array,
  shape: { rows: number; dim: number },
  dtype: PrunedValueDtype,
): TensorSpec[] {
  const { rows, dim } = shape;
  const role = 'item-embedding' as const;
  const values = valueTensor(names.values, gather(table, keptIndices(mask)), dtype);
  if (layout === 'bitmap') {
    const bitmap = encodeBitmap(mask, rows, dim);
    return [
      {
        name: names.bitmap,
        dtype: 'uint8',
        shape: [rows, bitmapRowBytes(dim)],
        data: bitmap,
        role,
      },
      values,
    ];
  }
  const { counts, columns } = encodeCsr(mask, rows, dim);
  return [
    { name: names.rowCounts, dtype: positionDtype(counts), shape: [rows], data: counts, role },
    {
      name: names.columns,
      dtype: positionDtype(columns),
      shape: [columns.length],
      data: columns,
      role,
    },
    values,
  ];
}

/** Takes a tensor entry of the manifest, checked for dtype and rank, or fails naming it. */
export type TakeTensor = (name: string, dtypes: readonly Dtype[], rank: number) => TensorEntry;

/**
 * A `take` over the manifest's tensors that records each name taken in `taken`: the caller
 * leaves those out of the tensors its own model expects.
 */
export function tensorTaker(manifest: Manifest, taken: Set<string>, fail: Fail): TakeTensor {
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  return (name, dtypes, rank) => {
    const entry = entries.get(name);
    if (!entry) return fail(`tensor "${name}" is missing`);
    if (!dtypes.includes(entry.dtype))
      fail(`tensor "${name}" is ${entry.dtype}, not ${dtypes.join(' or ')}`);
    if (entry.shape.length !== rank)
      fail(`tensor "${name}" has shape [${entry.shape}], rank ${rank} expected`);
    taken.add(name);
    return entry;
  };
}

/**
 * The rows and kept count a bitmap or CSR table states through its tensors (the bitmap's
 * rows or the CSR row counts; the values stored), the CSR columns tied to the values.
 * `bitmapWidth` is checked against dim once the caller knows it (checkBitmapWidth).
 */
export function positionStructure(
  layout: PositionLayout,
  names: PrunedTensorNames,
  take: TakeTensor,
  fail: Fail,
): { rows: number; kept: number; bitmapWidth: number } {
  const length = (entry: TensorEntry): number => entry.shape[0] ?? 0;
  if (layout === 'bitmap') {
    const bitmap = take(names.bitmap, ['uint8'], 2);
    const kept = length(take(names.values, PRUNED_VALUE_DTYPES, 1));
    return { rows: length(bitmap), kept, bitmapWidth: bitmap.shape[1] ?? 0 };
  }
  const rows = length(take(names.rowCounts, POSITION_DTYPES, 1));
  const kept = length(take(names.values, PRUNED_VALUE_DTYPES, 1));
  const columns = length(take(names.columns, POSITION_DTYPES, 1));
  if (columns !== kept) fail(`${columns} columns for ${kept} values`);
  return { rows, kept, bitmapWidth: 0 };
}

export function checkBitmapWidth(
  names: PrunedTensorNames,
  layout: PositionLayout,
  bitmapWidth: number,
  dim: number,
  fail: Fail,
): void {
  if (layout === 'bitmap' && bitmapWidth !== bitmapRowBytes(dim)) {
    fail(`"${names.bitmap}" is ${bitmapWidth} bytes wide, dim ${dim} needs ${bitmapRowBytes(dim)}`);
  }
}

/**
 * The architecture's numbers and the size figures of a pruned package against its tensors:
 * keptElements, sparsity, the dense model's params (`otherParams` besides the table of
 * `total` elements) and bytes, and denseBytes.
 */
export function checkPrunedFigures(
  manifest: Manifest,
  table: { otherParams: number; total: number; kept: number },
  fail: Fail,
): void {
  const { architecture: arch, size } = manifest;
  const { otherParams, total, kept } = table;
  if (arch.keptElements !== kept) {
    fail(
      `architecture.keptElements is ${JSON.stringify(arch.keptElements)}, the tensors hold ${kept}`,
    );
  }
  const sparsity = total > 0 ? 1 - kept / total : 0;
  if (typeof arch.sparsity !== 'number' || Math.abs(arch.sparsity - sparsity) > 1e-9) {
    fail(`architecture.sparsity is ${JSON.stringify(arch.sparsity)}, the tensors give ${sparsity}`);
  }
  const expected = [
    ['denseEquivalentParams', otherParams + total],
    ['denseEquivalentBytes', 4 * (otherParams + total)],
    ['denseEmbeddingBytes', 4 * total],
  ] as const;
  for (const [key, value] of expected) {
    if (size[key] !== value) fail(`size.${key} is ${size[key]}, the dense model has ${value}`);
  }
  if (arch.denseBytes !== size.denseEquivalentBytes) {
    fail(
      `architecture.denseBytes is ${JSON.stringify(arch.denseBytes)}, size.denseEquivalentBytes ${size.denseEquivalentBytes}`,
    );
  }
}

/** A pruned package's tensors as its decoder reads them, each failing as `bad-shape` naming it. */
export function prunedTensorReader(pkg: ModelPackage) {
  const { manifest } = pkg;
  const failIn =
    (what: string): Fail =>
    (problem) => {
      throw new ModelPackageError(
        'bad-shape',
        manifest.name,
        `${manifest.kind}: ${what}: ${problem}`,
      );
    };
  const tensor = (name: string): PackageTensor => {
    const t = pkg.tensors.get(name);
    if (!t) return failIn(`tensor "${name}"`)('it was not read');
    return t;
  };
  const bytesOf = (name: string): Uint8Array => {
    const { data } = tensor(name);
    if (!(data instanceof Uint8Array)) return failIn(`tensor "${name}"`)('not uint8');
    return data;
  };
  const positionsOf = (name: string): Uint8Array | Int32Array => {
    const { data } = tensor(name);
    if (!(data instanceof Uint8Array || data instanceof Int32Array)) {
      return failIn(`tensor "${name}"`)('not uint8 or int32');
    }
    return data;
  };
  return { failIn, tensor, bytesOf, positionsOf };
}

export type PrunedTensorReader = ReturnType<typeof prunedTensorReader>;

/**
 * The kept elements of a bitmap or CSR table: their indices (row × dim + k, ascending), each
 * position checked as it is decoded, and their values dequantised.
 */
export function decodePositions(
  reader: PrunedTensorReader,
  names: PrunedTensorNames,
  layout: PositionLayout,
  shape: { rows: number; dim: number },
): { indices: Int32Array; values: Float32Array } {
  const { rows, dim } = shape;
  const values = tensorValues(reader.tensor(names.values));
  const indices =
    layout === 'bitmap'
      ? decodeBitmap(
          reader.bytesOf(names.bitmap),
          rows,
          dim,
          values.length,
          reader.failIn(names.bitmap),
        )
      : decodeCsr(
          {
            counts: reader.positionsOf(names.rowCounts),
            columns: reader.positionsOf(names.columns),
          },
          rows,
          dim,
          reader.failIn('the CSR positions'),
        );
  return { indices, values };
}

/**
 * A dense table [rows, dim] whose every element holds its group's codebook value: group g
 * (codebook row g) covers rows offsets[g] up to the next group's first row.
 */
export function codebookTable(
  codebook: Float32Array,
  offsets: readonly number[],
  shape: { rows: number; dim: number },
): Float32Array {
  const { rows, dim } = shape;
  const table = new Float32Array(rows * dim);
  offsets.forEach((first, g) => {
    const vector = codebook.subarray(g * dim, (g + 1) * dim);
    const end = offsets[g + 1] ?? rows;
    for (let r = first; r < end; r++) table.set(vector, r * dim);
  });
  return table;
}

/** table[indices[j]] = values[j]. */
export function placeKept(table: Float32Array, indices: Int32Array, values: Float32Array): void {
  for (let j = 0; j < indices.length; j++) table[indices[j] as number] = values[j] as number;
}
