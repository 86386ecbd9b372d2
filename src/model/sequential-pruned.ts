/**
 * The `sequential-pruned` package: a SASRec whose dense item table `items.table`
 * [numItems + 1, dim] was pruned (Shaver, src/compression/shaver/), stored as what is kept.
 * Every encoder weight is stored as in `sequential-dense`; the table becomes the tensors of a
 * pruned table (pruned-table.ts) under the name `items.table`:
 *
 *   items.table.codebook  [1, dim]: the fill of every pruned element (architecture.fill
 *                         "codebook"; absent for "zero")
 *   bitmap                items.table.bitmap [rows, ⌈dim/8⌉] uint8 + items.table.values [kept]
 *   csr                   items.table.rowCounts [rows] + items.table.columns [kept]
 *                         + items.table.values [kept]
 *
 * all `role: "item-embedding"`. The architecture has sequential-dense's keys and `layout`,
 * `fill`, `keptElements`, `sparsity`, `denseBytes` (the sequential-dense package's bytes) and
 * optionally `pruneMethod`. A loader rebuilds the dense table once (decodePrunedItemTable),
 * after which the model is a plain dense SASRec: the engine, eval and the FLOPs count treat it
 * as one. The codebook and values may be float16 or int8 (`pocketrec quantize` stores them
 * so); no progressive layout, which only the CTR kind has.
 */
import type { PruneFill } from '../compression/shaver/prune.ts';
import {
  type Fail,
  keptIndices,
  type PositionLayout,
  smallerPositionLayout,
} from '../compression/shaver/sparse.ts';
import { PocketrecError } from '../errors.ts';
import type { ArchitectureValue, Manifest } from '../package/manifest.ts';
import { type ModelPackage, tensorValues } from '../package/reader.ts';
import type { PackageSpec } from '../package/writer.ts';
import { DENSE_TABLE } from './item-table-names.ts';
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
} from './pruned-table.ts';
import { encoderParamCount, type SasrecConfig } from './sasrec-config.ts';

export const SEQUENTIAL_PRUNED_KIND = 'sequential-pruned';
export const SEQUENTIAL_PRUNED_LAYOUTS = ['bitmap', 'csr'] as const;
export const PRUNED_ITEM_TABLE = prunedTensorNames(DENSE_TABLE);

/** How a sequential-pruned package stores its table. */
export interface PrunedItemTable {
  layout: PositionLayout;
  fill: PrunedFillKind;
  /** numItems + 1 and dim: the dense table the loader rebuilds. */
  rows: number;
  dim: number;
  kept: number;
}

/**
 * The pruned table's structure, on the manifest alone: its rows (the bitmap's rows or the CSR
 * row counts) tied to numItems + 1, its width to dim, the codebook [1, dim], the stated
 * numbers to the tensors. Returns the tensors it accounts for, which the encoder's check
 * then leaves out. Positions are checked when they are decoded.
 */
export function checkPrunedItemTable(
  manifest: Manifest,
  config: SasrecConfig,
  fail: Fail,
): { table: PrunedItemTable; tensors: Set<string> } {
  const arch = manifest.architecture;
  const layout = SEQUENTIAL_PRUNED_LAYOUTS.find((l) => l === arch.layout);
  if (layout === undefined) {
    return fail(`architecture.layout must be one of ${SEQUENTIAL_PRUNED_LAYOUTS.join(', ')}`);
  }
  const fill = PRUNED_FILLS.find((f) => f === arch.fill);
  if (fill === undefined) {
    return fail(`architecture.fill must be one of ${PRUNED_FILLS.join(', ')}`);
  }
  const tensors = new Set<string>();
  const take = tensorTaker(manifest, tensors, fail);
  const names = PRUNED_ITEM_TABLE;
  const { rows, kept, bitmapWidth } = positionStructure(layout, names, take, fail);
  const { dim } = config;
  if (rows !== config.numItems + 1) {
    fail(`the pruned table has ${rows} rows, numItems + 1 is ${config.numItems + 1}`);
  }
  const total = rows * dim;
  if (total > MAX_PRUNED_TABLE_ELEMENTS) {
    fail(
      `a table of ${rows} x ${dim} elements is over the ${MAX_PRUNED_TABLE_ELEMENTS} a reader rebuilds`,
    );
  }
  checkBitmapWidth(names, layout, bitmapWidth, dim, fail);
  if (fill === 'codebook') {
    const codebook = take(names.codebook, PRUNED_VALUE_DTYPES, 2);
    if (codebook.shape[0] !== 1 || codebook.shape[1] !== dim) {
      fail(`"${names.codebook}" has shape [${codebook.shape}], expected [1, ${dim}]`);
    }
  }
  if (kept > total) fail(`${kept} elements stored for a table of ${total}`);
  checkPrunedFigures(manifest, { otherParams: encoderParamCount(config), total, kept }, fail);
  return { table: { layout, fill, rows, dim, kept }, tensors };
}

