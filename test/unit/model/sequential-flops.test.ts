// sequentialFlops against a brute-force count of the products tfjs runs for one real request:
// the engine's own scoreSequential (src/runtime/engine/sequential-scorer.ts) on a tiny package,
// profiled with tf.profile. The WebGPU kernel's per-row stage, which tf.profile cannot see on
// WASM, is counted by a plain loop that computes the same scores.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import {
  denseItemTable,
  type ItemTable,
  jpqItemTable,
  qrItemTable,
  ttItemTable,
} from '../../../src/model/item-table.ts';
import type { JpqShape } from '../../../src/model/jpq-codes.ts';
import { type QrShape, qrQuotientRows } from '../../../src/model/qr-partition.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import {
  encodeStepFlops,
  type SequentialFlopsOptions,
  scoreAllFlops,
  sequentialFlops,
  ttContractQueriesFlops,
  ttFusedScoreFlops,
  ttScoreAllFlops,
  ttWebgpuKernelFlops,
} from '../../../src/model/sequential-flops.ts';
import { sequentialPackageSpec, ttArchitecture } from '../../../src/model/sequential-package.ts';
import {
  checkSequentialStructure,
  type SequentialItemTable,
} from '../../../src/model/sequential-structure.ts';
import {
  initTtCores,
  type TtShape,
  ttContractQueries,
  ttScoreAll,
} from '../../../src/model/tt-matrix.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import type { BackendName } from '../../../src/runtime/engine/backend.ts';
import {
  buildSequentialScorer,
  releaseSequentialScorer,
  type SequentialScorer,
  scoreSequential,
} from '../../../src/runtime/engine/sequential-scorer.ts';
import { kernelProducts } from './kernel-products.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/** Multiply-adds of the kernels tfjs runs for `f`, counted as the CTR test counts them. */
async function profiledProducts(f: () => Promise<unknown>): Promise<number> {
  const profile = await tf.profile(async () => {
    await f();
    return [];
  });
  return kernelProducts(profile.kernels);
}

function config(overrides: Partial<SasrecConfig> = {}): SasrecConfig {
  return {
    numItems: 19,
    dim: 8,
    maxLen: 5,
    blocks: 2,
    heads: 2,
    dropout: 0,
    positions: 'from-oldest',
    readout: 'last',
    ...overrides,
  };
}

/** Blocks narrowed as UMEC would leave them: a different width of each kind per block. */
const narrow = (overrides: Partial<SasrecConfig> = {}): SasrecConfig =>
  config({
    inner: [
      { qk: 3, v: 2, ffn: 5 },
      { qk: 1, v: 4, ffn: 3 },
    ],
    ...overrides,
  });

/** 20 rows (19 items and the padding row), d = 8: two cores, STP 2. */
const TT2: TtShape = { rows: [5, 4], cols: [2, 4], rank: 4, stp: 2 };
/** Plain TT (t = 1), two cores. */
const TT2_PLAIN: TtShape = { rows: [5, 4], cols: [4, 2], rank: 3, stp: 1 };
/** Three cores, 27 padded rows for 23 (22 items), STP 2. */
const TT3: TtShape = { rows: [3, 3, 3], cols: [2, 2, 2], rank: 4, stp: 2 };

interface Tiny {
  config: SasrecConfig;
  table: SequentialItemTable;
  model: SequentialModel;
}

function tiny(c: SasrecConfig, tt?: TtShape): Tiny {
  const numRows = c.numItems + 1;
  return {
    config: c,
    table: tt ? { kind: 'tt', shape: tt } : { kind: 'dense' },
    model: {
      config: c,
      encoder: initEncoderWeights(c, 5),
      items: tt
        ? ttItemTable(initTtCores(tt, { seed: 3, std: 0.3 }), tt, numRows)
        : denseItemTable(tf.randomNormal([numRows, c.dim], 0, 0.3, 'float32', 4)),
    },
  };
}

