// sequential-pruned packages: a SASRec's item table pruned to a mask, written as bitmap or CSR,
// read back as a dense model whose table is exactly the kept values with the codebook (or
// zero) elsewhere, scoring as that dense model does in Node and in the engine's scorer; and
// packages that verify but do not fit their kind, refused before any tensor is built.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { keptCount, maskFromRanking, ranking } from '../../../src/compression/shaver/prune.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { DENSE_TABLE, denseItemTable } from '../../../src/model/item-table.ts';
import { packageFlops } from '../../../src/model/package-flops.ts';
import { checkModelStructure } from '../../../src/model/package-structure.ts';
import {
  encoderParamCount,
  initEncoderWeights,
  type SasrecConfig,
} from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../src/model/sequential-package.ts';
import {
  PRUNED_ITEM_TABLE,
  SEQUENTIAL_PRUNED_KIND,
  sequentialPrunedSpec,
} from '../../../src/model/sequential-pruned.ts';
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
  dim: 16,
  maxLen: 6,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};
const ROWS = CONFIG.numItems + 1;
const TOTAL = ROWS * CONFIG.dim;

function randomValues(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

let model: SequentialModel;
let table: Float32Array;
beforeAll(() => {
  model = {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, 2),
    items: denseItemTable(tf.tensor2d(randomValues(TOTAL, 3), [ROWS, CONFIG.dim])),
  };
  table = (model.items.weights[DENSE_TABLE] as tf.Tensor).dataSync() as Float32Array;
});
const order = ranking(randomValues(TOTAL, 5));
const codebook = randomValues(CONFIG.dim, 6);

const dense = () => sequentialPackageSpec(model, { name: 'tiny-pruned', dataset: 'unit' });
const read = async (spec: PackageSpec): Promise<ModelPackage> =>
  readModelPackage(memorySource((await buildModelPackage(spec)).files, 'pkg'));

/** The table pruning in memory gives: kept values, the fill elsewhere. */
function reference(mask: Uint8Array, fill: Float32Array | 'zero'): Float32Array {
  return table.map((v, g) =>
    mask[g] ? v : fill === 'zero' ? 0 : (fill[g % CONFIG.dim] as number),
  );
}

const histories = Array.from({ length: 12 }, (_, i) =>
  Int32Array.from({ length: 1 + (i % 9) }, (_, j) => 1 + ((i * 7 + j * 5) % CONFIG.numItems)),
);

describe('sequential-pruned packages round trip', () => {
  const cases = [0.5, 0.8, 0.97].flatMap((s) =>
    (['auto', 'bitmap', 'csr'] as const).map((layout) => ({ s, layout })),
  );
  it.each(cases)(
    'sparsity $s, layout $layout: the rebuilt table is the reference, scores the dense model with it',
    async ({ s, layout }) => {
      const mask = maskFromRanking(order, keptCount(TOTAL, s));
      const pkg = await read(
        sequentialPrunedSpec(await dense(), mask, codebook, { layout, method: 'shaver' }),
      );
      const { manifest } = pkg;
      expect(manifest.kind).toBe(SEQUENTIAL_PRUNED_KIND);
      // dim 16: two bytes of bitmap a row, against a byte per row and per kept element for CSR.
      const chosen = layout === 'auto' ? (s < 15 / 16 ? 'bitmap' : 'csr') : layout;
      expect(manifest.architecture).toMatchObject({
        layout: chosen,
        fill: 'codebook',
        keptElements: keptCount(TOTAL, s),
        pruneMethod: 'shaver',
        denseBytes: 4 * (encoderParamCount(CONFIG) + TOTAL),
      });
      expect(manifest.size.denseEmbeddingBytes).toBe(4 * TOTAL);
      const loaded = sequentialFromPackage(pkg);
      const expected = reference(mask, codebook);
      expect(loaded.items.kind).toBe('dense');
      expect([...(loaded.items.weights[DENSE_TABLE] as tf.Tensor).dataSync()]).toEqual([
        ...expected,
      ]);
      for (const [name, t] of Object.entries(model.encoder)) {
        expect([...(loaded.encoder[name] as tf.Tensor).dataSync()], name).toEqual([
          ...t.dataSync(),
        ]);
      }
      const direct: SequentialModel = {
        ...model,
        items: denseItemTable(tf.tensor2d(expected, [ROWS, CONFIG.dim])),
      };
      expect(await scoreHistories(loaded, histories)).toEqual(
        await scoreHistories(direct, histories),
      );
      expect(checkModelStructure(pkg)).toMatch(
        new RegExp(
          `pruned item table of ${ROWS} rows of dim 16, ${keptCount(TOTAL, s)} of ${TOTAL} elements kept \\(${chosen}, codebook fill\\)`,
        ),
      );
      // Rebuilt dense at load, so it is served, and counted, as the dense model.
      const denseManifest = (await read(await dense())).manifest;
      expect(packageFlops(manifest, { materialiseRows: 0 })).toEqual(
        packageFlops(denseManifest, { materialiseRows: 0 }),
      );
    },
  );

  it('zero fill has no codebook; int8 values are dequantised; the engine scores as Node does', async () => {
    const mask = maskFromRanking(order, keptCount(TOTAL, 0.6));
    const pkg = await read(sequentialPrunedSpec(await dense(), mask, 'zero', { dtype: 'int8' }));
    expect(pkg.tensors.has(PRUNED_ITEM_TABLE.codebook)).toBe(false);
    expect(pkg.tensors.get(PRUNED_ITEM_TABLE.values)?.dtype).toBe('int8');
    const loaded = sequentialFromPackage(pkg);
    const got = (loaded.items.weights[DENSE_TABLE] as tf.Tensor).dataSync();
    const expected = reference(mask, 'zero');
    const scale = Math.max(...table.map(Math.abs)) / 127;
    got.forEach((v, g) => {
      if (!mask[g]) expect(v).toBe(0);
      else expect(Math.abs(v - (expected[g] as number))).toBeLessThanOrEqual(scale / 2 + 1e-7);
    });
    const scorer = buildSequentialScorer(pkg, { incremental: true, materialiseRows: 0 }, 'wasm');
    const [scores] = await scoreHistories(loaded, [histories[5] as Int32Array]);
    const top = await scoreSequential(
      scorer,
      {
        history: histories[5] as Int32Array,
        k: 5,
        exclude: new Int32Array(0),
        candidates: null,
        excludeSeen: false,
      },
      () => {},
    );
    const best = [...(scores as Float32Array).keys()]
      .slice(1)
      .sort((a, b) => (scores as Float32Array)[b]! - (scores as Float32Array)[a]!)
      .slice(0, 5);
    expect([...top.rows]).toEqual(best);
    releaseSequentialScorer(scorer);
  });

  it('refuses a mask or codebook of another table, and a spec that is not dense', async () => {
    const spec = await dense();
    expect(() => sequentialPrunedSpec(spec, new Uint8Array(TOTAL - 1), codebook)).toThrow(
      /a mask of 607 elements for a table of 608/,
    );
    expect(() => sequentialPrunedSpec(spec, new Uint8Array(TOTAL), codebook.subarray(1))).toThrow(
      /the codebook has 15 values, \[1, 16\] needed/,
    );
    expect(() =>
      sequentialPrunedSpec({ ...spec, kind: 'sequential-tt' }, new Uint8Array(TOTAL), codebook),
    ).toThrow(/a sequential-tt spec has no dense item table/);
  });
});

