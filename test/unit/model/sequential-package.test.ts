import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable, ttItemTable } from '../../../src/model/item-table.ts';
import {
  encoderParamCount,
  initEncoderWeights,
  type SasrecConfig,
} from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape, ttParamCount } from '../../../src/model/tt-matrix.ts';
import { ModelPackageError, type ModelPackageProblem } from '../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../src/package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { sizeFigures } from '../../../src/package/size.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';

type Files = Map<string, Uint8Array>;

beforeAll(async () => {
  await useWasmBackend();
});

const CONFIG: SasrecConfig = {
  numItems: 37,
  dim: 8,
  maxLen: 6,
  blocks: 2,
  heads: 2,
  dropout: 0.2,
  positions: 'from-latest',
  readout: 'last',
};
const ROWS = CONFIG.numItems + 1;
const DENSE_EMBEDDING = ROWS * CONFIG.dim;

/** 2 and 3 cores, plain TT and STP; every shape holds the 38 table rows of CONFIG. */
const TT_SHAPES: TtShape[] = [
  { rows: [7, 6], cols: [2, 4], rank: 4, stp: 1 },
  { rows: [7, 6], cols: [2, 4], rank: 4, stp: 2 },
  { rows: [4, 4, 3], cols: [2, 2, 2], rank: 4, stp: 1 },
  { rows: [4, 4, 3], cols: [2, 2, 2], rank: 4, stp: 2 },
];
const label = (s: TtShape) => `${s.rows.join('x')}:${s.cols.join('x')} r=${s.rank} t=${s.stp}`;

function denseModel(config: SasrecConfig, seed: number): SequentialModel {
  return {
    config,
    encoder: initEncoderWeights(config, seed),
    items: denseItemTable(
      tf.randomNormal([config.numItems + 1, config.dim], 0, 0.5, 'float32', seed + 100),
    ),
  };
}

function ttModel(config: SasrecConfig, shape: TtShape, seed: number): SequentialModel {
  return {
    config,
    encoder: initEncoderWeights(config, seed),
    items: ttItemTable(initTtCores(shape, { seed, std: 0.5 }), shape, config.numItems + 1),
  };
}

async function build(model: SequentialModel, shape?: TtShape): Promise<Files> {
  const spec = await sequentialPackageSpec(model, {
    name: shape ? 'tiny-tt' : 'tiny-dense',
    dataset: 'unit',
    ...(shape ? { architecture: ttArchitecture(shape) } : {}),
  });
  return (await buildModelPackage(spec)).files;
}

const read = (files: Files): Promise<ModelPackage> => readModelPackage(memorySource(files, 'pkg'));

/** Histories of items 1..numItems, lengths 1 to 10 (longer than maxLen too). */
function histories(count: number, seed: number): Int32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) =>
    Int32Array.from({ length: 1 + (i % 10) }, () => 1 + Math.floor(random() * CONFIG.numItems)),
  );
}

function maxDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  a.forEach((row, r) => {
    const other = b[r] as Float32Array;
    expect(row.length).toBe(other.length);
    // Index 0 is -Infinity in both; -Infinity - -Infinity is NaN.
    expect(row[0]).toBe(Number.NEGATIVE_INFINITY);
    expect(other[0]).toBe(Number.NEGATIVE_INFINITY);
    for (let i = 1; i < row.length; i++) {
      max = Math.max(max, Math.abs((row[i] as number) - (other[i] as number)));
    }
  });
  return max;
}

function parse(files: Files): Manifest {
  return JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
}

