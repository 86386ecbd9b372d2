/**
 * The structure a `sequential-dense`, `sequential-tt`, `sequential-jpq` or `sequential-qr`
 * package must have,
 * checked on the manifest alone: no weight is read, and nothing is allocated in proportion
 * to a number the manifest merely states. Every architecture number is tied to tensors that
 * are present (and so to bytes that were hashed): `dim` and `maxLen` to the position table,
 * `blocks` to the block tensors found, the item count to the item table, a tensor-train's
 * padded rows to the item count, a RecJPQ table's splits and centroids to its codebooks and
 * codes, a quotient-remainder table's remainder rows to the item count and to both factors'
 * shapes, the blocks' inner widths (innerQk, innerV, innerFfn) to their projections' kernels,
 * a `sequential-pruned` package's stored table to the rows and width of the dense one it
 * stands for (sequential-pruned.ts), the encoder variant's fields (VARIANT_KEYS: where the
 * LayerNorms sit, the activation, ε, ...) to their choices and its norms' tensors to
 * being present. Only then is the list of expected tensors built and compared, shape by shape, with the
 * manifest's. A RecJPQ table's code values are data, not structure: checkJpqCodes reads
 * them before a loader uses them.
 *
 * `pocketrec verify` runs this; every sequential loader (the toolkit's commands and the
 * browser engine) runs it before it builds a tensor.
 */
import { ModelPackageError } from '../package/errors.ts';
import type { Manifest } from '../package/manifest.ts';
import type { ModelPackage } from '../package/reader.ts';
import {
  DENSE_TABLE,
  JPQ_CODEBOOKS,
  JPQ_CODES,
  QR_QUOTIENT,
  QR_REMAINDER,
  ttCoreName,
} from './item-table-names.ts';
import { type JpqShape, MAX_JPQ_CENTROIDS } from './jpq-codes.ts';
import { checkPriorEntry, PRIOR_TENSOR } from './popularity.ts';
import {
  isQrOperation,
  QR_OPERATIONS,
  type QrShape,
  qrBucketsProblem,
  qrQuotientRows,
} from './qr-partition.ts';
import {
  type BlockWidths,
  blockWidths,
  ENCODER_VARIANT_DEFAULTS,
  type EncoderVariant,
  encoderVariantProblem,
  encoderWeightShapes,
  hasDefaultInner,
  innerWidthsProblem,
  POSITION_SCHEMES,
  type PositionScheme,
  READOUTS,
  type Readout,
  type SasrecConfig,
} from './sasrec-config.ts';
import {
  checkPrunedItemTable,
  type PrunedItemTable,
  SEQUENTIAL_PRUNED_KIND,
} from './sequential-pruned.ts';
import { type TtShape, ttCoreShapes, ttPaddingProblem } from './tt-shape.ts';
import { checkWeightEntry, sameShape } from './weight-entry.ts';

export const SEQUENTIAL_KINDS = [
  'sequential-dense',
  'sequential-tt',
  'sequential-jpq',
  'sequential-qr',
  SEQUENTIAL_PRUNED_KIND,
] as const;

/** The architecture keys of a RecJPQ item table (JpqShape). */
export const JPQ_KEYS = {
  splits: 'jpqSplits',
  centroids: 'jpqCentroids',
} as const satisfies Record<keyof JpqShape, string>;

/** The architecture keys of a quotient-remainder item table (QrShape). */
export const QR_KEYS = {
  buckets: 'qrBuckets',
  operation: 'qrOperation',
} as const satisfies Record<keyof QrShape, string>;

/** The stored type of a RecJPQ table's codes: one byte each (MAX_JPQ_CENTROIDS). */
export const JPQ_CODES_DTYPE = 'uint8';

/**
 * The architecture keys of the blocks' inner widths (SasrecConfig.inner), one number per
 * block each; written only when some block is narrower than the defaults, and then all three.
 */
export const INNER_WIDTH_KEYS = {
  qk: 'innerQk',
  v: 'innerV',
  ffn: 'innerFfn',
} as const satisfies Record<keyof BlockWidths, string>;

/**
 * The architecture keys of the encoder variant (EncoderVariant: an imported teacher's
 * departures from pocketrec's encoder), each written only when it is not at its default, so
 * every package from before them reads as it did.
 */
