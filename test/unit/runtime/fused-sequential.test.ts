// The fused WASM SIMD kernels against the tfjs path they replace, on the same package, for
// the encoder options a package may carry: RecBole's post-LN, erf GELU, embedding norm, no
// √d scaling, no final norm and ε 1e-12; blocks narrowed by UMEC to widths that are not
// multiples of four; two heads; positions from the oldest and from the latest item.
// (test/unit/runtime/engine.test.ts holds both paths to the Node reference for the
// default encoder; test/browser/parity.data.test.ts does it on 200 ML-1M sessions.)
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import {
  FusedSasrec,
  fusedUnsupported,
} from '../../../src/kernels/wasm/sasrec-fused/fused-sasrec.ts';
import { denseItemTable, ttItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { sequentialPackageSpec, ttArchitecture } from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape } from '../../../src/model/tt-matrix.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';
import { Engine, type RecommendQuery } from '../../../src/runtime/engine/engine.ts';
import type { InferenceEngine } from '../../../src/runtime/engine/inference-engine.ts';
import { openEngine } from '../../../src/runtime/engine/open-engine.ts';
import { RECBOLE_VARIANT } from '../model/encoder-variants.ts';

const NUM_ITEMS = 90;

const BASE: SasrecConfig = {
  numItems: NUM_ITEMS,
  dim: 16,
  maxLen: 10,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};

const VARIANTS: [string, Partial<SasrecConfig>][] = [
  [
    "RecBole's encoder (post-LN, erf GELU, embedding norm, no scaling, no final norm, ε 1e-12, ffn 24)",
    RECBOLE_VARIANT,
  ],
  [
    'blocks narrowed to odd widths',
    {
      inner: [
        { qk: 5, v: 7, ffn: 9 },
        { qk: 8, v: 3, ffn: 13 },
      ],
    },
  ],
  ['positions from the latest item', { positions: 'from-latest' }],
  ['one block, one head, d 20', { blocks: 1, heads: 1, dim: 20 }],
];

/** Initial weights moved off their ones and zeros, so every norm and bias counts. */
function model(config: SasrecConfig, repeatBonus: number): SequentialModel {
  const encoder = initEncoderWeights(config, 5);
  let seed = 40;
  for (const [name, w] of Object.entries(encoder)) {
    encoder[name] = tf.tidy(() => w.add(tf.randomNormal(w.shape, 0, 0.2, 'float32', seed++)));
    w.dispose();
  }
  return {
    config,
    encoder,
    items: denseItemTable(tf.randomNormal([NUM_ITEMS + 1, config.dim], 0, 0.5, 'float32', 7)),
    ...(repeatBonus ? { repeatBonus } : {}),
  };
}

function query(history: number[], extra: Partial<RecommendQuery> = {}): RecommendQuery {
  return {
    history: Int32Array.from(history),
    k: 12,
    exclude: new Int32Array(0),
    candidates: null,
    excludeSeen: true,
    ...extra,
  };
}

describe.each(VARIANTS)('fused kernels against tfjs: %s', (_, variant) => {
  let fused: Engine;
  let reference: Engine;

  beforeAll(async () => {
    await useWasmBackend();
    const config = { ...BASE, ...variant };
    const spec = await sequentialPackageSpec(model(config, 0.7), {
      name: 'variant',
      dataset: 'unit',
    });
    const pkg = await readModelPackage(memorySource((await buildModelPackage(spec)).files));
    fused = await Engine.create(pkg, { backend: 'wasm', incremental: true, materialiseRows: 0 });
    reference = await Engine.create(pkg, {
      backend: 'wasm',
      incremental: true,
      materialiseRows: 0,
      fused: false,
    });
  });

  afterAll(() => {
    fused.dispose();
    reference.dispose();
  });

  it('runs fused, the reference on tfjs', () => {
    expect(fused.info().scoring).toBe('fused-wasm');
    expect(reference.info().scoring).toBe('dense-table');
    expect(fused.info().incremental).toBe(reference.info().incremental);
  });

  it('gives the same top-k and scores within 1e-4, event by event and user by user', async () => {
    expect(await sameAnswers(fused, reference)).toBeLessThan(1e-4);
  });
});

