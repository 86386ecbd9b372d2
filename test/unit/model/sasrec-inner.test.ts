// A SASRec whose blocks are narrower inside than the residual stream (SasrecConfig.inner, what
// UMEC prunes): its shapes, its parity with the full-width model whose removed query/key
// columns, value columns (and the output rows they feed) and feed-forward units are zeroed,
// on the whole-window, incremental and fixed-shape paths, and its package.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable, ttItemTable } from '../../../src/model/item-table.ts';
import {
  type BlockWidths,
  blockWidths,
  encodeNext,
  encoderWeightShapes,
  initEncoderWeights,
  innerWidthsProblem,
  type KeyValueCache,
  type SasrecConfig,
  type Weights,
} from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape } from '../../../src/model/tt-matrix.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../src/package/manifest.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { sizeFigures } from '../../../src/package/size.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { SessionEncoder } from '../../../src/runtime/engine/session-encoder.ts';
import { DEFAULT_TRAIN, trainSasrec } from '../../../src/train/train-sasrec.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const FULL: SasrecConfig = {
  numItems: 30,
  dim: 8,
  maxLen: 8,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};
const HEAD = FULL.dim / FULL.heads;

/**
 * What each block loses: indices within a head (the same in each head) for query/key and
 * value, units for the feed-forward layer. A different count of each per block.
 */
const REMOVED: { qk: number[]; v: number[]; ffn: number[] }[] = [
  { qk: [1], v: [0, 2], ffn: [1, 4, 6] },
  { qk: [0, 2, 3], v: [], ffn: [0, 1, 2, 3, 4] },
];
const INNER: BlockWidths[] = REMOVED.map((r) => ({
  qk: HEAD - r.qk.length,
  v: HEAD - r.v.length,
  ffn: FULL.dim - r.ffn.length,
}));
const NARROW: SasrecConfig = { ...FULL, inner: INNER };

/** Column (or row) indices of heads·width, `removed` taken out of every head. */
function headColumns(removed: number[], keep: boolean): number[] {
  const out: number[] = [];
  for (let h = 0; h < FULL.heads; h++) {
    for (let i = 0; i < HEAD; i++) if (removed.includes(i) !== keep) out.push(h * HEAD + i);
  }
  return out;
}
function units(removed: number[], keep: boolean): number[] {
  return Array.from({ length: FULL.dim }, (_, i) => i).filter((i) => removed.includes(i) !== keep);
}

/** Per tensor of a block: which axis the inner width is on, and which indices are removed. */
function innerAxes(b: number): [string, 0 | 1, (keep: boolean) => number[]][] {
  const r = REMOVED[b] as (typeof REMOVED)[number];
  const p = `blocks.${b}`;
  const qk = (keep: boolean) => headColumns(r.qk, keep);
  const v = (keep: boolean) => headColumns(r.v, keep);
  const ffn = (keep: boolean) => units(r.ffn, keep);
  return [
    [`${p}.attention.query.kernel`, 1, qk],
    [`${p}.attention.query.bias`, 0, qk],
    [`${p}.attention.key.kernel`, 1, qk],
    [`${p}.attention.key.bias`, 0, qk],
    [`${p}.attention.value.kernel`, 1, v],
    [`${p}.attention.value.bias`, 0, v],
    [`${p}.attention.output.kernel`, 0, v],
    [`${p}.ffn.inner.kernel`, 1, ffn],
    [`${p}.ffn.inner.bias`, 0, ffn],
    [`${p}.ffn.outer.kernel`, 0, ffn],
  ];
}

/** Full-width weights with random biases and gains too, so that zeroing a bias matters. */
function fullWeights(seed: number): Weights {
  const weights = initEncoderWeights(FULL, seed);
  let s = seed + 50;
  for (const [name, shape] of encoderWeightShapes(FULL)) {
    if (name.endsWith('.bias') || name.endsWith('.beta')) {
      weights[name] = tf.randomNormal(shape, 0, 0.3, 'float32', s++);
    } else if (name.endsWith('.gamma')) {
      weights[name] = tf.randomNormal(shape, 1, 0.2, 'float32', s++);
    }
  }
  return weights;
}

/** `t` with the given indices of `axis` set to zero (plain JS over its values). */
function zeroed(t: tf.Tensor, axis: 0 | 1, indices: number[]): tf.Tensor {
  if (t.rank === 1) {
    const values = Array.from(t.dataSync());
    for (const i of indices) values[i] = 0;
    return tf.tensor(values, t.shape);
  }
  const rows = t.arraySync() as number[][];
  const out = rows.map((row, i) =>
    row.map((x, j) => (indices.includes(axis === 0 ? i : j) ? 0 : x)),
  );
  return tf.tensor(out, t.shape);
}