export const VARIANT_KEYS = [
  ...(Object.keys(ENCODER_VARIANT_DEFAULTS) as (keyof typeof ENCODER_VARIANT_DEFAULTS)[]),
  'ffnDim',
] as const satisfies readonly (keyof EncoderVariant)[];

/** The variant's fields read from the architecture, unchecked (configOf checks them). */
function variantFields(arch: Manifest['architecture']): EncoderVariant {
  const out: Record<string, unknown> = {};
  for (const key of VARIANT_KEYS) if (arch[key] !== undefined) out[key] = arch[key];
  return out as EncoderVariant;
}

/** The architecture entries of config.inner: none when every block has the default widths. */
export function innerArchitecture(config: SasrecConfig): Record<string, number[]> {
  if (!config.inner || hasDefaultInner(config)) return {};
  const inner = config.inner;
  return {
    [INNER_WIDTH_KEYS.qk]: inner.map((w) => w.qk),
    [INNER_WIDTH_KEYS.v]: inner.map((w) => w.v),
    [INNER_WIDTH_KEYS.ffn]: inner.map((w) => w.ffn),
  };
}

export type SequentialItemTable =
  | { kind: 'dense' }
  | { kind: 'tt'; shape: TtShape }
  | ({ kind: 'jpq' } & JpqShape)
  | ({ kind: 'qr' } & QrShape);

export interface SequentialStructure {
  config: SasrecConfig;
  /** The table the model runs with: a sequential-pruned package's is the dense one it rebuilds. */
  table: SequentialItemTable;
  /** How a sequential-pruned package stores its table (sequential-pruned.ts). */
  pruned?: PrunedItemTable;
}

export function isSequentialKind(kind: string): kind is (typeof SEQUENTIAL_KINDS)[number] {
  return (SEQUENTIAL_KINDS as readonly string[]).includes(kind);
}

/** Checks the manifest against the model it describes; a ModelPackageError('bad-shape') names the first mismatch. */
export function checkSequentialStructure(manifest: Manifest): SequentialStructure {
  const fail = (problem: string): never => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
  if (!isSequentialKind(manifest.kind)) {
    throw new ModelPackageError(
      'bad-manifest',
      manifest.name,
      `kind "${manifest.kind}" is not a sequential model this reader knows`,
    );
  }
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const config = configOf(manifest, fail);

  // The position table fixes dim and maxLen to stored bytes before any list is built.
  const positions = entries.get('positions');
  if (!positions) fail('tensor "positions" is missing');
  else if (!sameShape(positions.shape, [config.maxLen, config.dim])) {
    fail(
      `tensor "positions" has shape [${positions.shape}], but architecture.maxLen and dim say [${config.maxLen},${config.dim}]`,
    );
  }
  // And the block count to the block tensors present.
  const perBlock =
    encoderWeightShapes({ ...config, blocks: 1 }).length -
    encoderWeightShapes({ ...config, blocks: 0 }).length;
  const blockTensors = manifest.tensors.filter((t) => t.name.startsWith('blocks.')).length;
  if (blockTensors !== config.blocks * perBlock) {
    fail(
      `architecture.blocks is ${config.blocks}, but the package has ${blockTensors} block tensors (${perBlock} per block)`,
    );
  }
  // And the inner widths to the kernels of the projections they size.
  checkInnerWidths(manifest, config, fail);

  const table = itemTableOf(manifest, config, fail);
  if (table.kind === 'jpq') {
    // The codes are integers, not weights: their own dtype, and no scale.
    const codes = entries.get(JPQ_CODES);
    const shape = [config.numItems + 1, table.splits];
    if (!codes) return fail(`tensor "${JPQ_CODES}" is missing`);
    if (!sameShape(codes.shape, shape)) {
      fail(
        `tensor "${JPQ_CODES}" has shape [${codes.shape}], expected [${shape}] (numItems + 1 rows, architecture.${JPQ_KEYS.splits} codes each)`,
      );
    }
    if (codes.dtype !== JPQ_CODES_DTYPE || codes.scale !== undefined || codes.scales) {
      fail(
        `tensor "${JPQ_CODES}" is ${codes.dtype}; RecJPQ codes are ${JPQ_CODES_DTYPE}, unscaled`,
      );
    }
    entries.delete(JPQ_CODES);
  }
  // A pruned table's tensors are checked by their own kind; the encoder's are checked below.
  const pruned =
    manifest.kind === SEQUENTIAL_PRUNED_KIND ? checkPrunedItemTable(manifest, config, fail) : null;
  for (const name of pruned?.tensors ?? []) entries.delete(name);
  // The popularity prior is the package's, not the network's: any sequential kind may carry it.
  if (checkPriorEntry(manifest, fail)) entries.delete(PRIOR_TENSOR);
  const expected: [string, readonly number[]][] = [
    ...encoderWeightShapes(config),
    ...(pruned ? [] : itemTableShapes(config, table)),
  ];
  for (const [name, shape] of expected) {
    const entry = entries.get(name);
    if (!entry) return fail(`tensor "${name}" is missing`);
    checkWeightEntry(entry, shape, fail);
    entries.delete(name);
  }
  const extra = [...entries.keys()];
  if (extra.length > 0) {
    fail(`tensor "${extra[0]}" is not part of this model (${extra.length} unexpected in all)`);
  }
  return { config, table, ...(pruned ? { pruned: pruned.table } : {}) };
}