/** What recommend answers, one of the engines a test compares. */
type Answers = Pick<InferenceEngine, 'recommend'>;

/**
 * Four users' sessions event by event, past maxLen (the window slides and is encoded whole
 * again), with and without reuse, candidates and exclusions: the same rows (or a tie within
 * float noise) from both engines; returns the worst score difference, relative past 1.
 */
async function sameAnswers(fused: Answers, reference: Answers): Promise<number> {
  const random = seededRandom(3);
  let worst = 0;
  let requests = 0;
  const compare = async (q: RecommendQuery) => {
    const [got, want] = [await fused.recommend(q), await reference.recommend(q)];
    expect(got.reused).toBe(want.reused);
    expect(got.rows.length).toBe(want.rows.length);
    want.rows.forEach((row, i) => {
      const diff = Math.abs((got.scores[i] as number) - (want.scores[i] as number));
      worst = Math.max(worst, diff / Math.max(1, Math.abs(want.scores[i] as number)));
      if (got.rows[i] !== row) expect(diff).toBeLessThan(1e-5);
    });
    requests++;
  };
  for (let user = 0; user < 4; user++) {
    const history: number[] = [];
    for (let n = 0; n < 14; n++) {
      history.push(1 + Math.floor(random() * NUM_ITEMS));
      await compare(query(history, { excludeSeen: n % 3 !== 0 }));
      await compare(query(history, { reuseEncoding: false }));
    }
    await compare(query(history, { candidates: Int32Array.of(3, 8, 21, 34, 55, 89), k: 4 }));
    await compare(query(history, { exclude: Int32Array.of(1, 2, 3, 4, 5), k: NUM_ITEMS }));
  }
  expect(requests).toBe(4 * 30);
  return worst;
}

/** A package of BASE's encoder over a tensor-train table, with a repeat bonus. */
async function ttPackage(shape: TtShape) {
  const tt: SequentialModel = {
    config: BASE,
    encoder: model(BASE, 0).encoder,
    items: ttItemTable(initTtCores(shape, { seed: 2, std: 0.4 }), shape, NUM_ITEMS + 1),
    repeatBonus: 0.7,
  };
  const spec = await sequentialPackageSpec(tt, {
    name: 'tt',
    dataset: 'unit',
    architecture: ttArchitecture(shape),
  });
  return readModelPackage(memorySource((await buildModelPackage(spec)).files));
}

// Tables never built (materialiseRows 0), scored through their cores by the kernels, against
// tfjs's ttScoreAll: two cores and three, with and without the semi-tensor product, row
// factors that pad past the table, an odd last factor.
describe.each([
  { rows: [10, 10], cols: [4, 4], rank: 4, stp: 2 },
  { rows: [3, 5, 7], cols: [2, 4, 2], rank: 6, stp: 2 },
  { rows: [4, 5, 5], cols: [4, 2, 2], rank: 3, stp: 1 },
])('a tensor-train table scored through its cores: %j', (shape) => {
  it('answers as tfjs does, event by event, with candidates, exclusions and the repeat bonus', async () => {
    await useWasmBackend();
    const pkg = await ttPackage(shape);
    const settings = { incremental: true, materialiseRows: 0, backend: 'wasm' } as const;
    const fused = await openEngine(pkg, settings, { ranker: false });
    const reference = await openEngine(pkg, { ...settings, fused: false }, { ranker: false });
    expect(fused.info().scoring).toBe('fused-wasm');
    expect(reference.info().scoring).toBe('tt-contracted');
    expect(await sameAnswers(fused, reference)).toBeLessThan(1e-4);
    fused.dispose();
    reference.dispose();
  });
});

