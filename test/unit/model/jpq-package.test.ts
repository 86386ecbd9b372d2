// sequential-jpq packages: a RecJPQ table written, read, verified and scored as it was (by
// scoreHistories and by the engine's scorer, built at load or through the codebooks), its
// size figures counting the codes with the table; and packages that verify but do not fit
// a RecJPQ model, refused with a ModelPackageError naming the tensor or key.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { jpqItemTable } from '../../../src/model/item-table.ts';
import { assignJpqCodes } from '../../../src/model/jpq-codes.ts';
import { packageFlops } from '../../../src/model/package-flops.ts';
import { checkModelStructure } from '../../../src/model/package-structure.ts';
import {
  encoderParamCount,
  initEncoderWeights,
  type SasrecConfig,
} from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import { sequentialFlops } from '../../../src/model/sequential-flops.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../src/model/sequential-package.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import {
  buildModelPackage,
  type PackageSpec,
  type TensorSpec,
} from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';
import {
  buildSequentialScorer,
  releaseSequentialScorer,
  scoreSequential,
} from '../../../src/runtime/engine/sequential-scorer.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const CONFIG: SasrecConfig = {
  numItems: 37,
  dim: 8,
  maxLen: 6,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};
const ROWS = CONFIG.numItems + 1;
const SHAPE = { splits: 4, centroids: 16 };

/** Histories of items 1..numItems, lengths 1 to 10 (longer than maxLen too). */
function histories(count: number, seed: number): Int32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) =>
    Int32Array.from({ length: 1 + (i % 10) }, () => 1 + Math.floor(random() * CONFIG.numItems)),
  );
}

function jpqModel(seed: number): SequentialModel {
  const { codes } = assignJpqCodes(histories(60, seed), CONFIG.numItems, SHAPE, { seed });
  return {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, seed),
    items: jpqItemTable(
      tf.randomNormal(
        [SHAPE.splits, SHAPE.centroids, CONFIG.dim / SHAPE.splits],
        0,
        0.5,
        'float32',
        seed,
      ),
      tf.tensor2d(Int32Array.from(codes), [ROWS, SHAPE.splits], 'int32'),
      ROWS,
    ),
  };
}

const specOf = (model: SequentialModel): Promise<PackageSpec> =>
  sequentialPackageSpec(model, { name: 'tiny-jpq', dataset: 'unit' });

async function read(spec: PackageSpec): Promise<ModelPackage> {
  return readModelPackage(memorySource((await buildModelPackage(spec)).files, 'pkg'));
}

function maxDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let max = 0;
  a.forEach((row, r) => {
    const other = b[r] as Float32Array;
    expect(other).toHaveLength(row.length);
    for (let i = 1; i < row.length; i++)
      max = Math.max(max, Math.abs((row[i] as number) - (other[i] as number)));
  });
  return max;
}