/** `t` with only the given indices of `axis` (plain JS over its values). */
function sliced(t: tf.Tensor, axis: 0 | 1, indices: number[]): tf.Tensor {
  if (t.rank === 1) {
    const values = t.dataSync();
    return tf.tensor(
      indices.map((i) => values[i] as number),
      [indices.length],
    );
  }
  const rows = t.arraySync() as number[][];
  const out =
    axis === 0
      ? indices.map((i) => rows[i] as number[])
      : rows.map((row) => indices.map((j) => row[j] as number));
  return tf.tensor(out);
}

/** The full model with the removed columns, rows and units zeroed, and the narrow one. */
function pair(seed: number): { full: Weights; zero: Weights; narrow: Weights } {
  const full = fullWeights(seed);
  const zero: Weights = { ...full };
  const narrow: Weights = { ...full };
  for (let b = 0; b < FULL.blocks; b++) {
    for (const [name, axis, indices] of innerAxes(b)) {
      zero[name] = zeroed(full[name] as tf.Tensor, axis, indices(false));
      narrow[name] = sliced(full[name] as tf.Tensor, axis, indices(true));
    }
  }
  return { full, zero, narrow };
}

const table = () =>
  denseItemTable(tf.randomNormal([FULL.numItems + 1, FULL.dim], 0, 0.4, 'float32', 17));

const HISTORIES = [[5], [3, 9, 27], [7, 3, 30, 1, 12, 12, 5], [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]];

function maxDifference(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let max = 0;
  a.forEach((row, r) => {
    const other = b[r] as ArrayLike<number>;
    expect(row.length).toBe(other.length);
    for (let i = 1; i < row.length; i++) {
      max = Math.max(max, Math.abs((row[i] as number) - (other[i] as number)));
    }
  });
  return max;
}

/** Next-item scores [numItems + 1] after each prefix of `history`, step by step with encodeNext. */
function incrementalScores(
  config: SasrecConfig,
  weights: Weights,
  items: ReturnType<typeof table>,
  history: number[],
): Float32Array[] {
  let cache: KeyValueCache = { keys: [], values: [], length: 0 };
  const out: Float32Array[] = [];
  for (const item of history) {
    const row = items.lookup(tf.tensor1d([item], 'int32')) as tf.Tensor2D;
    const step = encodeNext(config, weights, cache, row);
    cache = step.cache;
    out.push(items.scoreAll(step.hidden).dataSync() as Float32Array);
  }
  return out;
}

