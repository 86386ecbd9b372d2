// sequential-qr packages: a quotient-remainder table written, read, verified and scored as
// it was (by scoreHistories and by the engine's scorer, which builds it at load whatever
// materialiseRows says), its size figures counting both factors as the table, int8 storage
// of both factors; and packages that verify but do not fit a quotient-remainder model,
// refused with a ModelPackageError naming the tensor or key.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { quantizePackage } from '../../../src/compression/quantize/quantize-package.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { qrItemTable } from '../../../src/model/item-table.ts';
import { packageFlops } from '../../../src/model/package-flops.ts';
import { checkModelStructure } from '../../../src/model/package-structure.ts';
import type { QrOperation } from '../../../src/model/qr-partition.ts';
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
import { repackageSpec } from '../../../src/package/repackage.ts';
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
/** 38 rows in 7 remainders: 6 quotient rows (42 slots, the last 4 unused). */
const BUCKETS = 7;
const QUOTIENTS = 6;

/** Histories of items 1..numItems, lengths 1 to 10 (longer than maxLen too). */
function histories(count: number, seed: number): Int32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) =>
    Int32Array.from({ length: 1 + (i % 10) }, () => 1 + Math.floor(random() * CONFIG.numItems)),
  );
}

function qrModel(seed: number, operation: QrOperation = 'mult'): SequentialModel {
  return {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, seed),
    items: qrItemTable(
      tf.randomNormal([QUOTIENTS, CONFIG.dim], 0, 0.7, 'float32', seed),
      tf.randomNormal([BUCKETS, CONFIG.dim], 0, 0.7, 'float32', seed + 1),
      ROWS,
      operation,
    ),
  };
}

const specOf = (model: SequentialModel): Promise<PackageSpec> =>
  sequentialPackageSpec(model, { name: 'tiny-qr', dataset: 'unit' });

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