/** The item table's weight tensors (a RecJPQ table's codes are not weights) and their shapes. */
function itemTableShapes(config: SasrecConfig, table: SequentialItemTable): [string, number[]][] {
  switch (table.kind) {
    case 'dense':
      return [[DENSE_TABLE, [config.numItems + 1, config.dim]]];
    case 'tt':
      return ttCoreShapes(table.shape).map((s, k) => [ttCoreName(k), s]);
    case 'jpq':
      return [[JPQ_CODEBOOKS, [table.splits, table.centroids, config.dim / table.splits]]];
    case 'qr':
      return [
        [QR_QUOTIENT, [qrQuotientRows(config.numItems + 1, table.buckets), config.dim]],
        [QR_REMAINDER, [table.buckets, config.dim]],
      ];
  }
}

/**
 * Every RecJPQ code names a row of its codebook: the codes' bytes, which the manifest does
 * not describe, checked before a loader gathers with them (an out-of-range index reads
 * another split's row, or nothing, depending on the backend).
 */
export function checkJpqCodes(
  manifest: Manifest,
  codes: ArrayLike<number>,
  { splits, centroids }: JpqShape,
): void {
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] as number;
    if (!(code < centroids)) {
      throw new ModelPackageError(
        'bad-shape',
        manifest.name,
        `${manifest.kind}: tensor "${JPQ_CODES}" holds code ${code} at row ${Math.floor(i / splits)}, split ${i % splits}, but architecture.${JPQ_KEYS.centroids} is ${centroids} (codes 0..${centroids - 1})`,
      );
    }
  }
}

