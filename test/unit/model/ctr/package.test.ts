import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import {
  type Dcnv2Config,
  DEFAULT_DCNV2,
  initDcnv2Weights,
} from '../../../../src/model/ctr/dcnv2.ts';
import {
  DEFAULT_DEEPFM,
  type DeepFmConfig,
  initDeepFmWeights,
} from '../../../../src/model/ctr/deepfm.ts';
import { DEFAULT_DLRM, type DlrmConfig, initDlrmWeights } from '../../../../src/model/ctr/dlrm.ts';
import { ctrBatch } from '../../../../src/model/ctr/field-embedding.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import type { Weights } from '../../../../src/model/ctr/layers.ts';
import { type CtrModel, ctrForward } from '../../../../src/model/ctr/model.ts';
import {
  checkCtrPackage,
  ctrFromPackage,
  ctrPackageSpec,
} from '../../../../src/model/ctr/package.ts';
import type { CtrRows } from '../../../../src/model/ctr/schema.ts';
import { checkCtrStructure } from '../../../../src/model/ctr/structure.ts';
import { checkModelStructure } from '../../../../src/model/package-structure.ts';
import { ModelPackageError, type ModelPackageProblem } from '../../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../../src/package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../../../../src/package/reader.ts';
import { sizeFigures } from '../../../../src/package/size.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../../src/package/writer.ts';
import { randomRows, schema } from './fixtures.ts';

type Files = Map<string, Uint8Array>;

beforeAll(async () => {
  await useWasmBackend();
});

/** The fixture schema's table: user 5 + genres 6 + age 5 rows. */
const ROWS = 16;
const DIM = 4;
const FIELDS = 3;

/** Every weight redrawn, so that no weight keeps its initial zero or one (moving statistics included). */
function randomised(model: CtrModel, seed: number): CtrModel {
  const weights: Weights = {};
  let s = seed;
  for (const [name, t] of Object.entries(model.weights)) {
    weights[name] = name.endsWith('.movingVariance')
      ? tf.randomUniform(t.shape, 0.5, 2, 'float32', s++)
      : tf.randomNormal(t.shape, 0, 0.5, 'float32', s++);
  }
  return { ...model, weights };
}

const fm = (): CtrModel => {
  const config = { dim: DIM };
  return randomised({ kind: 'fm', config, schema, weights: initFmWeights(config, schema, 1) }, 10);
};

const deepFm = (over: Partial<DeepFmConfig> = {}): CtrModel => {
  const config = { ...DEFAULT_DEEPFM, dim: DIM, mlp: [8, 6], ...over };
  const weights = initDeepFmWeights(config, schema, 2);
  return randomised({ kind: 'deepfm', config, schema, weights }, 20);
};

const dcnv2 = (over: Partial<Dcnv2Config> = {}): CtrModel => {
  const config = { ...DEFAULT_DCNV2, dim: DIM, mlp: [8, 6], ...over };
  const weights = initDcnv2Weights(config, schema, 3);
  return randomised({ kind: 'dcnv2', config, schema, weights }, 30);
};

const dlrm = (over: Partial<DlrmConfig> = {}): CtrModel => {
  const config = { ...DEFAULT_DLRM, dim: DIM, mlp: [8, 6], ...over };
  const weights = initDlrmWeights(config, schema, 4);
  return randomised({ kind: 'dlrm', config, schema, weights }, 40);
};

const build = async (model: CtrModel): Promise<Files> =>
  (await buildModelPackage(ctrPackageSpec(model, { name: 'tiny-ctr', dataset: 'unit' }))).files;

const read = (files: Files): Promise<ModelPackage> => readModelPackage(memorySource(files, 'pkg'));

function parse(files: Files): Manifest {
  return JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
}