/** A RecJPQ table of `shape` (codes cycling through the centroids) on `c`'s encoder. */
function tinyJpq(c: SasrecConfig, shape: JpqShape): Tiny {
  const { splits, centroids } = shape;
  const numRows = c.numItems + 1;
  const codes = Int32Array.from({ length: numRows * splits }, (_, i) => (i * 7) % centroids);
  const items: ItemTable = jpqItemTable(
    tf.randomNormal([splits, centroids, c.dim / splits], 0, 0.3, 'float32', 4),
    tf.tensor2d(codes, [numRows, splits], 'int32'),
    numRows,
  );
  return {
    config: c,
    table: { kind: 'jpq', ...shape },
    model: { config: c, encoder: initEncoderWeights(c, 5), items },
  };
}

/** 4 splits of 8 centroids for d = 8: fewer centroids than the 20 rows, so scoring differs. */
const JPQ: JpqShape = { splits: 4, centroids: 8 };

/** A quotient-remainder table of `shape` on `c`'s encoder. */
function tinyQr(c: SasrecConfig, shape: QrShape): Tiny {
  const numRows = c.numItems + 1;
  const items: ItemTable = qrItemTable(
    tf.randomNormal([qrQuotientRows(numRows, shape.buckets), c.dim], 0, 0.5, 'float32', 4),
    tf.randomNormal([shape.buckets, c.dim], 0, 0.5, 'float32', 6),
    numRows,
    shape.operation,
  );
  return {
    config: c,
    table: { kind: 'qr', ...shape },
    model: { config: c, encoder: initEncoderWeights(c, 5), items },
  };
}

/** 20 rows in 6 remainders: 4 quotient rows, the last one partly unused. */
const QR: QrShape = { buckets: 6, operation: 'mult' };

/** The engine's scorer for the model, read back from its package. */
async function scorerOf(
  t: Tiny,
  options: { materialiseRows: number; backend?: BackendName },
): Promise<SequentialScorer> {
  const tt = t.table.kind === 'tt' ? t.table.shape : null;
  const spec = await sequentialPackageSpec(t.model, {
    name: 'flops',
    dataset: 'unit',
    ...(tt ? { architecture: ttArchitecture(tt) } : {}),
  });
  const pkg = await readModelPackage(memorySource((await buildModelPackage(spec)).files));
  // The counts are read from the manifest, as `pocketrec info` reads them.
  expect(checkSequentialStructure(pkg.manifest)).toEqual({ config: t.config, table: t.table });
  return buildSequentialScorer(
    pkg,
    { incremental: true, materialiseRows: options.materialiseRows },
    options.backend ?? 'wasm',
  );
}

const history = (length: number): Int32Array =>
  Int32Array.from({ length }, (_, i) => 1 + ((i * 7) % 19));

/**
 * The products of the request after `length` items, the engine having answered the request
 * after `primed` items just before (its encoding kept, as between two events of a session).
 * k is every item, so the backend's top-k is one TopK (no block arithmetic).
 */
async function requestProducts(
  scorer: SequentialScorer,
  length: number,
  primed: number | null,
): Promise<{ products: number; reused: number }> {
  const numItems = scorer.model.config.numItems;
  const query = (n: number) => ({
    history: history(n),
    k: numItems,
    exclude: new Int32Array(0),
    candidates: null,
    excludeSeen: false,
    reuseEncoding: primed !== null,
  });
  if (primed !== null) await scoreSequential(scorer, query(primed), () => {});
  let reused = -1;
  const products = await profiledProducts(async () => {
    const ranking = await scoreSequential(scorer, query(length), () => {});
    reused = ranking.reused;
    expect(ranking.rows.length).toBe(numItems);
  });
  return { products, reused };
}

interface Case {
  name: string;
  t: () => Tiny;
  materialiseRows: number;
  backend?: BackendName;
  /** History lengths: the request, and the one answered before it (null: none reused). */
  length: number;
  primed: number | null;
  /** Positions the engine should report reused. */
  reused: number;
  options: SequentialFlopsOptions;
}