/** The encoder's configuration as the architecture states it, each number checked for type and range. */
function configOf(manifest: Manifest, fail: (problem: string) => never): SasrecConfig {
  const arch = manifest.architecture;
  const int = (key: string, min: number): number => {
    const v = arch[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      return fail(`architecture.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const config: SasrecConfig = {
    // The variant first: its fields are checked below, and ffnDim sizes the default widths.
    ...variantFields(arch),
    numItems: int('numItems', 1),
    dim: int('dim', 1),
    maxLen: int('maxLen', 1),
    blocks: int('blocks', 0),
    heads: int('heads', 1),
    dropout: typeof arch.dropout === 'number' ? arch.dropout : 0,
    // Packages from before the option were all trained right-aligned.
    positions: (arch.positions ?? 'from-latest') as PositionScheme,
    // And scored from the last position.
    readout: (arch.readout ?? 'last') as Readout,
  };
  if (!POSITION_SCHEMES.includes(config.positions)) {
    fail(
      `architecture.positions must be one of ${POSITION_SCHEMES.join(', ')}, got ${JSON.stringify(arch.positions)}`,
    );
  }
  if (!READOUTS.includes(config.readout)) {
    fail(
      `architecture.readout must be one of ${READOUTS.join(', ')}, got ${JSON.stringify(arch.readout)}`,
    );
  }
  if (config.numItems !== manifest.items.count) {
    fail(
      `architecture.numItems ${config.numItems} differs from items.count ${manifest.items.count}`,
    );
  }
  if (config.heads > config.dim || config.dim % config.heads !== 0) {
    fail(`dim ${config.dim} is not divisible by heads ${config.heads}`);
  }
  const variant = encoderVariantProblem(config);
  if (variant) fail(`architecture.${variant}`);
  const inner = innerOf(arch, config, fail);
  return inner ? { ...config, inner } : config;
}

/**
 * config.inner from architecture.innerQk, innerV and innerFfn: all three or none (the
 * defaults), each one positive integer per block, at most its default width. Widths equal
 * to the defaults everywhere give no `inner`, as the writer would have written none.
 */
function innerOf(
  arch: Manifest['architecture'],
  config: SasrecConfig,
  fail: (problem: string) => never,
): BlockWidths[] | undefined {
  const keys = Object.values(INNER_WIDTH_KEYS);
  const present = keys.filter((key) => arch[key] !== undefined);
  if (present.length === 0) return undefined;
  if (present.length < keys.length) {
    const missing = keys.filter((key) => arch[key] === undefined);
    fail(
      `architecture.${missing[0]} is missing: ${keys.join(', ')} go together (found only ${present.join(', ')})`,
    );
  }
  const list = (key: string): number[] => {
    const v = arch[key];
    if (
      !Array.isArray(v) ||
      v.length !== config.blocks ||
      !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x > 0)
    ) {
      return fail(
        `architecture.${key} must list ${config.blocks} positive integers (one per block), got ${JSON.stringify(v)}`,
      );
    }
    return v as number[];
  };
  const qk = list(INNER_WIDTH_KEYS.qk);
  const v = list(INNER_WIDTH_KEYS.v);
  const ffn = list(INNER_WIDTH_KEYS.ffn);
  const inner = qk.map((q, b) => ({ qk: q, v: v[b] as number, ffn: ffn[b] as number }));
  const withInner = { ...config, inner };
  const problem = innerWidthsProblem(withInner);
  if (problem) {
    // Name the architecture key, not the config field.
    const at = /^inner\[(\d+)\]\.(qk|v|ffn) (.*)$/.exec(problem);
    if (at) {
      const key = INNER_WIDTH_KEYS[at[2] as keyof BlockWidths];
      fail(`architecture.${key}[${at[1]}] ${at[3]}`);
    }
    fail(problem);
  }
  return hasDefaultInner(withInner) ? undefined : inner;
}

/**
 * Each block's projection kernels against the inner widths the architecture states (or the
 * defaults), so that a mismatch names the architecture key rather than only a tensor.
 */
function checkInnerWidths(
  manifest: Manifest,
  config: SasrecConfig,
  fail: (problem: string) => never,
): void {
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const stated = config.inner
    ? ''
    : ` (absent: the defaults${config.ffnDim === undefined ? '' : `, ffn architecture.ffnDim ${config.ffnDim}`})`;
  for (let b = 0; b < config.blocks; b++) {
    const { qk, v, ffn } = blockWidths(config, b);
    const p = `blocks.${b}`;
    const h = config.heads;
    const d = config.dim;
    const kernels: [string, number[], keyof BlockWidths, number][] = [
      [`${p}.attention.query.kernel`, [d, h * qk], 'qk', qk],
      [`${p}.attention.key.kernel`, [d, h * qk], 'qk', qk],
      [`${p}.attention.value.kernel`, [d, h * v], 'v', v],
      [`${p}.attention.output.kernel`, [h * v, d], 'v', v],
      [`${p}.ffn.inner.kernel`, [d, ffn], 'ffn', ffn],
      [`${p}.ffn.outer.kernel`, [ffn, d], 'ffn', ffn],
    ];
    for (const [name, shape, width, value] of kernels) {
      const entry = entries.get(name);
      // A missing kernel is reported with the full list of expected tensors.
      if (entry && !sameShape(entry.shape, shape)) {
        const per = width === 'ffn' ? '' : ` per head (${h} heads)`;
        fail(
          `tensor "${name}" has shape [${entry.shape}], but architecture.${INNER_WIDTH_KEYS[width]}${stated} gives block ${b} a ${width} width of ${value}${per}: [${shape}]`,
        );
      }
    }
  }
}

function itemTableOf(
  manifest: Manifest,
  config: SasrecConfig,
  fail: (problem: string) => never,
): SequentialItemTable {
  if (manifest.kind === 'sequential-dense' || manifest.kind === SEQUENTIAL_PRUNED_KIND) {
    return { kind: 'dense' };
  }
  const arch = manifest.architecture;
  if (manifest.kind === 'sequential-qr') return qrTableOf(manifest, config, fail);
  if (manifest.kind === 'sequential-jpq') {
    const int = (key: string, max: number): number => {
      const v = arch[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) {
        return fail(
          `architecture.${key} must be an integer in 1..${max}, got ${JSON.stringify(v)}`,
        );
      }
      return v;
    };
    const splits = int(JPQ_KEYS.splits, config.dim);
    const centroids = int(JPQ_KEYS.centroids, MAX_JPQ_CENTROIDS);
    if (config.dim % splits !== 0) {
      fail(`dim ${config.dim} is not divisible by architecture.${JPQ_KEYS.splits} ${splits}`);
    }
    return { kind: 'jpq', splits, centroids };
  }
  const factors = (key: string): number[] => {
    const v = arch[key];
    if (
      !Array.isArray(v) ||
      v.length < 2 ||
      v.length > 3 ||
      !v.every((x) => Number.isSafeInteger(x) && (x as number) > 0)
    ) {
      return fail(
        `architecture.${key} must list 2 or 3 positive integers, got ${JSON.stringify(v)}`,
      );
    }
    return v as number[];
  };
  const shape: TtShape = {
    rows: factors('ttRows'),
    cols: factors('ttCols'),
    rank: Number(arch.ttRank),
    stp: Number(arch.ttStp),
  };
  try {
    ttCoreShapes(shape);
  } catch (error) {
    // An impossible shape (rank, STP factor) is a package problem here.
    fail((error as Error).message);
  }
  const dim = shape.cols.reduce((a, b) => a * b, 1);
  if (dim !== config.dim) fail(`ttCols multiply to ${dim}, not dim ${config.dim}`);
  const padding = ttPaddingProblem(shape.rows, config.numItems + 1);
  if (padding) fail(padding);
  return { kind: 'tt', shape };
}

/**
 * A quotient-remainder table's shape from qrBuckets and qrOperation, the remainder rows tied
 * to the item count (at most numItems + 1) and both factors' shapes checked here, so that a
 * mismatch names the key that implies them.
 */
function qrTableOf(
  manifest: Manifest,
  config: SasrecConfig,
  fail: (problem: string) => never,
): SequentialItemTable {
  const arch = manifest.architecture;
  const numRows = config.numItems + 1;
  const buckets = arch[QR_KEYS.buckets];
  if (typeof buckets !== 'number' || qrBucketsProblem(numRows, buckets)) {
    return fail(
      `architecture.${QR_KEYS.buckets} must be an integer in 1..${numRows} (numItems + 1), got ${JSON.stringify(buckets)}`,
    );
  }
  const operation = arch[QR_KEYS.operation];
  if (!isQrOperation(operation)) {
    return fail(
      `architecture.${QR_KEYS.operation} must be one of ${QR_OPERATIONS.join(', ')}, got ${JSON.stringify(operation)}`,
    );
  }
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const quotientRows = qrQuotientRows(numRows, buckets);
  const factors: [string, number[], string][] = [
    [QR_QUOTIENT, [quotientRows, config.dim], `⌈(numItems + 1) / ${buckets}⌉ rows`],
    [QR_REMAINDER, [buckets, config.dim], `${buckets} rows`],
  ];
  for (const [name, shape, rows] of factors) {
    const entry = entries.get(name);
    // A missing factor is reported with the full list of expected tensors.
    if (entry && !sameShape(entry.shape, shape)) {
      fail(
        `tensor "${name}" has shape [${entry.shape}], but numItems ${config.numItems} and architecture.${QR_KEYS.buckets} ${buckets} give [${shape}] (${rows} of dim ${config.dim})`,
      );
    }
  }
  return { kind: 'qr', buckets, operation };
}

/** architecture.repeatBonus: absent (packages before it, or never tuned) is 0. */
export function repeatBonusOf(pkg: Pick<ModelPackage, 'manifest'>): number {
  const v = pkg.manifest.architecture.repeatBonus ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ModelPackageError(
      'bad-shape',
      pkg.manifest.name,
      `architecture.repeatBonus must be a number >= 0, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}