/** Sets a field to a value of any type, which the Manifest type would not allow. */
function set(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

/**
 * A copy of `files` with the manifest edited, its size figures recomputed and re-sealed, so
 * the package verifies and only the model-level checks can catch the edit.
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

function logits(model: CtrModel, rows: CtrRows): Float32Array {
  return tf.tidy(() =>
    ctrForward(model, ctrBatch(model.schema, rows), { training: false }).dataSync<'float32'>(),
  );
}

/**
 * The package verifies; loading it, and checking its structure as `verify` does, both fail
 * with `code` and `problem`, before a single tensor is built and within a few milliseconds
 * whatever number the manifest states.
 */
async function expectRefused(
  files: Files,
  code: ModelPackageProblem,
  problem: RegExp,
): Promise<void> {
  const pkg = await read(files);
  for (const load of [ctrFromPackage, checkModelStructure]) {
    const tensors = tf.memory().numTensors;
    const started = performance.now();
    let caught: unknown;
    try {
      load(pkg);
    } catch (error) {
      caught = error;
    }
    expect(performance.now() - started).toBeLessThan(200);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(caught).toBeInstanceOf(ModelPackageError);
    const error = caught as ModelPackageError;
    expect(error.code).toBe(code);
    expect(error.file).toBe(pkg.manifest.name);
    expect(error.message).toMatch(problem);
  }
}

const SCHEMA_ARCHITECTURE = {
  fieldNames: ['user', 'genres', 'age'],
  fieldKinds: ['categorical', 'multi', 'numeric'],
  vocabularySizes: [5, 6, 5],
  maxValues: [1, 3, 1],
  boundaryCounts: [0, 0, 3],
  boundaries: [18, 30, 50],
};

describe('CTR packages round trip', () => {
  const probe = randomRows(64, 3);

  const variants: [string, () => CtrModel, Record<string, unknown>][] = [
    ['fm', fm, { model: 'fm', dim: DIM }],
    [
      'deepfm, batch norm',
      () => deepFm(),
      { model: 'deepfm', dim: DIM, mlp: [8, 6], norm: 'batch', dropout: 0.2 },
    ],
    [
      'deepfm, layer norm',
      () => deepFm({ norm: 'layer', dropout: 0.5 }),
      { model: 'deepfm', dim: DIM, mlp: [8, 6], norm: 'layer', dropout: 0.5 },
    ],
    [
      'deepfm, no mlp',
      () => deepFm({ norm: 'none', mlp: [] }),
      { model: 'deepfm', dim: DIM, mlp: [], norm: 'none', dropout: 0.2 },
    ],
    [
      'dcnv2, full rank, parallel',
      () => dcnv2(),
      {
        model: 'dcnv2',
        dim: DIM,
        mlp: [8, 6],
        norm: 'batch',
        dropout: 0.2,
        crossLayers: 3,
        cross: 'full',
        structure: 'parallel',
      },
    ],
    [
      'dcnv2, mixture, stacked',
      () =>
        dcnv2({
          cross: { kind: 'mixture', rank: 2, experts: 3 },
          structure: 'stacked',
          crossLayers: 2,
        }),
      {
        model: 'dcnv2',
        dim: DIM,
        mlp: [8, 6],
        norm: 'batch',
        dropout: 0.2,
        crossLayers: 2,
        cross: 'mixture',
        crossRank: 2,
        crossExperts: 3,
        structure: 'stacked',
      },
    ],
    [
      'dlrm, dot, batch norm',
      () => dlrm(),
      { model: 'dlrm', dim: DIM, mlp: [8, 6], norm: 'batch', dropout: 0.2, interaction: 'dot' },
    ],
    [
      'dlrm, cat, layer norm',
      () => dlrm({ interaction: 'cat', norm: 'layer', dropout: 0.1 }),
      { model: 'dlrm', dim: DIM, mlp: [8, 6], norm: 'layer', dropout: 0.1, interaction: 'cat' },
    ],
    [
      'dlrm, dot, no top mlp',
      () => dlrm({ mlp: [], norm: 'none' }),
      { model: 'dlrm', dim: DIM, mlp: [], norm: 'none', dropout: 0.2, interaction: 'dot' },
    ],
  ];

  it.each(variants)(
    '%s: identical logits, the model rebuilt from the manifest alone',
    async (_, make, architecture) => {
      const model = make();
      const files = await build(model);
      const pkg = await read(files);
      const reloaded = ctrFromPackage(pkg);
      expect(reloaded.kind).toBe(model.kind);
      expect(reloaded.config).toEqual(model.config);
      expect(reloaded.schema).toEqual(model.schema);
      expect(Object.keys(reloaded.weights).sort()).toEqual(Object.keys(model.weights).sort());
      const before = logits(model, probe);
      expect(before.every(Number.isFinite)).toBe(true);
      expect(logits(reloaded, probe)).toEqual(before);

      const { manifest } = pkg;
      expect(manifest.kind).toBe('ctr-dense');
      expect(manifest.architecture).toEqual({ ...architecture, ...SCHEMA_ARCHITECTURE });
      expect(manifest.items).toEqual({ count: 0, idMap: null });
      expect(
        manifest.tensors.filter((t) => t.role === 'item-embedding').map((t) => t.name),
      ).toEqual(['embedding']);
      expect(manifest.tensors.every((t) => t.dtype === 'float32')).toBe(true);
      const params = Object.values(model.weights).reduce((n, t) => n + t.size, 0);
      expect(manifest.size).toMatchObject({
        params,
        bytes: 4 * params,
        denseEquivalentParams: params,
        embeddingParams: ROWS * DIM,
        embeddingBytes: 4 * ROWS * DIM,
        denseEmbeddingBytes: 4 * ROWS * DIM,
        embeddingCompression: 1,
        modelCompression: 1,
      });
      expect(checkModelStructure(pkg)).toMatch(
        new RegExp(`^ctr-dense: ${model.kind} over 3 fields, 16 embedding rows of dim 4`),
      );
    },
  );

  it('batch norm reads the stored moving statistics: changing them changes the logits', async () => {
    const model = deepFm();
    const reloaded = ctrFromPackage(await read(await build(model)));
    const shifted: CtrModel = {
      ...reloaded,
      weights: { ...reloaded.weights, 'mlp.0.norm.movingMean': tf.fill([8], 3) },
    };
    expect(logits(shifted, probe)).not.toEqual(logits(reloaded, probe));
  });

  it('a numeric field with no boundaries and a schema of one field', async () => {
    const one = {
      fields: [{ name: 'n', kind: 'numeric' as const, vocabularySize: 2, boundaries: [] }],
    };
    const config = { dim: 2 };
    const model: CtrModel = {
      kind: 'fm',
      config,
      schema: one,
      weights: initFmWeights(config, one, 4),
    };
    const reloaded = ctrFromPackage(await read(await build(model)));
    expect(reloaded.schema).toEqual(one);
  });

  it('the spec refuses a weight record that does not fit the model', () => {
    const model = fm();
    const extra: CtrModel = {
      ...model,
      weights: { ...model.weights, 'mlp.0.kernel': tf.zeros([12, 8]) },
    };
    expect(() => ctrPackageSpec(extra, { name: 'x', dataset: 'unit' })).toThrow(
      /weight "mlp\.0\.kernel" is not part of this fm/,
    );
    const wrong: CtrModel = {
      ...model,
      weights: { ...model.weights, linear: tf.zeros([ROWS, 2]) },
    };
    expect(() => ctrPackageSpec(wrong, { name: 'x', dataset: 'unit' })).toThrow(
      /weight "linear" has shape \[16,2\], this fm needs \[16,1\]/,
    );
  });
});

describe('CTR packages that verify but do not fit the model', () => {
  let deep: Files;
  let cross: Files;
  let mixture: Files;
  let dot: Files;
  beforeAll(async () => {
    deep = await build(deepFm());
    cross = await build(dcnv2());
    mixture = await build(dcnv2({ cross: { kind: 'mixture', rank: 2, experts: 3 } }));
    dot = await build(dlrm());
  });

  it('an mlp list longer than the kernels present', async () => {
    const files = await withManifest(deep, (m) => {
      m.architecture.mlp = [8, 6, 4];
    });
    await expectRefused(
      files,
      'bad-shape',
      /ctr-dense: architecture\.mlp lists 3 layers, but the package has 2 MLP kernels/,
    );
  });

  it('an mlp width that differs from its kernel', async () => {
    const files = await withManifest(deep, (m) => {
      m.architecture.mlp = [8, 7];
    });
    await expectRefused(
      files,
      'bad-shape',
      /architecture\.mlp\[1\] is 7, but "mlp\.1\.kernel" has shape \[8,6\]/,
    );
  });

  it('a cross-layer count of 1e9', async () => {
    const files = await withManifest(cross, (m) => {
      m.architecture.crossLayers = 1e9;
    });
    await expectRefused(
      files,
      'bad-shape',
      /architecture\.crossLayers is 1000000000, but the package has 3 cross layers/,
    );
  });

  it('an expert count of 1e9', async () => {
    const files = await withManifest(mixture, (m) => {
      m.architecture.crossExperts = 1e9;
    });
    await expectRefused(
      files,
      'bad-shape',
      /architecture\.crossExperts is 1000000000, but the package has 9 expert tensors for 3 layers/,
    );
  });

  it('a mixture rank that differs from the experts', async () => {
    const files = await withManifest(mixture, (m) => {
      m.architecture.crossRank = 3;
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "cross\.0\.expert\.0\.v" has shape \[12,2\], expected \[12,3\]/,
    );
  });

  it.each([
    [[5, 6, 6], /vocabularySizes add up to more than the 16 rows of "embedding"/],
    [[4, 6, 5], /vocabularySizes add up to 15, but "embedding" has 16 rows/],
    [[5, 7, 4], /field "age" has 5 buckets but 4 rows/],
    [[5, 6, 1e9], /vocabularySizes add up to more than the 16 rows/],
    [[5, 6, 0], /architecture\.vocabularySizes\[2\] must be an integer >= 1, got 0/],
    [[5, 6], /architecture\.vocabularySizes has 2 entries for 3 fields/],
  ])('vocabulary sizes %j that disagree with the table', async (sizes, problem) => {
    const files = await withManifest(deep, (m) => {
      m.architecture.vocabularySizes = sizes;
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it.each([
    ['dim', 5, /architecture\.dim is 5, but tensor "embedding" is 4 wide/],
    ['dim', 0, /architecture\.dim must be an integer >= 1, got 0/],
    [
      'maxValues',
      [1, 1e9, 1],
      /field "genres" has 1000000000 values per row, more than the table's rows/,
    ],
    ['maxValues', [2, 3, 1], /field "user" is categorical, so maxValues must be 1/],
    ['fieldKinds', ['categorical', 'set', 'numeric'], /field "genres": kind "set" is not one of/],
    ['fieldNames', ['user', 'user', 'age'], /field "user" \(number 1\): names must be distinct/],
    ['fieldNames', [], /architecture\.fieldNames lists no field/],
    ['fieldNames', [1, 2, 3], /architecture\.fieldNames must be a list of strings, got 1 in it/],
    ['boundaries', [18, 50, 30], /field "age": boundaries must be strictly ascending/],
    [
      'boundaries',
      [18, 30, 50, 70],
      /architecture\.boundaries has 4 entries, boundaryCounts account for 3/,
    ],
    ['boundaryCounts', [0, 0, 4], /boundaryCounts add up to more than the 3 boundaries/],
    ['boundaryCounts', [1, 0, 2], /field "user" is categorical, so it has no boundaries/],
    ['norm', 'group', /architecture\.norm must be one of batch, layer, none, got "group"/],
    ['dropout', 1, /architecture\.dropout must be a number in \[0, 1\), got 1/],
    ['mlp', undefined, /architecture\.mlp must be a list of numbers/],
    ['mlp', [8, 6.5], /architecture\.mlp\[1\] must be an integer >= 1, got 6\.5/],
  ])('a bad architecture.%s (%j)', async (key, value, problem) => {
    const files = await withManifest(deep, (m) => {
      if (value === undefined) delete m.architecture[key];
      else set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it.each([
    ['cross', 'low-rank', /architecture\.cross must be one of full, mixture, got "low-rank"/],
    ['structure', 'serial', /architecture\.structure must be one of parallel, stacked/],
    ['crossLayers', -1, /architecture\.crossLayers must be an integer >= 0, got -1/],
    ['cross', 'mixture', /architecture\.crossExperts must be an integer >= 1, got undefined/],
  ])('a bad DCNv2 architecture.%s (%j)', async (key, value, problem) => {
    const files = await withManifest(cross, (m) => {
      set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it.each([
    ['interaction', 'sum', /architecture\.interaction must be one of dot, cat, got "sum"/],
    ['interaction', undefined, /architecture\.interaction must be one of dot, cat, got undefined/],
    ['mlp', [8], /architecture\.mlp lists 1 layers, but the package has 2 MLP kernels/],
  ])('a bad DLRM architecture.%s (%j)', async (key, value, problem) => {
    const files = await withManifest(dot, (m) => {
      if (value === undefined) delete m.architecture[key];
      else set(m.architecture, key, value);
    });
    await expectRefused(files, 'bad-shape', problem);
  });

  it('dot and cat: the first MLP kernel tells them apart', async () => {
    const files = await withManifest(dot, (m) => {
      m.architecture.interaction = 'cat';
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "mlp\.0\.kernel" has shape \[15,8\], expected \[12,8\]/,
    );
  });

  it('parallel and stacked: the output kernel tells them apart', async () => {
    const files = await withManifest(cross, (m) => {
      m.architecture.structure = 'stacked';
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "output\.kernel" has shape \[18,1\], expected \[6,1\]/,
    );
  });

  it('an extra tensor', async () => {
    const spec: PackageSpec = ctrPackageSpec(deepFm(), { name: 'extra', dataset: 'unit' });
    spec.tensors.push({
      name: 'mlp.extra',
      dtype: 'float32',
      shape: [2],
      data: new Float32Array(2),
    });
    const files = (await buildModelPackage(spec)).files;
    await expectRefused(
      files,
      'bad-shape',
      /tensor "mlp\.extra" is not part of this model \(1 unexpected in all\)/,
    );
  });

  it('a missing tensor', async () => {
    const files = await withManifest(deep, (m) => {
      m.tensors = m.tensors.filter((t) => t.name !== 'mlp.1.norm.movingVariance');
    });
    await expectRefused(files, 'bad-shape', /tensor "mlp\.1\.norm\.movingVariance" is missing/);
  });

  it('a missing embedding table', async () => {
    const files = await withManifest(deep, (m) => {
      m.tensors = m.tensors.filter((t) => t.name !== 'embedding');
    });
    await expectRefused(files, 'bad-shape', /tensor "embedding" is missing/);
  });

  it('a wrong-shaped tensor with the right number of elements', async () => {
    const files = await withManifest(deep, (m) => {
      const bias = m.tensors.find((t) => t.name === 'linear');
      if (bias) bias.shape = [1, ROWS];
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "linear" has shape \[1,16\], expected \[16,1\]/,
    );
  });

  it('an embedding table of the wrong rank', async () => {
    const files = await withManifest(deep, (m) => {
      const table = m.tensors.find((t) => t.name === 'embedding');
      if (table) table.shape = [ROWS * DIM];
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "embedding" has shape \[64\], expected \[rows, dim\]/,
    );
  });

  it('a negative moving variance', async () => {
    const model = deepFm();
    const files = await build({
      ...model,
      weights: {
        ...model.weights,
        'mlp.0.norm.movingVariance': tf.tensor1d([1, 1, 1, -0.5, 1, 1, 1, 1]),
      },
    });
    await expectRefused(
      files,
      'bad-shape',
      /tensor "mlp\.0\.norm\.movingVariance" holds the negative variance -0\.5 at element 3/,
    );
  });

  it('an unknown model kind', async () => {
    const files = await withManifest(deep, (m) => {
      m.architecture.model = 'xdeepfm';
    });
    await expectRefused(
      files,
      'bad-manifest',
      /ctr-dense: architecture\.model "xdeepfm" is not one of fm, deepfm, dcnv2, dlrm/,
    );
  });

  it('an unknown CTR package kind', async () => {
    const files = await withManifest(deep, (m) => {
      m.kind = 'ctr-sparse';
    });
    const pkg = await read(files);
    expect(() => checkCtrStructure(pkg.manifest)).toThrow(
      /kind "ctr-sparse" is not a CTR model this reader knows/,
    );
    expect(() => checkModelStructure(pkg)).toThrow(ModelPackageError);
    expect(() => checkModelStructure(pkg)).toThrow(
      /not a model this pocketrec can load \(.*ctr-dense\)/,
    );
  });

  it('checkCtrPackage and checkModelStructure accept the unedited packages', async () => {
    for (const files of [deep, cross, mixture, dot]) {
      const pkg = await read(files);
      expect(checkCtrPackage(pkg).schema).toEqual(schema);
      expect(checkModelStructure(pkg)).toMatch(/^ctr-dense: (deepfm|dcnv2|dlrm) over 3 fields/);
    }
    expect(FIELDS).toBe(schema.fields.length);
  });
});