describe('sequential-qr packages round trip', () => {
  const probe = histories(24, 5);

  it.each(['mult', 'add'] as const)(
    '%s: same scores, kind and architecture, both factors the item table',
    async (operation) => {
      const model = qrModel(1, operation);
      const pkg = await read(await specOf(model));
      const { manifest } = pkg;
      expect(manifest.kind).toBe('sequential-qr');
      expect(manifest.architecture).toMatchObject({
        qrBuckets: BUCKETS,
        qrOperation: operation,
        dim: 8,
      });
      const entries = Object.fromEntries(manifest.tensors.map((t) => [t.name, t]));
      expect(entries['items.qr.quotient']).toMatchObject({
        dtype: 'float32',
        shape: [QUOTIENTS, 8],
        role: 'item-embedding',
      });
      expect(entries['items.qr.remainder']).toMatchObject({
        dtype: 'float32',
        shape: [BUCKETS, 8],
        role: 'item-embedding',
      });
      // The table costs its two factors; the dense one it stands for, a row per item.
      const embeddingBytes = 4 * (QUOTIENTS + BUCKETS) * 8;
      expect(manifest.size).toMatchObject({
        embeddingParams: (QUOTIENTS + BUCKETS) * 8,
        embeddingBytes,
        denseEmbeddingBytes: 4 * ROWS * CONFIG.dim,
        denseEquivalentParams: encoderParamCount(CONFIG) + ROWS * CONFIG.dim,
      });
      expect(checkModelStructure(pkg)).toMatch(
        new RegExp(
          `quotient-remainder item table \\(${operation}\\) of 6 quotient x 7 remainder rows for 38`,
        ),
      );

      const reloaded = sequentialFromPackage(pkg);
      expect(reloaded.config).toEqual(CONFIG);
      expect(reloaded.items.qr).toMatchObject({ buckets: BUCKETS, operation });
      expect(reloaded.items.materialise().dataSync()).toEqual(model.items.materialise().dataSync());
      for (const materialise of [false, true]) {
        const before = await scoreHistories(model, probe, { materialise });
        const after = await scoreHistories(reloaded, probe, { materialise });
        expect(maxDifference(before, after)).toBeLessThanOrEqual(1e-6);
      }
    },
  );

  it('FLOPs: the product with the table the engine builds, whatever materialiseRows says', async () => {
    const { manifest } = await read(await specOf(qrModel(2)));
    const table = { kind: 'qr', buckets: BUCKETS, operation: 'mult' } as const;
    const unbuilt = packageFlops(manifest, { materialiseRows: 0 });
    const built = packageFlops(manifest, { materialiseRows: 1000 });
    expect(unbuilt).toEqual(built);
    expect(built).toEqual({
      flops: sequentialFlops(CONFIG, table, { scoring: 'qr-materialised' }),
      flopsRatio: 1,
    });
    // A dense table's count: the factors make no difference to a request.
    expect(built?.flops).toBe(sequentialFlops(CONFIG, { kind: 'dense' }));
  });

  it("the engine's scorer builds the table at load and ranks as scoreHistories does", async () => {
    const pkg = await read(await specOf(qrModel(3)));
    const reference = await scoreHistories(sequentialFromPackage(pkg), probe);
    for (const materialiseRows of [0, 1000]) {
      const scorer = buildSequentialScorer(pkg, { incremental: true, materialiseRows }, 'wasm');
      expect(scorer.ranking.scoring).toBe('qr-materialised');
      expect(scorer.table?.shape).toEqual([ROWS, CONFIG.dim]);
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
          // Only the candidates: their rows looked up from the factors and scored.
          const candidates = Int32Array.from(want.map((w) => w.row).reverse());
          const some = await scoreSequential(scorer, { ...query, candidates }, () => {});
          expect(Array.from(some.rows)).toEqual(want.map((w) => w.row));
        }
      } finally {
        releaseSequentialScorer(scorer);
      }
    }
  });

  it('quantises both factors to int8; the written package loads and scores close to the source', async () => {
    const pkg = await read(await specOf(qrModel(6)));
    const probeHistories = histories(8, 9);
    const outputsOf = async (p: ModelPackage) =>
      Float32Array.from(
        (await scoreHistories(sequentialFromPackage(p), probeHistories)).flatMap((s) =>
          Array.from(s.subarray(1)),
        ),
      );
    const { pkg: quantized, choices } = await quantizePackage(pkg, 'int8', outputsOf);
    const schemes = Object.fromEntries(choices.map((c) => [c.name, c.scheme]));
    expect(schemes['items.qr.quotient']).toMatch(/^int8-/);
    expect(schemes['items.qr.remainder']).toMatch(/^int8-/);
    const written = await read(
      repackageSpec(quantized, { name: 'tiny-qr-int8', notes: '', metrics: {} }),
    );
    expect(written.manifest.kind).toBe('sequential-qr');
    const entries = Object.fromEntries(written.manifest.tensors.map((t) => [t.name, t]));
    expect(entries['items.qr.quotient']?.dtype).toBe('int8');
    expect(entries['items.qr.remainder']?.dtype).toBe('int8');
    // One byte a weight (and its scales) against four.
    expect(written.manifest.size.embeddingBytes).toBeLessThan(pkg.manifest.size.embeddingBytes / 3);
    expect(checkModelStructure(written)).toMatch(/quotient-remainder item table \(mult\)/);
    const before = await outputsOf(pkg);
    const after = await outputsOf(written);
    const scale = Math.max(...before.map(Math.abs));
    const worst = Math.max(...before.map((v, i) => Math.abs(v - (after[i] as number))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.05 * scale);
  });
});