describe('sequential-jpq packages round trip', () => {
  const probe = histories(24, 5);

  it('same scores, kind and architecture, codes stored as uint8, both tensors the item table', async () => {
    const model = jpqModel(1);
    const pkg = await read(await specOf(model));
    const { manifest } = pkg;
    expect(manifest.kind).toBe('sequential-jpq');
    expect(manifest.architecture).toMatchObject({ jpqSplits: 4, jpqCentroids: 16, dim: 8 });
    const entries = Object.fromEntries(manifest.tensors.map((t) => [t.name, t]));
    expect(entries['items.jpq.codebooks']).toMatchObject({
      dtype: 'float32',
      shape: [4, 16, 2],
      role: 'item-embedding',
    });
    expect(entries['items.jpq.codes']).toMatchObject({
      dtype: 'uint8',
      shape: [ROWS, 4],
      role: 'item-embedding',
    });
    // The table costs its codebooks and its codes; the dense one it stands for, a row per item.
    const embeddingBytes = 4 * 4 * 16 * 2 + ROWS * 4;
    expect(manifest.size).toMatchObject({
      embeddingParams: 4 * 16 * 2 + ROWS * 4,
      embeddingBytes,
      denseEmbeddingBytes: 4 * ROWS * CONFIG.dim,
      denseEquivalentParams: encoderParamCount(CONFIG) + ROWS * CONFIG.dim,
    });
    expect(manifest.size.embeddingCompression).toBeCloseTo(
      (4 * ROWS * CONFIG.dim) / embeddingBytes,
      12,
    );
    expect(checkModelStructure(pkg)).toMatch(
      /RecJPQ item table of 4 splits x 16 centroids, every code in range/,
    );

    const reloaded = sequentialFromPackage(pkg);
    expect(reloaded.config).toEqual(CONFIG);
    expect(reloaded.items.kind).toBe('jpq');
    expect(reloaded.items.jpq?.codes.dataSync()).toEqual(model.items.jpq?.codes.dataSync());
    for (const materialise of [false, true]) {
      const before = await scoreHistories(model, probe, { materialise });
      const after = await scoreHistories(reloaded, probe, { materialise });
      expect(maxDifference(before, after)).toBeLessThanOrEqual(1e-6);
    }
    // Through the codebooks and through the built table: the same scores.
    const codebooks = await scoreHistories(reloaded, probe, { materialise: false });
    const built = await scoreHistories(reloaded, probe, { materialise: true });
    expect(maxDifference(codebooks, built)).toBeLessThanOrEqual(1e-5);
  });

  it('FLOPs: through the codebooks, or the product with the table the engine builds', async () => {
    const { manifest } = await read(await specOf(jpqModel(2)));
    const table = { kind: 'jpq', ...SHAPE } as const;
    const codebooks = packageFlops(manifest, { materialiseRows: 0 });
    expect(codebooks).toEqual({ flops: sequentialFlops(CONFIG, table), flopsRatio: 1 });
    const built = packageFlops(manifest, { materialiseRows: 1000 });
    expect(built?.flops).toBe(sequentialFlops(CONFIG, table, { scoring: 'jpq-materialised' }));
    // K·d against (numItems + 1)·d: 16 centroids score cheaper than 38 rows.
    expect((built?.flops as number) - (codebooks?.flops as number)).toBe((ROWS - 16) * CONFIG.dim);
  });

  it("the engine's scorer ranks as scoreHistories does, with the table built or not", async () => {
    const pkg = await read(await specOf(jpqModel(3)));
    const reference = await scoreHistories(sequentialFromPackage(pkg), probe);
    for (const materialiseRows of [0, 1000]) {
      const scorer = buildSequentialScorer(pkg, { incremental: true, materialiseRows }, 'wasm');
      expect(scorer.ranking.scoring).toBe(materialiseRows ? 'jpq-materialised' : 'jpq-codebooks');
      try {
        for (const [h, history] of probe.entries()) {
          const want = Array.from(reference[h] as Float32Array, (score, row) => ({ row, score }))
            .slice(1)
            .sort((a, b) => b.score - a.score || a.row - b.row)
            .slice(0, 5);
          const query = { history, k: 5, exclude: new Int32Array(0), excludeSeen: false };
          const ranked = await scoreSequential(scorer, { ...query, candidates: null }, () => {});
          expect(Array.from(ranked.rows)).toEqual(want.map((w) => w.row));
          want.forEach((w, i) => {
            expect(ranked.scores[i]).toBeCloseTo(w.score, 5);
          });
          // Only the candidates: their rows looked up and scored.
          const candidates = Int32Array.from(want.map((w) => w.row).reverse());
          const some = await scoreSequential(scorer, { ...query, candidates }, () => {});
          expect(Array.from(some.rows)).toEqual(want.map((w) => w.row));
        }
      } finally {
        releaseSequentialScorer(scorer);
      }
    }
  });
});

