/**
 * The fused SASRec inference path on WASM SIMD: one history's encoding (every block, the
 * keys and values kept between requests), the item scores and the top-k, each one call into
 * the kernels of ./assembly/index.ts over buffers laid out here once per model. What it
 * computes is what src/model/sasrec.ts's encode / encodeNext and the engine's scoring compute
 * with tfjs (one op per layer part, each its own dispatch and allocation); the tfjs path stays
 * the reference and the fallback (test/unit/kernels/fused-sasrec.test.ts, and on 200 ML-1M
 * sessions test/browser/parity.data.test.ts).
 *
 * It imports no tfjs: weights come in as Float32Arrays.
 */
import {
  ACTIVATIONS,
  attentionScale,
  blockWidths,
  ENCODER_VARIANT_DEFAULTS,
  type SasrecConfig,
} from '../../../model/sasrec-config.ts';
import { ttMaterialiseRow } from '../../../model/tt-materialise.ts';
import type { TtShape } from '../../../model/tt-shape.ts';
import { WASM_BASE64 } from './module.generated.ts';
import { TT_WORDS, WindowRowSlots, writeTensorTrain } from './tensor-train-scoring.ts';

/** The kernels' exports (./assembly/index.ts). */
interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  encodeRows(desc: number, items: number, from: number, length: number): void;
  scoreAll(desc: number, out: number): void;
  scoreRows(desc: number, rows: number, count: number, out: number): void;
  ttScoreAll(tt: number, query: number, out: number, numRows: number): void;
  topK(
    scores: number,
    skip: number,
    from: number,
    n: number,
    k: number,
    bestRows: number,
    bestScores: number,
  ): number;
}

// The model table's words, as ./assembly/index.ts reads them.
const WORD = {
  dim: 0,
  heads: 1,
  blocks: 2,
  flags: 3,
  eps: 4,
  scale: 5,
  embedScale: 6,
  positions: 7,
  embGamma: 8,
  embBeta: 9,
  finalGamma: 10,
  finalBeta: 11,
  table: 12,
  numRows: 13,
  x: 14,
  h: 15,
  q: 16,
  att: 17,
  inner: 18,
  tmp: 19,
  probs: 20,
  query: 21,
} as const;
const BLOCK0 = 32;
const BLOCK_WORDS = 24;
/** Each block's weights in word order from BLOCK0 + b·BLOCK_WORDS + 3 (words 0-2: qk, v, ffn). */
const BLOCK_TENSORS = [
  'norm1.gamma',
  'norm1.beta',
  'attention.query.kernel',
  'attention.query.bias',
  'attention.key.kernel',
  'attention.key.bias',
  'attention.value.kernel',
  'attention.value.bias',
  'attention.output.kernel',
  'attention.output.bias',
  'norm2.gamma',
  'norm2.beta',
  'ffn.inner.kernel',
  'ffn.inner.bias',
  'ffn.outer.kernel',
  'ffn.outer.bias',
] as const;
const KEYS_WORD = 19;
const VALUES_WORD = 20;
const FLAG = { postNorm: 1, gelu: 2, embeddingNorm: 4, finalNorm: 8, fromLatest: 16 } as const;
const DESC_WORDS = BLOCK0 + 64 * BLOCK_WORDS;

let compiled: Promise<WebAssembly.Module> | null = null;

/** The kernels' WASM bytes, decoded from the generated module. */
export function kernelBytes(): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
}

/** The kernels compiled once per thread (a few KB; instantiated once per model). */
function kernelModule(): Promise<WebAssembly.Module> {
  if (!compiled) {
    compiled = WebAssembly.compile(kernelBytes());
    compiled.catch(() => {
      compiled = null;
    });
  }
  return compiled;
}

/**
 * Why the fused path cannot run this encoder, or null when it can: an 'attention' readout
 * and visible padding keys (pmixer) stay on the tfjs path, as do more than 64 blocks.
 */
export function fusedUnsupported(config: SasrecConfig): string | null {
  if (config.readout !== 'last') return `the ${config.readout} readout`;
  if ((config.paddingKeys ?? ENCODER_VARIANT_DEFAULTS.paddingKeys) !== 'masked') {
    return 'visible padding keys';
  }
  if (config.blocks > 64) return `${config.blocks} blocks`;
  if (config.activation !== undefined && !ACTIVATIONS.includes(config.activation)) {
    return `activation ${config.activation}`;
  }
  return null;
}