describe('sequential-qr packages that verify but do not fit the model', () => {
  let base: PackageSpec;
  beforeAll(async () => {
    base = await specOf(qrModel(4));
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

  const factor = (name: string) => base.tensors.find((t) => t.name === name) as TensorSpec;

  async function expectRefused(spec: PackageSpec, problem: RegExp): Promise<void> {
    const pkg = await read(spec);
    for (const load of [
      () => checkModelStructure(pkg),
      () => sequentialFromPackage(pkg),
      () => buildSequentialScorer(pkg, { incremental: true, materialiseRows: 0 }, 'wasm'),
      () => packageFlops(pkg.manifest, { materialiseRows: 0 }),
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

  it('qrBuckets that the factors do not have', async () => {
    // 8 remainders would give 5 quotient rows of 8: neither factor is that.
    await expectRefused(
      edited(null, { qrBuckets: 8 }),
      /tensor "items\.qr\.quotient" has shape \[6,8\], but numItems 37 and architecture\.qrBuckets 8 give \[5,8\]/,
    );
    // 6 remainders also give 7 quotient rows; the remainder is checked too.
    const quotient = factor('items.qr.quotient');
    await expectRefused(
      edited(
        {
          name: 'items.qr.quotient',
          shape: [7, 8],
          data: Float32Array.from({ length: 56 }, () => 0.5),
        },
        { qrBuckets: 6 },
      ),
      /tensor "items\.qr\.remainder" has shape \[7,8\], but numItems 37 and architecture\.qrBuckets 6 give \[6,8\]/,
    );
    expect(quotient.shape).toEqual([6, 8]);
  });

  it('an item count the factors do not cover', async () => {
    // 48 rows in 7 remainders need 7 quotient rows.
    await expectRefused(
      { ...edited(null, { numItems: 47 }), items: { count: 47 } },
      /tensor "items\.qr\.quotient" has shape \[6,8\], but numItems 47 and architecture\.qrBuckets 7 give \[7,8\]/,
    );
  });

  it('factors of the wrong width or type, or missing', async () => {
    const remainder = factor('items.qr.remainder');
    await expectRefused(
      edited({ name: 'items.qr.remainder', shape: [7, 4, 2] }),
      /tensor "items\.qr\.remainder" has shape \[7,4,2\], but numItems 37 and architecture\.qrBuckets 7 give \[7,8\]/,
    );
    await expectRefused(
      edited({
        name: 'items.qr.remainder',
        dtype: 'uint8',
        data: Uint8Array.from(remainder.data as Float32Array, () => 1),
      }),
      /tensor "items\.qr\.remainder" is uint8; weights are float32, float16, int8/,
    );
    await expectRefused(
      edited(null, {}, 'items.qr.quotient'),
      /tensor "items\.qr\.quotient" is missing/,
    );
  });

  it('qrBuckets out of range or not an integer, and an unknown operation', async () => {
    for (const buckets of [0, 39, 2.5, '7', true]) {
      await expectRefused(
        edited(null, { qrBuckets: buckets }),
        /architecture\.qrBuckets must be an integer in 1\.\.38 \(numItems \+ 1\), got /,
      );
    }
    await expectRefused(
      edited(null, { qrOperation: 'concat' }),
      /architecture\.qrOperation must be one of mult, add, got "concat"/,
    );
    const { qrOperation: _, ...withoutOperation } = base.architecture;
    await expectRefused(
      { ...base, architecture: withoutOperation },
      /architecture\.qrOperation must be one of mult, add, got undefined/,
    );
  });

  it('a quotient-remainder package labelled dense, and a dense one labelled quotient-remainder', async () => {
    await expectRefused({ ...base, kind: 'sequential-dense' }, /tensor "items\.table" is missing/);
    await expectRefused(
      {
        ...base,
        tensors: [
          ...base.tensors.filter((t) => !t.name.startsWith('items.qr.')),
          {
            name: 'items.table',
            dtype: 'float32',
            shape: [ROWS, 8],
            data: new Float32Array(ROWS * 8),
            role: 'item-embedding',
          },
        ],
      },
      /tensor "items\.qr\.quotient" is missing/,
    );
  });
});