describe('narrowed blocks (SasrecConfig.inner)', () => {
  it('shape the projections by their inner widths, and only them', () => {
    const shapes = new Map(encoderWeightShapes(NARROW));
    const full = new Map(encoderWeightShapes(FULL));
    expect(INNER).toEqual([
      { qk: 3, v: 2, ffn: 5 },
      { qk: 1, v: 4, ffn: 3 },
    ]);
    expect(shapes.get('blocks.0.attention.query.kernel')).toEqual([8, 6]);
    expect(shapes.get('blocks.0.attention.key.bias')).toEqual([6]);
    expect(shapes.get('blocks.0.attention.value.kernel')).toEqual([8, 4]);
    expect(shapes.get('blocks.0.attention.output.kernel')).toEqual([4, 8]);
    expect(shapes.get('blocks.0.ffn.inner.kernel')).toEqual([8, 5]);
    expect(shapes.get('blocks.0.ffn.outer.kernel')).toEqual([5, 8]);
    expect(shapes.get('blocks.1.attention.key.kernel')).toEqual([8, 2]);
    expect(shapes.get('blocks.1.attention.value.bias')).toEqual([8]);
    expect(shapes.get('blocks.1.ffn.inner.bias')).toEqual([3]);
    // Everything on the residual stream keeps dim.
    for (const name of ['positions', 'blocks.0.attention.output.bias', 'blocks.1.norm2.gamma']) {
      expect(shapes.get(name)).toEqual(full.get(name));
    }
    expect([...shapes.keys()]).toEqual([...full.keys()]);
    // The defaults: qk = v = dim/heads, ffn = dim.
    expect(blockWidths(FULL, 1)).toEqual({ qk: 4, v: 4, ffn: 8 });
    expect(blockWidths(NARROW, 1)).toEqual(INNER[1]);
    const initialised = initEncoderWeights(NARROW, 1);
    for (const [name, shape] of shapes) expect(initialised[name]?.shape).toEqual(shape);
  });

  it('refuses widths that are not one positive integer per block at most the default', () => {
    expect(innerWidthsProblem(NARROW)).toBeNull();
    expect(innerWidthsProblem(FULL)).toBeNull();
    expect(innerWidthsProblem({ ...FULL, inner: [INNER[0] as BlockWidths] })).toMatch(/2 blocks/);
    expect(
      innerWidthsProblem({ ...FULL, inner: [{ qk: 5, v: 1, ffn: 1 }, INNER[1] as BlockWidths] }),
    ).toMatch(/inner\[0\]\.qk must be an integer in 1\.\.4/);
    expect(
      innerWidthsProblem({ ...FULL, inner: [INNER[0] as BlockWidths, { qk: 1, v: 1, ffn: 0 }] }),
    ).toMatch(/inner\[1\]\.ffn/);
  });

  it('scores as the full model with the removed columns, rows and units zeroed: whole window', async () => {
    const { full, zero, narrow } = pair(3);
    const items = table();
    const model = (config: SasrecConfig, encoder: Weights): SequentialModel => ({
      config,
      encoder,
      items,
    });
    const zeroScores = await scoreHistories(model(FULL, zero), HISTORIES);
    const narrowScores = await scoreHistories(model(NARROW, narrow), HISTORIES);
    expect(maxDifference(narrowScores, zeroScores)).toBeLessThan(1e-5);
    // The zeroing mattered: the untouched full model scores otherwise.
    const fullScores = await scoreHistories(model(FULL, full), HISTORIES);
    expect(maxDifference(fullScores, zeroScores)).toBeGreaterThan(1e-3);
  });

  it('the same on the incremental path (encodeNext), and step by step equal to the whole window', async () => {
    const { zero, narrow } = pair(4);
    const items = table();
    for (const history of HISTORIES.filter((h) => h.length <= FULL.maxLen)) {
      const narrowSteps = incrementalScores(NARROW, narrow, items, history);
      const zeroSteps = incrementalScores(FULL, zero, items, history);
      expect(maxDifference(narrowSteps, zeroSteps)).toBeLessThan(1e-5);
      const prefixes = history.map((_, n) => history.slice(0, n + 1));
      const whole = await scoreHistories({ config: NARROW, encoder: narrow, items }, prefixes);
      expect(maxDifference(narrowSteps, whole)).toBeLessThan(1e-5);
    }
    // Each block's cache holds keys qk wide a head and values v wide.
    let cache: KeyValueCache = { keys: [], values: [], length: 0 };
    cache = encodeNext(
      NARROW,
      narrow,
      cache,
      items.lookup(tf.tensor1d([3], 'int32')) as tf.Tensor2D,
    ).cache;
    expect(cache.keys.map((k) => k.shape)).toEqual([
      [1, 2, 1, 3],
      [1, 2, 1, 1],
    ]);
    expect(cache.values.map((v) => v.shape)).toEqual([
      [1, 2, 1, 2],
      [1, 2, 1, 4],
    ]);
  });

  it("the same through the engine's session encoder, incremental and fixed-shape (WebGPU's mode)", () => {
    const { zero, narrow } = pair(5);
    const items = table();
    const history = Int32Array.from(HISTORIES[3] as number[]);
    for (const fixedShapes of [false, true]) {
      const narrowEncoder = new SessionEncoder(
        { config: NARROW, encoder: narrow, items },
        { incremental: true, fixedShapes },
      );
      const zeroEncoder = new SessionEncoder(
        { config: FULL, encoder: zero, items },
        { incremental: true, fixedShapes },
      );
      // One event at a time: the first request is encoded whole, the next ones a step each,
      // and past maxLen whole again.
      let reused = 0;
      for (let n = 1; n <= history.length; n++) {
        const a = narrowEncoder.encode(history.slice(0, n));
        const b = zeroEncoder.encode(history.slice(0, n));
        reused += a.reused;
        expect(maxDifference([a.query.dataSync()], [b.query.dataSync()])).toBeLessThan(1e-5);
      }
      expect(reused).toBeGreaterThan(0);
      narrowEncoder.forget();
      zeroEncoder.forget();
    }
  });
});

type Files = Map<string, Uint8Array>;

async function build(model: SequentialModel, shape?: TtShape): Promise<Files> {
  const spec = await sequentialPackageSpec(model, {
    name: 'narrow',
    dataset: 'unit',
    ...(shape ? { architecture: ttArchitecture(shape) } : {}),
  });
  return (await buildModelPackage(spec)).files;
}

const read = (files: Files) => readModelPackage(memorySource(files, 'pkg'));