const cases: Case[] = [
  {
    name: 'dense: one step over a full cache (the default count)',
    t: () => tiny(config()),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'dense: one step over 3 positions',
    t: () => tiny(config()),
    materialiseRows: 0,
    length: 3,
    primed: 2,
    reused: 2,
    options: { length: 3 },
  },
  {
    name: 'dense: a history past maxLen re-encodes the whole window',
    t: () => tiny(config()),
    materialiseRows: 0,
    length: 6,
    primed: 5,
    reused: 0,
    options: { encoding: 'whole-window' },
  },
  {
    name: 'dense, from-latest positions: the whole window (the default count)',
    t: () => tiny(config({ positions: 'from-latest' })),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 0,
    options: {},
  },
  {
    name: 'dense, attention readout: the whole window and its pooling',
    t: () => tiny(config({ readout: 'attention', heads: 4 })),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 0,
    options: {},
  },
  {
    name: 'dense, fixed shapes (the WebGPU encoder, run here on WASM): one step',
    t: () => tiny(config()),
    materialiseRows: 0,
    backend: 'webgpu',
    length: 4,
    primed: 3,
    reused: 3,
    options: { fixedShapes: true },
  },
  {
    name: 'tensor-train, 2 cores, STP 2: one step, contracted (the default count)',
    t: () => tiny(config(), TT2),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'tensor-train, 2 cores, STP 2: one step, the table built at load',
    t: () => tiny(config(), TT2),
    materialiseRows: 1000,
    length: 5,
    primed: 4,
    reused: 4,
    options: { scoring: 'tt-materialised' },
  },
  {
    name: 'tensor-train, 2 cores, plain TT: one step, contracted',
    t: () => tiny(config(), TT2_PLAIN),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'tensor-train, 3 cores, STP 2: one step, contracted',
    t: () => tiny(config({ numItems: 22, blocks: 3 }), TT3),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'tensor-train, 3 cores, from-latest: the whole window read from the cores',
    t: () => tiny(config({ numItems: 22, positions: 'from-latest' }), TT3),
    materialiseRows: 0,
    length: 5,
    primed: null,
    reused: 0,
    options: {},
  },
  {
    name: 'dense, narrowed blocks: one step over a full cache',
    t: () => tiny(narrow()),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'dense, narrowed blocks: a history past maxLen re-encodes the whole window',
    t: () => tiny(narrow()),
    materialiseRows: 0,
    length: 6,
    primed: 5,
    reused: 0,
    options: { encoding: 'whole-window' },
  },
  {
    name: 'dense, narrowed blocks, fixed shapes: one step',
    t: () => tiny(narrow()),
    materialiseRows: 0,
    backend: 'webgpu',
    length: 4,
    primed: 3,
    reused: 3,
    options: { fixedShapes: true },
  },
  {
    name: 'tensor-train, 2 cores, narrowed blocks: one step, contracted',
    t: () => tiny(narrow(), TT2),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'RecJPQ: one step, scored through the codebooks (the default count)',
    t: () => tinyJpq(config(), JPQ),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'RecJPQ: one step, the table built at load',
    t: () => tinyJpq(config(), JPQ),
    materialiseRows: 1000,
    length: 5,
    primed: 4,
    reused: 4,
    options: { scoring: 'jpq-materialised' },
  },
  {
    name: 'RecJPQ, from-latest, narrowed blocks: the whole window looked up in the codebooks',
    t: () => tinyJpq(narrow({ positions: 'from-latest' }), { splits: 2, centroids: 16 }),
    materialiseRows: 0,
    length: 5,
    primed: null,
    reused: 0,
    options: {},
  },
  {
    name: 'quotient-remainder: one step, the table built at load with materialiseRows 0 (the default count)',
    t: () => tinyQr(config(), QR),
    materialiseRows: 0,
    length: 5,
    primed: 4,
    reused: 4,
    options: {},
  },
  {
    name: 'quotient-remainder (add), from-latest, narrowed blocks: the whole window looked up in the built table',
    t: () => tinyQr(narrow({ positions: 'from-latest' }), { buckets: 5, operation: 'add' }),
    materialiseRows: 0,
    length: 5,
    primed: null,
    reused: 0,
    options: {},
  },
  {
    name: 'tensor-train, 3 cores, narrowed blocks, from-latest: the whole window from the cores',
    t: () => tiny(narrow({ numItems: 22, positions: 'from-latest' }), TT3),
    materialiseRows: 0,
    length: 5,
    primed: null,
    reused: 0,
    options: {},
  },
];