describe('FusedSasrec', () => {
  it('leaves to tfjs what it does not run, naming it', () => {
    expect(fusedUnsupported({ ...BASE, readout: 'attention' })).toBe('the attention readout');
    expect(fusedUnsupported({ ...BASE, positions: 'from-latest', paddingKeys: 'visible' })).toBe(
      'visible padding keys',
    );
    expect(fusedUnsupported({ ...BASE, ...VARIANTS[0]?.[1] })).toBeNull();
  });

  it('refuses windows and rows outside the model before any kernel runs', async () => {
    const config = { ...BASE, dim: 8, heads: 1 };
    const encoder: Record<string, Float32Array> = {};
    for (const [name, w] of Object.entries(initEncoderWeights(config, 1))) {
      encoder[name] = w.dataSync() as Float32Array;
    }
    const numRows = NUM_ITEMS + 1;
    const fused = await FusedSasrec.create(config, {
      encoder,
      table: { kind: 'dense', values: new Float32Array(numRows * 8).fill(0.1) },
      numRows,
    });
    expect(() => fused.encode(Int32Array.of(1, numRows), 0)).toThrow(/item row 91/);
    expect(() => fused.encode(new Int32Array(11).fill(1), 0)).toThrow(/window of 11/);
    expect(() => fused.encode(Int32Array.of(1, 2), 2)).toThrow(/from position 2/);
    expect(() => fused.scoreRows(Int32Array.of(-1))).toThrow(/row -1/);
    // More rows than the table (a page may repeat candidates): scored in parts, each as alone.
    const many = Int32Array.from({ length: 3 * numRows + 5 }, (_, i) => 1 + (i % (numRows - 1)));
    fused.encode(Int32Array.of(4, 5, 6), 0);
    const all = fused.scoreRows(many);
    const one = fused.scoreRows(many.subarray(0, numRows - 1));
    expect(all.length).toBe(many.length);
    expect([...all.subarray(2 * (numRows - 1), 3 * (numRows - 1))]).toEqual([...one]);
    const query = fused.encode(Int32Array.of(4, 5, 6), 0);
    expect(query.every(Number.isFinite)).toBe(true);
    fused.scoreAll();
    const { rows } = fused.topK(5, [4, 5]);
    expect(rows.length).toBe(5);
    expect([...rows].some((r) => r === 4 || r === 5)).toBe(false);
    await expect(
      FusedSasrec.create(config, {
        encoder,
        table: { kind: 'dense', values: new Float32Array(10) },
        numRows,
      }),
    ).rejects.toThrow(/item table has 10 values/);
    const shape = { rows: [10, 10], cols: [2, 4], rank: 4, stp: 2 };
    const cores = initTtCores(shape, { seed: 1, std: 0.3 }).map(
      (c) => c.dataSync() as Float32Array,
    );
    const tensorTrain = (tableCores: Float32Array[], rows: number) =>
      FusedSasrec.create(config, {
        encoder,
        table: { kind: 'tensor-train', cores: tableCores, shape },
        numRows: rows,
      });
    await expect(
      tensorTrain([cores[0] as Float32Array, new Float32Array(3)], numRows),
    ).rejects.toThrow(/tensor-train core 1 has 3 values/);
    await expect(tensorTrain(cores, 101)).rejects.toThrow(/10x10 cannot hold 101 table rows/);
    const { positions: _, ...missing } = encoder;
    await expect(
      FusedSasrec.create(config, {
        encoder: missing,
        table: { kind: 'dense', values: new Float32Array(numRows * 8) },
        numRows,
      }),
    ).rejects.toThrow(/needs weight "positions"/);
  });
});