/** A copy with the manifest edited and re-sealed (size figures recomputed), so it verifies. */
async function withManifest(files: Files, edit: (manifest: Manifest) => void): Promise<Files> {
  const manifest = JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
  edit(manifest);
  manifest.size = sizeFigures(manifest.tensors, {
    params: manifest.size.denseEquivalentParams,
    embeddingParams: manifest.size.denseEmbeddingBytes / 4,
  });
  const sealed = await sealManifest(manifest as UnsealedManifest);
  const out = new Map(files);
  out.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(sealed, null, 2)}\n`));
  return out;
}

async function refusal(files: Files): Promise<ModelPackageError> {
  const pkg = await read(files);
  let caught: unknown;
  try {
    sequentialFromPackage(pkg);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ModelPackageError);
  expect((caught as ModelPackageError).code).toBe('bad-shape');
  return caught as ModelPackageError;
}

describe('narrowed packages', () => {
  const TT: TtShape = { rows: [8, 4], cols: [2, 4], rank: 4, stp: 2 };
  const narrowModel = (tt?: TtShape): SequentialModel => ({
    config: NARROW,
    encoder: pair(6).narrow,
    items: tt
      ? ttItemTable(initTtCores(tt, { seed: 2, std: 0.4 }), tt, FULL.numItems + 1)
      : table(),
  });

  it.each(['dense', 'tt'] as const)('%s: write, read, the same config and scores', async (kind) => {
    const tt = kind === 'tt' ? TT : undefined;
    const model = narrowModel(tt);
    const files = await build(model, tt);
    const pkg = await read(files);
    expect(pkg.manifest.architecture).toMatchObject({
      innerQk: [3, 1],
      innerV: [2, 4],
      innerFfn: [5, 3],
    });
    const reloaded = sequentialFromPackage(pkg);
    expect(reloaded.config).toEqual(NARROW);
    const before = await scoreHistories(model, HISTORIES);
    const after = await scoreHistories(reloaded, HISTORIES);
    expect(maxDifference(before, after)).toBe(0);
  });

  it('default widths, stated or not, write no inner keys and read back as no inner', async () => {
    const model: SequentialModel = {
      config: { ...FULL, inner: [0, 1].map(() => ({ qk: 4, v: 4, ffn: 8 })) },
      encoder: initEncoderWeights(FULL, 1),
      items: table(),
    };
    const pkg = await read(await build(model));
    expect(Object.keys(pkg.manifest.architecture).filter((k) => k.startsWith('inner'))).toEqual([]);
    expect(sequentialFromPackage(pkg).config).toEqual(FULL);
    expect('inner' in sequentialFromPackage(pkg).config).toBe(false);
  });

  it('refuses inner widths that do not match the tensors, naming the key', async () => {
    const files = await build(narrowModel());
    /** Architecture keys to set (undefined: to delete). */
    type Edit = Record<string, number[] | undefined>;
    const cases: [Edit, RegExp][] = [
      [{ innerQk: [2, 1] }, /architecture\.innerQk gives block 0 a qk width of 2/],
      [{ innerV: [2, 3] }, /architecture\.innerV gives block 1/],
      [{ innerFfn: [5, 4] }, /blocks\.1\.ffn\.inner\.kernel.*architecture\.innerFfn/],
      // No inner keys at all: the narrow tensors against the defaults.
      [
        { innerQk: undefined, innerV: undefined, innerFfn: undefined },
        /architecture\.innerQk \(absent: the defaults\)/,
      ],
      [{ innerV: undefined }, /architecture\.innerV is missing/],
      [{ innerFfn: [5] }, /architecture\.innerFfn must list 2 positive integers/],
      [{ innerQk: [3, 1.5] }, /architecture\.innerQk must list 2/],
      [{ innerV: [9, 4] }, /architecture\.innerV\[0\] must be an integer in 1\.\.4/],
    ];
    for (const [edit, message] of cases) {
      const edited = await withManifest(files, (m) => {
        for (const [key, value] of Object.entries(edit)) {
          if (value === undefined) delete m.architecture[key];
          else m.architecture[key] = value;
        }
      });
      expect((await refusal(edited)).message).toMatch(message);
    }
  });
});

describe('fine-tuning a narrowed model', () => {
  it('trains from a narrowed start model at its own widths', async () => {
    const start: SequentialModel = { config: NARROW, encoder: pair(7).narrow, items: table() };
    const train = Array.from({ length: 12 }, (_, u) =>
      Int32Array.from({ length: 4 + (u % 4) }, (_, i) => 1 + ((u + 3 * i) % FULL.numItems)),
    );
    const { dropout, positions, readout, dim, maxLen, blocks, heads } = FULL;
    const result = await trainSasrec(
      train,
      FULL.numItems,
      {
        ...DEFAULT_TRAIN,
        ...{ dropout, positions, readout, dim, maxLen, blocks, heads },
        epochs: 1,
        batchSize: 8,
        loss: 'full',
      },
      { validate: async () => 0 },
      start,
    );
    expect(result.model.config.inner).toEqual(INNER);
    const shapes = new Map(encoderWeightShapes(NARROW));
    for (const [name, t] of Object.entries(result.model.encoder)) {
      expect(t.shape).toEqual(shapes.get(name));
    }
  });
});