describe('sequentialFlops', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: equals the brute-force count of the products tfjs runs',
    async (_, c) => {
      const t = c.t();
      const scorer = await scorerOf(t, {
        materialiseRows: c.materialiseRows,
        ...(c.backend ? { backend: c.backend } : {}),
      });
      try {
        const { products, reused } = await requestProducts(scorer, c.length, c.primed);
        // The engine took the path the count describes.
        expect(reused).toBe(c.reused);
        expect(sequentialFlops(t.config, t.table, c.options)).toBe(products);
      } finally {
        releaseSequentialScorer(scorer);
      }
    },
  );

  it('the WebGPU path: the trailing cores by tfjs ops, then a loop like the kernel over the rows', async () => {
    for (const [shape, numItems] of [
      [TT2, 19],
      [TT3, 22],
    ] as const) {
      const cores = initTtCores(shape, { seed: 9, std: 0.3 });
      const query = tf.randomNormal([1, 8], 0, 1, 'float32', 2) as tf.Tensor2D;
      // What register.ts runs with tfjs ops before the kernel.
      let contracted: tf.Tensor3D | null = null;
      const trailing = await profiledProducts(async () => {
        contracted = ttContractQueries(cores, shape, query, 1);
      });
      expect(ttContractQueriesFlops(shape, 1)).toBe(trailing);
      // The kernel's stage (program.ts): score[i1·R + rest] = Σ_c core1[i1, 0, c]·e[c, rest],
      // for the item rows 1..numItems; e [J_1 r_1, R] is `contracted` [J_1, R, r_1] reordered.
      const [J1, R, r1] = (contracted as unknown as tf.Tensor3D).shape;
      const e = (contracted as unknown as tf.Tensor3D).arraySync();
      const first = (cores[0] as tf.Tensor3D).arraySync();
      const want = ttScoreAll(cores, shape, query).dataSync();
      let kernel = 0;
      for (let row = 1; row <= numItems; row++) {
        const i1 = Math.floor(row / R);
        const rest = row % R;
        let score = 0;
        for (let j = 0; j < J1; j++) {
          for (let r = 0; r < r1; r++) {
            score += (first[i1]?.[0]?.[j * r1 + r] as number) * (e[j]?.[rest]?.[r] as number);
            kernel++;
          }
        }
        expect(score).toBeCloseTo(want[row] as number, 4);
      }
      expect(ttWebgpuKernelFlops(shape, numItems)).toBe(trailing + kernel);
      tf.dispose([...cores, query, contracted as unknown as tf.Tensor]);
    }
  });

  it('narrowed blocks: the default widths count as no inner at all, and narrowing only lowers the count', () => {
    const c = config({ dim: 16, heads: 4, blocks: 2, maxLen: 10 });
    const same = { ...c, inner: [0, 1].map(() => ({ qk: 4, v: 4, ffn: 16 })) };
    const cut = {
      ...c,
      inner: [
        { qk: 2, v: 4, ffn: 16 },
        { qk: 4, v: 4, ffn: 16 },
      ],
    };
    for (const encoding of ['incremental', 'whole-window'] as const) {
      const count = (x: SasrecConfig) => sequentialFlops(x, { kind: 'dense' }, { encoding });
      expect(count(same)).toBe(count(c));
      expect(count(cut)).toBeLessThan(count(c));
    }
    // One step over L positions, the block whose qk went from 4 to 2: the query and key
    // projections lose d·H·2 products each, q·Kᵀ L·H·2.
    expect(encodeStepFlops(c, 7) - encodeStepFlops(cut, 7)).toBe(2 * 16 * 4 * 2 + 7 * 4 * 2);
  });

  it('grows by 2d + heads per block for each position attended, and refuses what the code cannot do', () => {
    const c = config({ dim: 16, heads: 4, blocks: 3, maxLen: 10 });
    expect(encodeStepFlops(c, 8) - encodeStepFlops(c, 7)).toBe(3 * (2 * 16 + 4));
    expect(sequentialFlops(c, { kind: 'dense' }, { length: 8 })).toBe(
      encodeStepFlops(c, 8) + 20 * 16,
    );
    expect(() => sequentialFlops(c, { kind: 'dense' }, { length: 11 })).toThrow(/1\.\.10/);
    expect(() =>
      sequentialFlops(
        config({ positions: 'from-latest' }),
        { kind: 'dense' },
        {
          encoding: 'incremental',
        },
      ),
    ).toThrow(/incrementally/);
    expect(() => sequentialFlops(c, { kind: 'dense' }, { scoring: 'tt-contracted' })).toThrow(
      /dense item table/,
    );
    expect(() =>
      sequentialFlops(c, { kind: 'tt', shape: TT2 }, { scoring: 'dense-table' }),
    ).toThrow(/tt item table/);
    expect(() =>
      sequentialFlops(c, { kind: 'jpq', ...JPQ }, { scoring: 'tt-materialised' }),
    ).toThrow(/jpq item table/);
    // Through the codebooks: K·d products, whatever the number of items.
    const jpq = (numItems: number) =>
      sequentialFlops({ ...c, numItems }, { kind: 'jpq', ...JPQ }) - encodeStepFlops(c, 10);
    expect(jpq(19)).toBe(8 * 16);
    expect(jpq(100_000)).toBe(8 * 16);
    expect(() => sequentialFlops(c, { kind: 'qr', ...QR }, { scoring: 'dense-table' })).toThrow(
      /qr item table/,
    );
    // A quotient-remainder table is scored built: (numItems + 1)·d, as a dense one.
    const qr = (numItems: number) =>
      sequentialFlops({ ...c, numItems }, { kind: 'qr', ...QR }) - encodeStepFlops(c, 10);
    expect(qr(19)).toBe(20 * 16);
    expect(qr(100_000)).toBe(100_001 * 16);
  });

  it("'tt-fused-wasm': the kernels' three products, the STP index summed with the first core", () => {
    // p = R/t = 8, C = J_3/t = 2: through G_1 101·2·8·4·(4·2), through G_2 101·2·8·4·(100·8),
    // then 16 a padded row.
    const million: TtShape = { rows: [101, 100, 100], cols: [4, 4, 4], rank: 16, stp: 2 };
    expect(ttFusedScoreFlops(million)).toBe(51_712 + 5_171_200 + 1_010_000 * 16);
    expect(ttFusedScoreFlops(million) / ttScoreAllFlops(million)).toBeLessThan(0.51);
    // Two cores (p 2, C 2): 5·2·2·2·2 through G_1, 20·4 rows.
    expect(ttFusedScoreFlops(TT2)).toBe(80 + 80);
    // Plain TT (t 1): the last product is the contracted one's.
    const c = config();
    const lastOf = (scoring: 'tt-fused-wasm' | 'tt-contracted') =>
      scoreAllFlops(c, { kind: 'tt', shape: TT2_PLAIN }, scoring);
    expect(lastOf('tt-fused-wasm')).toBe(ttFusedScoreFlops(TT2_PLAIN));
    expect(ttFusedScoreFlops(TT2_PLAIN)).toBe(5 * 2 * 3 * 1 * 4 * 1 + 20 * 3 * 2);
    expect(lastOf('tt-fused-wasm')).toBeLessThanOrEqual(lastOf('tt-contracted'));
  });
});