describe('sequential-jpq packages that verify but do not fit the model', () => {
  let base: PackageSpec;
  beforeAll(async () => {
    base = await specOf(jpqModel(4));
  });

  /** The spec with one tensor replaced (or removed, for null) and architecture entries set. */
  function edited(
    tensor: (Partial<TensorSpec> & { name: string }) | null,
    architecture = {},
    drop?: string,
  ): PackageSpec {
    const tensors = base.tensors
      .filter((t) => t.name !== drop)
      .map((t) => (tensor && t.name === tensor.name ? ({ ...t, ...tensor } as TensorSpec) : t));
    return { ...base, architecture: { ...base.architecture, ...architecture }, tensors };
  }

  const codes = () => base.tensors.find((t) => t.name === 'items.jpq.codes') as TensorSpec;

  async function expectRefused(spec: PackageSpec, problem: RegExp): Promise<void> {
    const pkg = await read(spec);
    for (const load of [
      () => checkModelStructure(pkg),
      () => sequentialFromPackage(pkg),
      () => buildSequentialScorer(pkg, { incremental: true, materialiseRows: 0 }, 'wasm'),
    ]) {
      let caught: unknown;
      try {
        load();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ModelPackageError);
      expect((caught as ModelPackageError).code).toBe('bad-shape');
      expect((caught as ModelPackageError).message).toMatch(problem);
    }
  }

  it('a code that is no row of its codebook', async () => {
    const data = Uint8Array.from(codes().data as Uint8Array);
    data[7 * 4 + 2] = 16;
    await expectRefused(
      edited({ name: 'items.jpq.codes', data }),
      /tensor "items\.jpq\.codes" holds code 16 at row 7, split 2, but architecture\.jpqCentroids is 16/,
    );
  });

  it('jpqCentroids below the codes it has', async () => {
    const data = Uint8Array.from(codes().data as Uint8Array);
    const books = base.tensors.find((t) => t.name === 'items.jpq.codebooks') as TensorSpec;
    const largest = Math.max(...data);
    expect(largest).toBe(15);
    await expectRefused(
      edited(
        {
          name: 'items.jpq.codebooks',
          shape: [4, 10, 2],
          data: (books.data as Float32Array).slice(0, 80),
        },
        { jpqCentroids: 10 },
      ),
      /holds code 1\d at row \d+, split \d, but architecture\.jpqCentroids is 10/,
    );
  });

  it('codes of the wrong shape, type or scale, or none', async () => {
    const data = codes().data as Uint8Array;
    await expectRefused(
      edited({
        name: 'items.jpq.codes',
        shape: [ROWS - 1, 4],
        data: data.slice(0, (ROWS - 1) * 4),
      }),
      /tensor "items\.jpq\.codes" has shape \[37,4\], expected \[38,4\]/,
    );
    await expectRefused(
      edited({ name: 'items.jpq.codes', dtype: 'float32', data: Float32Array.from(data) }),
      /tensor "items\.jpq\.codes" is float32; RecJPQ codes are uint8, unscaled/,
    );
    await expectRefused(
      edited({ name: 'items.jpq.codes', dtype: 'int8', data: Int8Array.from(data), scale: 1 }),
      /tensor "items\.jpq\.codes" is int8; RecJPQ codes are uint8/,
    );
    await expectRefused(
      edited(null, {}, 'items.jpq.codes'),
      /tensor "items\.jpq\.codes" is missing/,
    );
  });

  it('codebooks of the wrong shape or type', async () => {
    const books = base.tensors.find((t) => t.name === 'items.jpq.codebooks') as TensorSpec;
    await expectRefused(
      edited({ name: 'items.jpq.codebooks', shape: [4, 8, 4] }),
      /tensor "items\.jpq\.codebooks" has shape \[4,8,4\], expected \[4,16,2\]/,
    );
    await expectRefused(
      edited({
        name: 'items.jpq.codebooks',
        dtype: 'uint8',
        data: Uint8Array.from(books.data as Float32Array, () => 1),
      }),
      /tensor "items\.jpq\.codebooks" is uint8; weights are float32, float16, int8/,
    );
  });

  it('splits that do not divide dim, and splits or centroids out of range', async () => {
    await expectRefused(
      edited(null, { jpqSplits: 3 }),
      /dim 8 is not divisible by architecture\.jpqSplits 3/,
    );
    await expectRefused(
      edited(null, { jpqSplits: 16 }),
      /architecture\.jpqSplits must be an integer in 1\.\.8, got 16/,
    );
    await expectRefused(
      edited(null, { jpqCentroids: 300 }),
      /architecture\.jpqCentroids must be an integer in 1\.\.256, got 300/,
    );
    const { jpqSplits: _, ...withoutSplits } = base.architecture;
    await expectRefused(
      { ...base, architecture: withoutSplits },
      /architecture\.jpqSplits must be an integer/,
    );
  });

  it('a RecJPQ package labelled dense, and a dense one labelled RecJPQ', async () => {
    await expectRefused({ ...base, kind: 'sequential-dense' }, /tensor "items\.table" is missing/);
    const dense = edited(null, {}, 'items.jpq.codes');
    await expectRefused(
      { ...dense, tensors: dense.tensors.filter((t) => t.name !== 'items.jpq.codebooks') },
      /tensor "items\.jpq\.codes" is missing/,
    );
  });
});