/**
 * The item table the kernels read: built ([numRows, dim], row 0 the padding row), or a
 * tensor-train table's cores as stored, scored through them (tensor-train-scoring.ts) and
 * whose rows the history needs are built one by one.
 */
export type FusedTable =
  | { kind: 'dense'; values: Float32Array }
  | { kind: 'tensor-train'; cores: readonly Float32Array[]; shape: TtShape };

/** The weights the fused path reads: the encoder's, named as in the package, and the table. */
export interface FusedWeights {
  encoder: Record<string, Float32Array>;
  table: FusedTable;
  /** The table's rows, padding row included (a tensor-train table pads past them). */
  numRows: number;
}

/** One model's kernels, memory and layout. Not thread-safe: one request at a time. */
export class FusedSasrec {
  private readonly memory: WebAssembly.Memory;
  private readonly layout: Layout;

  private constructor(
    private readonly kernels: Kernels,
    readonly config: SasrecConfig,
    readonly numRows: number,
    layout: Layout,
  ) {
    this.memory = kernels.memory;
    this.layout = layout;
  }

  static async create(config: SasrecConfig, weights: FusedWeights): Promise<FusedSasrec> {
    const problem = fusedUnsupported(config);
    if (problem) throw new Error(`the fused WASM path does not run ${problem}`);
    const instance = await WebAssembly.instantiate(await kernelModule());
    const kernels = instance.exports as unknown as Kernels;
    const layout = writeModel(kernels, config, weights);
    return new FusedSasrec(kernels, config, weights.numRows, layout);
  }

  /**
   * Encodes window[from..] (internal ids, oldest first, at most maxLen), the rows before
   * `from` having been encoded by earlier calls for the same window's prefix (their keys and
   * values are kept). Returns the query: a view into the kernels' memory, valid until the
   * next call.
   */
  encode(window: Int32Array, from: number): Float32Array {
    const { maxLen, dim, positions } = this.config;
    const length = window.length;
    if (length < 1 || length > maxLen)
      throw new RangeError(`window of ${length} items (maxLen ${maxLen})`);
    if (from < 0 || from >= length || (from > 0 && positions === 'from-latest')) {
      throw new RangeError(`cannot encode a window of ${length} from position ${from}`);
    }
    for (const item of window) {
      if (!(item >= 1 && item < this.numRows))
        throw new RangeError(`item row ${item} is not in the table`);
    }
    const { table } = this.layout;
    const items = new Int32Array(this.memory.buffer, this.layout.items, length);
    if (table.kind === 'dense') {
      items.set(window);
    } else {
      // The kernels read the window's rows from a table of maxLen + 1 slots, each row built
      // from the cores into its slot once and kept while the windows hold it.
      const slots = new Float32Array(this.memory.buffer, table.windowRows, (maxLen + 1) * dim);
      table.slots.assign(window, items, (row, slot) => {
        slots.set(ttMaterialiseRow(table.cores, table.shape, row), slot * dim);
      });
    }
    this.kernels.encodeRows(this.layout.desc, this.layout.items, from, length);
    return this.lastQuery();
  }

  /**
   * Every row's score against the last encoded query (row 0 included), as a view the caller
   * may change in place (a repeat bonus) before topK; valid until the next call.
   */
  scoreAll(): Float32Array {
    const { desc, table, scores, query } = this.layout;
    if (table.kind === 'dense') this.kernels.scoreAll(desc, scores);
    else this.kernels.ttScoreAll(table.desc, query, scores, this.numRows);
    return new Float32Array(this.memory.buffer, scores, this.numRows);
  }

  /** The scores of the given rows (each in 1..numRows-1) against the last query, a copy. */
  scoreRows(rows: Int32Array): Float32Array {
    for (const row of rows) {
      if (!(row >= 0 && row < this.numRows)) throw new RangeError(`row ${row} is not in the table`);
    }
    const out = new Float32Array(rows.length);
    const { desc, table, bestRows, scores } = this.layout;
    if (table.kind === 'tensor-train') {
      const query = this.lastQuery();
      rows.forEach((row, i) => {
        const values = ttMaterialiseRow(table.cores, table.shape, row);
        let sum = 0;
        for (let c = 0; c < values.length; c++) sum += (query[c] as number) * (values[c] as number);
        out[i] = sum;
      });
      return out;
    }
    // The rows go where the best rows live (free between requests), the scores where scoreAll
    // writes: each holds numRows values, so a longer list (a page may repeat candidates) goes
    // through in parts.
    for (let start = 0; start < rows.length; start += this.numRows) {
      const part = rows.subarray(start, Math.min(rows.length, start + this.numRows));
      new Int32Array(this.memory.buffer, bestRows, part.length).set(part);
      this.kernels.scoreRows(desc, bestRows, part.length, scores);
      out.set(new Float32Array(this.memory.buffer, scores, part.length), start);
    }
    return out;
  }