/** Sets a field to a value of any type, which the Manifest type would not allow. */
function set(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

/**
 * A copy of `files` with the manifest edited, its size figures recomputed from its tensors
 * and re-sealed, so the package verifies and only the model-level checks can catch the edit.
 */
async function withManifest(files: Files, edit: (manifest: Manifest) => void): Promise<Files> {
  const manifest = parse(files);
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

function tensorEntry(manifest: Manifest, name: string) {
  const entry = manifest.tensors.find((t) => t.name === name);
  if (!entry) throw new Error(`no tensor ${name}`);
  return entry;
}

/** The edited package verifies, and building a model from it fails with `code` and `problem`. */
async function expectRefused(
  files: Files,
  code: ModelPackageProblem,
  problem: RegExp,
): Promise<ModelPackageError> {
  const pkg = await read(files);
  let caught: unknown;
  try {
    sequentialFromPackage(pkg);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ModelPackageError);
  const error = caught as ModelPackageError;
  expect(error.code).toBe(code);
  expect(error.file).toBe(pkg.manifest.name);
  expect(error.message).toMatch(problem);
  return error;
}

describe('sequential model packages round trip', () => {
  const probe = histories(24, 5);

  async function expectSameScores(model: SequentialModel, files: Files): Promise<SequentialModel> {
    const reloaded = sequentialFromPackage(await read(files));
    expect(reloaded.config).toEqual(model.config);
    expect(reloaded.items.kind).toBe(model.items.kind);
    expect(reloaded.items.numRows).toBe(ROWS);
    for (const materialise of [false, true]) {
      const before = await scoreHistories(model, probe, { materialise });
      const after = await scoreHistories(reloaded, probe, { materialise });
      expect(before).toHaveLength(probe.length);
      for (const row of before) expect(row).toHaveLength(ROWS);
      expect(maxDifference(before, after)).toBeLessThanOrEqual(1e-6);
    }
    // Contracting the cores per query and building the table give the same ranking scores.
    const contracted = await scoreHistories(reloaded, probe, { materialise: false });
    const built = await scoreHistories(reloaded, probe, { materialise: true });
    expect(maxDifference(contracted, built)).toBeLessThanOrEqual(1e-5);
    return reloaded;
  }

  it('dense: same scores, kind sequential-dense, the table marked item-embedding', async () => {
    const model = denseModel(CONFIG, 1);
    const files = await build(model);
    await expectSameScores(model, files);
    const { manifest } = await read(files);
    expect(manifest.kind).toBe('sequential-dense');
    expect(manifest.items).toEqual({ count: CONFIG.numItems, idMap: null });
    expect(manifest.architecture).toEqual({ ...CONFIG });
    const roles = manifest.tensors.filter((t) => t.role === 'item-embedding').map((t) => t.name);
    expect(roles).toEqual(['items.table']);
    expect(tensorEntry(manifest, 'items.table').shape).toEqual([ROWS, CONFIG.dim]);
    const params = encoderParamCount(CONFIG) + DENSE_EMBEDDING;
    expect(manifest.size).toMatchObject({
      params,
      bytes: 4 * params,
      denseEquivalentParams: params,
      embeddingParams: DENSE_EMBEDDING,
      embeddingBytes: 4 * DENSE_EMBEDDING,
      denseEmbeddingBytes: 4 * DENSE_EMBEDDING,
      embeddingCompression: 1,
      modelCompression: 1,
    });
  });

  it('attention readout: same scores, its weights and architecture.readout kept', async () => {
    const config = { ...CONFIG, readout: 'attention' as const };
    const model = denseModel(config, 5);
    const files = await build(model);
    const reloaded = await expectSameScores(model, files);
    expect(reloaded.config.readout).toBe('attention');
    const { manifest } = await read(files);
    expect(manifest.architecture).toMatchObject({ readout: 'attention' });
    expect(manifest.tensors.map((t) => t.name)).toContain('readout.score.kernel');
  });

  it('a repeat bonus: kept in architecture.repeatBonus, and in the scores', async () => {
    const model = { ...denseModel(CONFIG, 8), repeatBonus: 2.5 };
    const files = await build(model);
    const reloaded = await expectSameScores(model, files);
    expect(reloaded.repeatBonus).toBe(2.5);
    expect(parse(files).architecture.repeatBonus).toBe(2.5);
    const history = [3, 9, 3];
    const [plain] = await scoreHistories({ ...reloaded, repeatBonus: 0 }, [history]);
    const [lifted] = await scoreHistories(reloaded, [history]);
    for (let item = 1; item <= CONFIG.numItems; item++) {
      const bonus = history.includes(item) ? 2.5 : 0;
      expect((lifted as Float32Array)[item]).toBeCloseTo(
        ((plain as Float32Array)[item] as number) + bonus,
        5,
      );
    }
  });

  it('a package from before the readout option reads as the last-state readout', async () => {
    const files = await withManifest(await build(denseModel(CONFIG, 6)), (m) => {
      delete m.architecture.readout;
    });
    expect(sequentialFromPackage(await read(files)).config.readout).toBe('last');
  });

  it('dense with one block and one head', async () => {
    const config = { ...CONFIG, blocks: 1, heads: 1 };
    const model = denseModel(config, 2);
    const files = await build(model);
    await expectSameScores(model, files);
    expect(parse(files).architecture).toMatchObject({ blocks: 1, heads: 1 });
  });

  it.each(TT_SHAPES.map((s) => [label(s), s] as const))(
    'tensor-train %s: same scores, kind sequential-tt, cores marked item-embedding, smaller',
    async (_label, shape) => {
      const model = ttModel(CONFIG, shape, 3);
      const files = await build(model, shape);
      const reloaded = await expectSameScores(model, files);
      expect(reloaded.items.params).toBe(ttParamCount(shape));
      const { manifest } = await read(files);
      expect(manifest.kind).toBe('sequential-tt');
      expect(manifest.architecture).toMatchObject({
        ttRows: shape.rows,
        ttCols: shape.cols,
        ttRank: shape.rank,
        ttStp: shape.stp,
      });
      const embedding = manifest.tensors.filter((t) => t.role === 'item-embedding');
      expect(embedding.map((t) => t.name)).toEqual(shape.rows.map((_, k) => `items.tt.core${k}`));
      // Nothing else is marked: the encoder is not part of the item table.
      expect(manifest.tensors.filter((t) => t.name.startsWith('items.'))).toEqual(embedding);
      const ttParams = ttParamCount(shape);
      const encoderParams = encoderParamCount(CONFIG);
      expect(manifest.size).toMatchObject({
        params: encoderParams + ttParams,
        bytes: 4 * (encoderParams + ttParams),
        denseEquivalentParams: encoderParams + DENSE_EMBEDDING,
        embeddingParams: ttParams,
        embeddingBytes: 4 * ttParams,
        denseEmbeddingBytes: 4 * DENSE_EMBEDDING,
      });
      expect(manifest.size.embeddingCompression).toBeCloseTo(DENSE_EMBEDDING / ttParams, 12);
      expect(manifest.size.embeddingCompression).toBeGreaterThan(1);
      expect(manifest.size.modelCompression).toBeGreaterThan(1);
    },
  );
});

describe('sequential model packages that verify but do not fit the model', () => {
  let dense: Files;
  let tt: Files;
  const ttShape = TT_SHAPES[1] as TtShape; // 7x6:2x4, rank 4, STP 2

  beforeAll(async () => {
    dense = await build(denseModel(CONFIG, 4));
    tt = await build(ttModel(CONFIG, ttShape, 4), ttShape);
  });

  it('a missing encoder tensor: the block count no longer matches the block tensors', async () => {
    const files = await withManifest(dense, (m) => {
      m.tensors = m.tensors.filter((t) => t.name !== 'blocks.1.attention.query.kernel');
    });
    await expectRefused(
      files,
      'bad-shape',
      /sequential-dense: architecture\.blocks is 2, but the package has 31 block tensors/,
    );
  });

  it('a missing item table', async () => {
    const files = await withManifest(dense, (m) => {
      m.tensors = m.tensors.filter((t) => t.name !== 'items.table');
    });
    await expectRefused(files, 'bad-shape', /tensor "items\.table" is missing/);
  });

  it('a wrong-shaped tensor with the right number of elements', async () => {
    const files = await withManifest(dense, (m) => {
      tensorEntry(m, 'positions').shape = [CONFIG.dim, CONFIG.maxLen];
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "positions" has shape \[8,6\], but architecture\.maxLen and dim say \[6,8\]/,
    );
  });

  it('architecture.numItems that differs from items.count', async () => {
    const files = await withManifest(dense, (m) => {
      m.architecture.numItems = 36;
    });
    await expectRefused(
      files,
      'bad-shape',
      /architecture\.numItems 36 differs from items\.count 37/,
    );
  });

  it('dim not divisible by heads', async () => {
    const files = await withManifest(dense, (m) => {
      m.architecture.heads = 3;
    });
    await expectRefused(files, 'bad-shape', /dim 8 is not divisible by heads 3/);
  });

  it.each([
    ['dim', 8.5, /architecture\.dim must be an integer >= 1, got 8\.5/],
    ['maxLen', '6', /architecture\.maxLen must be an integer >= 1, got "6"/],
    ['blocks', -1, /architecture\.blocks must be an integer >= 0, got -1/],
    ['heads', 0, /architecture\.heads must be an integer >= 1, got 0/],
    ['numItems', undefined, /architecture\.numItems must be an integer >= 1, got undefined/],
  ])('a bad architecture.%s (%j)', async (key, value, problem) => {
    const files = await withManifest(dense, (m) => {
      if (value === undefined) delete m.architecture[key];
      else set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it.each([[-1], ['2']])('a bad architecture.repeatBonus (%j)', async (value) => {
    const files = await withManifest(dense, (m) => {
      set(m.architecture, 'repeatBonus', value);
    });
    await expectRefused(files, 'bad-shape', /architecture\.repeatBonus must be a number >= 0/);
  });

  it('an unknown readout', async () => {
    const files = await withManifest(dense, (m) => {
      m.architecture.readout = 'mean';
    });
    await expectRefused(
      files,
      'bad-shape',
      /architecture\.readout must be one of last, attention, got "mean"/,
    );
  });

  it('an attention readout whose weights are missing', async () => {
    const files = await withManifest(dense, (m) => {
      m.architecture.readout = 'attention';
    });
    await expectRefused(files, 'bad-shape', /tensor "readout\.item\.kernel" is missing/);
  });

  it('an unknown kind', async () => {
    const files = await withManifest(dense, (m) => {
      m.kind = 'sequential-gru';
    });
    await expectRefused(
      files,
      'bad-manifest',
      /kind "sequential-gru" is not a sequential model this reader knows/,
    );
  });

  it('a dense package labelled sequential-tt', async () => {
    const files = await withManifest(dense, (m) => {
      m.kind = 'sequential-tt';
    });
    await expectRefused(files, 'bad-shape', /sequential-tt: architecture\.ttRows must list 2 or 3/);
  });

  it.each([
    ['ttRank', 2, /tensor "items\.tt\.core0" has shape \[7,1,8\], expected \[7,1,4\]/],
    ['ttStp', 1, /tensor "items\.tt\.core1" has shape \[6,2,2\], expected \[6,4,4\]/],
    ['ttRows', [6, 7], /tensor "items\.tt\.core0" has shape \[7,1,8\], expected \[6,1,8\]/],
    ['ttCols', [4, 2], /tensor "items\.tt\.core0" has shape \[7,1,8\], expected \[7,1,16\]/],
  ])('TT cores that do not match %s = %j', async (key, value, problem) => {
    const files = await withManifest(tt, (m) => {
      set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it('a missing TT core', async () => {
    const files = await withManifest(tt, (m) => {
      m.tensors = m.tensors.filter((t) => t.name !== 'items.tt.core1');
    });
    await expectRefused(files, 'bad-shape', /tensor "items\.tt\.core1" is missing/);
  });

  it.each([
    ['ttStp', 3, /sequential-tt: STP factor 3 must divide core 2's rank 4/],
    ['ttRank', 0, /sequential-tt: rank must be a positive integer, not 0/],
    ['ttRank', undefined, /sequential-tt: rank must be a positive integer, not NaN/],
    ['ttCols', [2, 2], /sequential-tt: ttCols multiply to 4, not dim 8/],
    ['ttRows', [7, 6, 1, 1], /sequential-tt: architecture\.ttRows must list 2 or 3 positive/],
    ['ttRows', [7, 0], /sequential-tt: architecture\.ttRows must list 2 or 3 positive/],
    ['ttCols', [2, 4.5], /sequential-tt: architecture\.ttCols must list 2 or 3 positive/],
    ['ttCols', [2, 2, 2], /sequential-tt: 2 row factors but 3 column factors/],
  ])('an impossible TT shape: %s = %j', async (key, value, problem) => {
    const files = await withManifest(tt, (m) => {
      if (value === undefined) delete m.architecture[key];
      else set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it('TT rows that cannot hold the items', async () => {
    // Cores of a 3x3 table (9 rows, 8 items) in a package that claims 37 items.
    const small = { ...CONFIG, numItems: 8 };
    const shape: TtShape = { rows: [3, 3], cols: [2, 4], rank: 2, stp: 1 };
    const files = await withManifest(await build(ttModel(small, shape, 6), shape), (m) => {
      m.architecture.numItems = 37;
      m.items.count = 37;
    });
    await expectRefused(files, 'bad-shape', /sequential-tt: .*rows 3x3 = 9 cannot hold 38/);
  });
});

describe('scoreHistories', () => {
  // Built once the WASM backend is set, not while the file is collected.
  let model: SequentialModel;
  let tt: SequentialModel;
  beforeAll(() => {
    model = denseModel(CONFIG, 7);
    tt = ttModel(CONFIG, TT_SHAPES[3] as TtShape, 7);
  });

  it.each([['dense'], ['tensor-train']])(
    '%s: one row of numItems + 1 scores per history, index 0 -Infinity',
    async (kind) => {
      const m = kind === 'dense' ? model : tt;
      for (const materialise of [false, true]) {
        const rows = await scoreHistories(m, histories(12, 8), { materialise });
        expect(rows).toHaveLength(12);
        for (const row of rows) {
          expect(row).toHaveLength(ROWS);
          expect(row[0]).toBe(Number.NEGATIVE_INFINITY);
          expect(row.subarray(1).every(Number.isFinite)).toBe(true);
        }
      }
    },
  );

  it('a history of one item works and depends on the item', async () => {
    const [a, b] = await scoreHistories(model, [Int32Array.of(5), Int32Array.of(6)]);
    expect(a?.subarray(1).every(Number.isFinite)).toBe(true);
    expect(maxDifference([a as Float32Array], [b as Float32Array])).toBeGreaterThan(1e-3);
  });

  it('a history longer than maxLen is cut to its latest maxLen items', async () => {
    const latest = [3, 9, 27, 1, 14, 30];
    const long = Int32Array.from([11, 12, 13, 2, ...latest]);
    const otherPast = Int32Array.from([36, 35, 34, 33, 32, 31, 7, ...latest]);
    for (const m of [model, tt]) {
      const [cut, full, other] = await scoreHistories(m, [
        Int32Array.from(latest),
        long,
        otherPast,
      ]);
      expect(maxDifference([cut as Float32Array], [full as Float32Array])).toBeLessThan(1e-5);
      expect(maxDifference([cut as Float32Array], [other as Float32Array])).toBeLessThan(1e-5);
    }
    // And one item fewer does change the scores: the cut keeps exactly maxLen items.
    const [five, six] = await scoreHistories(model, [
      Int32Array.from(latest.slice(1)),
      Int32Array.from(latest),
    ]);
    expect(maxDifference([five as Float32Array], [six as Float32Array])).toBeGreaterThan(1e-3);
  });

  it('left padding does not change the scores of a short history', async () => {
    const short = Int32Array.of(4, 17);
    const long = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const m of [model, tt]) {
      for (const materialise of [false, true]) {
        const [alone] = await scoreHistories(m, [short], { materialise });
        const [, padded] = await scoreHistories(m, [long, short], { materialise });
        expect(maxDifference([alone as Float32Array], [padded as Float32Array])).toBeLessThan(1e-5);
      }
    }
  });
});