describe('sequential-pruned packages that verify but do not fit their kind', () => {
  const spec = async (layout: 'bitmap' | 'csr', kept = 200) =>
    sequentialPrunedSpec(await dense(), maskFromRanking(order, kept), codebook, { layout });

  /** The spec with tensors or architecture entries changed; the writer recomputes sizes. */
  function edited(
    base: PackageSpec,
    change: {
      tensor?: Partial<TensorSpec> & { name: string };
      drop?: string;
      architecture?: Record<string, number | string>;
      denseParams?: number;
    },
  ): PackageSpec {
    const tensors = base.tensors
      .filter((t) => t.name !== change.drop)
      .map((t) =>
        change.tensor && t.name === change.tensor.name
          ? ({ ...t, ...change.tensor } as TensorSpec)
          : t,
      );
    return {
      ...base,
      architecture: { ...base.architecture, ...change.architecture },
      tensors,
      denseEquivalent: {
        ...base.denseEquivalent,
        ...(change.denseParams === undefined ? {} : { params: change.denseParams }),
      },
    };
  }

  const tensorOf = (s: PackageSpec, name: string) =>
    s.tensors.find((t) => t.name === name) as TensorSpec;

  /** Refused by verify's check, the loader and the engine, fast and before any tensor is made. */
  async function expectRefused(s: PackageSpec, problem: RegExp): Promise<void> {
    const pkg = await read(s);
    for (const load of [
      () => checkModelStructure(pkg),
      () => sequentialFromPackage(pkg),
      () => buildSequentialScorer(pkg, { incremental: true, materialiseRows: 0 }, 'wasm'),
    ]) {
      const tensors = tf.memory().numTensors;
      const started = performance.now();
      let caught: unknown;
      try {
        load();
      } catch (error) {
        caught = error;
      }
      expect(performance.now() - started).toBeLessThan(200);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(caught).toBeInstanceOf(ModelPackageError);
      expect((caught as ModelPackageError).code).toBe('bad-shape');
      expect((caught as ModelPackageError).message).toMatch(problem);
    }
  }

  it('architecture numbers that disagree with the tensors', async () => {
    const bitmap = await spec('bitmap');
    await expectRefused(
      edited(bitmap, { architecture: { keptElements: 199 } }),
      /keptElements is 199, the tensors hold 200/,
    );
    await expectRefused(edited(bitmap, { architecture: { sparsity: 0.1 } }), /sparsity is 0\.1/);
    await expectRefused(edited(bitmap, { architecture: { denseBytes: 1 } }), /denseBytes is 1/);
    await expectRefused(
      edited(bitmap, { denseParams: encoderParamCount(CONFIG) + TOTAL + 1 }),
      /size\.denseEquivalentParams is \d+, the dense model has \d+/,
    );
    await expectRefused(
      edited(bitmap, { architecture: { layout: 'progressive' } }),
      /architecture\.layout must be one of bitmap, csr/,
    );
    await expectRefused(
      edited(bitmap, { architecture: { layout: 'csr' } }),
      /tensor "items\.table\.rowCounts" is missing/,
    );
    await expectRefused(
      edited(bitmap, { architecture: { fill: 'zero' } }),
      /tensor "items\.table\.codebook" is not part of this model/,
    );
    await expectRefused(
      edited(bitmap, { architecture: { fill: 'mean' } }),
      /architecture\.fill must be one of codebook, zero/,
    );
  });

  it('a table of another size than numItems + 1 rows of dim, or too large to rebuild', async () => {
    const bitmap = await spec('bitmap');
    const bits = tensorOf(bitmap, PRUNED_ITEM_TABLE.bitmap);
    await expectRefused(
      edited(bitmap, {
        tensor: {
          name: bits.name,
          shape: [ROWS - 1, 2],
          data: (bits.data as Uint8Array).subarray(2),
        },
      }),
      /the pruned table has 37 rows, numItems \+ 1 is 38/,
    );
    await expectRefused(
      edited(bitmap, { tensor: { name: bits.name, shape: [ROWS * 2, 1], data: bits.data } }),
      /has 76 rows/,
    );
    await expectRefused(
      edited(bitmap, {
        tensor: { name: PRUNED_ITEM_TABLE.codebook, shape: [2, 8] },
      }),
      /"items\.table\.codebook" has shape \[2,8\], expected \[1, 16\]/,
    );
    // 2^20 + 1 rows of dim 16: past the elements a reader rebuilds, refused before any is.
    const huge = 2 ** 20 + 1;
    await expectRefused(
      {
        ...edited(bitmap, {
          tensor: { name: bits.name, shape: [huge, 2], data: new Uint8Array(huge * 2) },
          architecture: { numItems: huge - 1 },
          denseParams: encoderParamCount(CONFIG) + huge * CONFIG.dim,
        }),
        items: { count: huge - 1 },
      },
      /a table of 1048577 x 16 elements is over the 16777216 a reader rebuilds/,
    );
    const csr = await spec('csr', 10);
    const counts = tensorOf(csr, PRUNED_ITEM_TABLE.rowCounts);
    await expectRefused(
      edited(csr, {
        tensor: {
          name: counts.name,
          shape: [ROWS + 1],
          data: Uint8Array.from([...(counts.data as Uint8Array), 0]),
        },
      }),
      /the pruned table has 39 rows/,
    );
    const columns = tensorOf(csr, PRUNED_ITEM_TABLE.columns);
    await expectRefused(
      edited(csr, {
        tensor: { name: columns.name, shape: [9], data: (columns.data as Uint8Array).subarray(1) },
      }),
      /9 columns for 10 values/,
    );
  });

  it('positions out of range, out of order or miscounted', async () => {
    const bitmap = await spec('bitmap');
    const bits = Uint8Array.from(tensorOf(bitmap, PRUNED_ITEM_TABLE.bitmap).data as Uint8Array);
    bits[3] = (bits[3] as number) ^ 0xff;
    await expectRefused(
      edited(bitmap, { tensor: { name: PRUNED_ITEM_TABLE.bitmap, data: bits } }),
      /items\.table\.bitmap: the bitmap marks \d+ elements, 200 values are stored/,
    );
    const csr = await spec('csr', 10);
    const columns = Uint8Array.from(tensorOf(csr, PRUNED_ITEM_TABLE.columns).data as Uint8Array);
    columns[0] = 16;
    await expectRefused(
      edited(csr, { tensor: { name: PRUNED_ITEM_TABLE.columns, data: columns } }),
      /the CSR positions: row \d+: column 16 is not ascending within 0\.\.15/,
    );
    const counts = Uint8Array.from(tensorOf(csr, PRUNED_ITEM_TABLE.rowCounts).data as Uint8Array);
    counts[0] = 17;
    await expectRefused(
      edited(csr, { tensor: { name: PRUNED_ITEM_TABLE.rowCounts, data: counts } }),
      /row 0 keeps 17 elements, more than dim 16/,
    );
  });

  it('the encoder is checked as a dense one: a tensor missing, or the dense table as well', async () => {
    const bitmap = await spec('bitmap');
    await expectRefused(edited(bitmap, { drop: 'norm.gamma' }), /tensor "norm\.gamma" is missing/);
    const withTable: PackageSpec = {
      ...bitmap,
      tensors: [
        ...bitmap.tensors,
        {
          name: DENSE_TABLE,
          dtype: 'float32',
          shape: [ROWS, CONFIG.dim],
          data: table,
          role: 'item-embedding',
        },
      ],
    };
    await expectRefused(withTable, /tensor "items\.table" is not part of this model/);
  });
});