  /**
   * The best k rows of the scores scoreAll left (rows 1.., `skipped` and non-finite scores
   * left out), best first, ties to the lower row: copies.
   */
  topK(k: number, skipped: Iterable<number>): { rows: Int32Array; scores: Float32Array } {
    const n = this.numRows;
    const { scores, bestRows, bestScores } = this.layout;
    const skip = new Uint8Array(this.memory.buffer, this.layout.skip, n);
    const marked: number[] = [];
    for (const row of skipped) {
      if (row > 0 && row < n && skip[row] === 0) {
        skip[row] = 1;
        marked.push(row);
      }
    }
    const want = Math.max(0, Math.min(k, n - 1));
    const found = this.kernels.topK(scores, this.layout.skip, 1, n, want, bestRows, bestScores);
    for (const row of marked) skip[row] = 0;
    return {
      rows: new Int32Array(this.memory.buffer, bestRows, found).slice(),
      scores: new Float32Array(this.memory.buffer, bestScores, found).slice(),
    };
  }

  /** The query the last encode left, a view into the kernels' memory. */
  lastQuery(): Float32Array {
    return new Float32Array(this.memory.buffer, this.layout.query, this.config.dim);
  }

  /** Bytes of WASM memory this model holds (weights, caches, buffers). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }
}

interface Layout {
  desc: number;
  /** Where the kernels read item rows from. */
  table:
    | { kind: 'dense' }
    | {
        kind: 'tensor-train';
        /** The scoring's descriptor (tensor-train-scoring.ts). */
        desc: number;
        /** The window's rows, maxLen + 1 slots of dim. */
        windowRows: number;
        slots: WindowRowSlots;
        cores: readonly Float32Array[];
        shape: TtShape;
      };
  items: number;
  scores: number;
  skip: number;
  bestRows: number;
  bestScores: number;
  query: number;
}

/** A bump allocator over the kernels' memory, 16-byte aligned, growing the memory as it goes. */
class Arena {
  private next: number;
  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.next = align(base);
  }
  take(bytes: number): number {
    const at = this.next;
    this.next = align(at + bytes);
    const short = this.next - this.memory.buffer.byteLength;
    if (short > 0) this.memory.grow(Math.ceil(short / 65536));
    return at;
  }
  floats(values: Float32Array): number {
    const at = this.take(values.byteLength);
    new Float32Array(this.memory.buffer, at, values.length).set(values);
    return at;
  }
}

function align(n: number): number {
  return (n + 15) & ~15;
}