/**
 * The dense table [rows, dim] of a sequential-pruned package whose structure was checked:
 * the codebook row (or zero) everywhere, the kept values at their positions, every position
 * checked as it is decoded. No tfjs, so `verify` runs it too.
 */
export function decodePrunedItemTable(pkg: ModelPackage, table: PrunedItemTable): Float32Array {
  const reader = prunedTensorReader(pkg);
  const { rows, dim } = table;
  const dense =
    table.fill === 'codebook'
      ? codebookTable(tensorValues(reader.tensor(PRUNED_ITEM_TABLE.codebook)), [0], { rows, dim })
      : new Float32Array(rows * dim);
  const { indices, values } = decodePositions(reader, PRUNED_ITEM_TABLE, table.layout, {
    rows,
    dim,
  });
  placeKept(dense, indices, values);
  return dense;
}

export interface SequentialPrunedOptions {
  /** 'auto' (the default): bitmap or CSR, whichever stores the positions in fewer bytes. */
  layout?: PositionLayout | 'auto';
  /** How kept values are stored (default float32). */
  dtype?: PrunedValueDtype;
  /** Recorded as architecture.pruneMethod, for `info`. */
  method?: string;
}

/**
 * A sequential-dense package's spec (sequentialPackageSpec) with its item table pruned to
 * `mask` and filled with `fill` (the codebook [dim] or zero): the kept elements of its table
 * are stored, the rest dropped.
 */
export function sequentialPrunedSpec(
  dense: PackageSpec,
  mask: Uint8Array,
  fill: PruneFill,
  options: SequentialPrunedOptions = {},
): PackageSpec {
  const refuse = (problem: string): never => {
    throw new PocketrecError('bad-prune', `${dense.name}: ${problem}`);
  };
  if (dense.kind !== 'sequential-dense') refuse(`a ${dense.kind} spec has no dense item table`);
  const entry = dense.tensors.find((t) => t.name === DENSE_TABLE);
  const table = entry?.data;
  const [rows, dim] = entry?.shape ?? [];
  if (!(table instanceof Float32Array) || rows === undefined || dim === undefined) {
    return refuse('the model has no float32 item table');
  }
  const total = rows * dim;
  if (total > MAX_PRUNED_TABLE_ELEMENTS) {
    refuse(
      `a table of ${total} elements is over the ${MAX_PRUNED_TABLE_ELEMENTS} a reader accepts`,
    );
  }
  if (mask.length !== total) refuse(`a mask of ${mask.length} elements for a table of ${total}`);
  if (fill !== 'zero' && fill.length !== dim) {
    refuse(`the codebook has ${fill.length} values, [1, ${dim}] needed`);
  }
  const kept = keptIndices(mask).length;
  const requested = options.layout ?? 'auto';
  const layout = requested === 'auto' ? smallerPositionLayout(rows, dim, kept) : requested;
  const tensors = dense.tensors.filter((t) => t !== entry);
  if (fill !== 'zero') {
    tensors.push({
      name: PRUNED_ITEM_TABLE.codebook,
      dtype: 'float32',
      shape: [1, dim],
      data: fill,
      role: 'item-embedding',
    });
  }
  tensors.push(
    ...positionTensors(
      PRUNED_ITEM_TABLE,
      layout,
      mask,
      table,
      { rows, dim },
      options.dtype ?? 'float32',
    ),
  );
  const architecture: Record<string, ArchitectureValue> = {
    ...dense.architecture,
    layout,
    fill: fill === 'zero' ? 'zero' : 'codebook',
    keptElements: kept,
    sparsity: total > 0 ? 1 - kept / total : 0,
    // The dense package stores every weight as float32: its bytes are its dense equivalent's.
    denseBytes: 4 * dense.denseEquivalent.params,
    ...(options.method === undefined ? {} : { pruneMethod: options.method }),
  };
  return { ...dense, kind: SEQUENTIAL_PRUNED_KIND, architecture, tensors };
}