describe('openEngine', () => {
  const dense = async () => {
    const spec = await sequentialPackageSpec(model(BASE, 0), { name: 'dense', dataset: 'unit' });
    return readModelPackage(memorySource((await buildModelPackage(spec)).files));
  };
  const options = { incremental: true, materialiseRows: 1_000 };

  it('serves a dense model on the fused kernels alone unless asked otherwise', async () => {
    await useWasmBackend();
    const pkg = await dense();
    const cases = [
      [{ backend: 'auto' }, {}, 'FusedEngine'],
      [{ backend: 'wasm' }, {}, 'FusedEngine'],
      [{ backend: 'wasm', fused: false }, {}, 'Engine'],
      [{ backend: 'cpu' }, {}, 'Engine'],
      // The ranker is a CTR model: tfjs's engine holds both stages.
      [{ backend: 'auto' }, { ranker: true }, 'Engine'],
    ] as const;
    for (const [asked, wants, engineClass] of cases) {
      const engine = await openEngine(pkg, { ...options, ...asked }, { ranker: false, ...wants });
      expect(engine.constructor.name, JSON.stringify([asked, wants])).toBe(engineClass);
      engine.dispose();
    }
  });

  it('answers as the tfjs engine does, an empty history from the prior included', async () => {
    await useWasmBackend();
    const pkg = await dense();
    const fused = await openEngine(pkg, { ...options, backend: 'wasm' }, { ranker: false });
    const reference = await openEngine(
      pkg,
      { ...options, backend: 'wasm', fused: false },
      { ranker: false },
    );
    await fused.warmUp();
    expect(fused.info()).toMatchObject({ scoring: 'fused-wasm', incremental: true });
    expect(fused.backend.name).toBe('wasm');
    for (const history of [[], [4], [4, 9, 13], [4, 9, 13, 2, 88]]) {
      const q = query(history);
      const [got, want] = [await fused.recommend(q), await reference.recommend(q)];
      expect(got.reason).toBe(want.reason);
      expect([...got.rows]).toEqual([...want.rows]);
      got.scores.forEach((s, i) => {
        expect(Math.abs(s - (want.scores[i] as number))).toBeLessThan(1e-4);
      });
    }
    await expect(fused.rank({})).rejects.toThrow(/next-item model/);
    const memory = await fused.memory(() => fused.recommend(query([4])));
    expect(memory.numBytes).toBeGreaterThan((NUM_ITEMS + 1) * BASE.dim * 4);
    fused.dispose();
    reference.dispose();
    await expect(fused.recommend(query([1]))).rejects.toThrow(/disposed/);
  });

  it('builds a small tensor-train table itself, and scores a larger one through its cores', async () => {
    await useWasmBackend();
    const pkg = await ttPackage({ rows: [10, 10], cols: [4, 4], rank: 4, stp: 2 });
    const small = await openEngine(pkg, { ...options, backend: 'auto' }, { ranker: false });
    const large = await openEngine(
      pkg,
      { ...options, backend: 'wasm', materialiseRows: 10 },
      { ranker: false },
    );
    expect(small.constructor.name).toBe('FusedEngine');
    expect(large.constructor.name).toBe('FusedEngine');
    const q = query([7, 30, 61]);
    const [got, want] = [await large.recommend(q), await small.recommend(q)];
    expect([...got.rows]).toEqual([...want.rows]);
    got.scores.forEach((s, i) => {
      expect(Math.abs(s - (want.scores[i] as number))).toBeLessThan(1e-4);
    });
    small.dispose();
    large.dispose();
  });

  it("'auto' leaves a table scored through its cores to WebGPU when it has an adapter", async () => {
    await useWasmBackend();
    const pkg = await ttPackage({ rows: [10, 10], cols: [4, 4], rank: 4, stp: 2 });
    const auto = { ...options, backend: 'auto', materialiseRows: 10 } as const;
    try {
      vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
      const noAdapter = await openEngine(pkg, auto, { ranker: false });
      expect(noAdapter.constructor.name).toBe('FusedEngine');
      noAdapter.dispose();
      // An adapter: the tfjs engine, which tries WebGPU first (Node has none to give it, so
      // it lands on WASM here, where it scores the cores with the same kernels).
      vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => ({}) } });
      const withAdapter = await openEngine(pkg, auto, { ranker: false });
      expect(withAdapter.constructor.name).toBe('Engine');
      withAdapter.dispose();
      // A built table stays on the kernels whatever the GPU.
      const built = await openEngine(pkg, { ...auto, materialiseRows: 1_000 }, { ranker: false });
      expect(built.constructor.name).toBe('FusedEngine');
      built.dispose();
    } finally {
      vi.unstubAllGlobals();
      await useWasmBackend();
    }
  });
});