/** Copies the weights in and writes the model table; returns where everything lies. */
function writeModel(kernels: Kernels, config: SasrecConfig, weights: FusedWeights): Layout {
  const arena = new Arena(kernels.memory, kernels.heapBase());
  const { dim, heads, blocks, maxLen } = config;
  const desc = arena.take(DESC_WORDS * 4);
  const words: [number, number][] = [];
  const floatsAt: [number, number][] = [];
  const tensor = (name: string, length: number): number => {
    const values = weights.encoder[name];
    if (!values) throw new Error(`the fused path needs weight "${name}"`);
    if (values.length !== length) {
      throw new Error(`weight "${name}" has ${values.length} values, not ${length}`);
    }
    return arena.floats(values);
  };
  const { table } = weights;
  if (table.kind === 'dense' && table.values.length !== weights.numRows * dim) {
    throw new Error(
      `the item table has ${table.values.length} values, not ${weights.numRows} × ${dim}`,
    );
  }
  let flags = 0;
  if (config.norm === 'post') flags |= FLAG.postNorm;
  if (config.activation === 'gelu-erf') flags |= FLAG.gelu;
  if (config.embeddingNorm) flags |= FLAG.embeddingNorm;
  if (config.finalNorm !== false) flags |= FLAG.finalNorm;
  if (config.positions === 'from-latest') flags |= FLAG.fromLatest;
  words.push(
    [WORD.dim, dim],
    [WORD.heads, heads],
    [WORD.blocks, blocks],
    [WORD.flags, flags],
    [WORD.positions, tensor('positions', maxLen * dim)],
  );
  let tableLayout: Layout['table'] = { kind: 'dense' };
  let ttWords: { desc: number; words: [number, number][] } | null = null;
  if (table.kind === 'dense') {
    words.push([WORD.table, arena.floats(table.values)], [WORD.numRows, weights.numRows]);
  } else {
    const windowRows = arena.take((maxLen + 1) * dim * 4);
    words.push([WORD.table, windowRows], [WORD.numRows, maxLen + 1]);
    ttWords = writeTensorTrain(arena, table.cores, table.shape, weights.numRows);
    tableLayout = {
      ...table,
      desc: ttWords.desc,
      windowRows,
      slots: new WindowRowSlots(maxLen),
    };
  }
  floatsAt.push(
    [WORD.eps, config.layerNormEps ?? ENCODER_VARIANT_DEFAULTS.layerNormEps],
    [WORD.scale, attentionScale(config)],
    [WORD.embedScale, config.scaleEmbeddings === false ? 1 : Math.sqrt(dim)],
  );
  if (config.embeddingNorm) {
    words.push(
      [WORD.embGamma, tensor('embedding.norm.gamma', dim)],
      [WORD.embBeta, tensor('embedding.norm.beta', dim)],
    );
  }
  if (config.finalNorm !== false) {
    words.push(
      [WORD.finalGamma, tensor('norm.gamma', dim)],
      [WORD.finalBeta, tensor('norm.beta', dim)],
    );
  }
  let widest = { qk: 0, v: 0, ffn: 0 };
  for (let b = 0; b < blocks; b++) {
    const { qk, v, ffn } = blockWidths(config, b);
    widest = {
      qk: Math.max(widest.qk, qk),
      v: Math.max(widest.v, v),
      ffn: Math.max(widest.ffn, ffn),
    };
    const base = BLOCK0 + b * BLOCK_WORDS;
    const sizes: Record<(typeof BLOCK_TENSORS)[number], number> = {
      'norm1.gamma': dim,
      'norm1.beta': dim,
      'attention.query.kernel': dim * heads * qk,
      'attention.query.bias': heads * qk,
      'attention.key.kernel': dim * heads * qk,
      'attention.key.bias': heads * qk,
      'attention.value.kernel': dim * heads * v,
      'attention.value.bias': heads * v,
      'attention.output.kernel': heads * v * dim,
      'attention.output.bias': dim,
      'norm2.gamma': dim,
      'norm2.beta': dim,
      'ffn.inner.kernel': dim * ffn,
      'ffn.inner.bias': ffn,
      'ffn.outer.kernel': ffn * dim,
      'ffn.outer.bias': dim,
    };
    words.push([base, qk], [base + 1, v], [base + 2, ffn]);
    BLOCK_TENSORS.forEach((name, i) => {
      words.push([base + 3 + i, tensor(`blocks.${b}.${name}`, sizes[name])]);
    });
    words.push(
      [base + KEYS_WORD, arena.take(maxLen * heads * qk * 4)],
      [base + VALUES_WORD, arena.take(maxLen * heads * v * 4)],
    );
  }
  words.push(
    [WORD.x, arena.take(maxLen * dim * 4)],
    [WORD.h, arena.take(maxLen * dim * 4)],
    [WORD.q, arena.take(maxLen * heads * widest.qk * 4)],
    [WORD.att, arena.take(maxLen * heads * widest.v * 4)],
    [WORD.inner, arena.take(maxLen * widest.ffn * 4)],
    [WORD.tmp, arena.take(maxLen * dim * 4)],
    [WORD.probs, arena.take(maxLen * 4)],
  );
  const query = arena.take(dim * 4);
  words.push([WORD.query, query]);
  const n = weights.numRows;
  const layout: Layout = {
    desc,
    table: tableLayout,
    query,
    items: arena.take(maxLen * 4),
    scores: arena.take(n * 4),
    skip: arena.take(n),
    bestRows: arena.take(n * 4),
    bestScores: arena.take(n * 4),
  };
  // Written last: growing the memory above detaches earlier views of it.
  const integers = new Int32Array(kernels.memory.buffer, desc, DESC_WORDS);
  const reals = new Float32Array(kernels.memory.buffer, desc, DESC_WORDS);
  for (const [at, value] of words) integers[at] = value;
  for (const [at, value] of floatsAt) reals[at] = value;
  if (ttWords) {
    const ttTable = new Int32Array(kernels.memory.buffer, ttWords.desc, TT_WORDS);
    for (const [at, value] of ttWords.words) ttTable[at] = value;
  }
  return layout;
}
