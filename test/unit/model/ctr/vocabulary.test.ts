// The vocabulary a CTR package ships (vocabulary.json): written by both package kinds, read
// back into the schema by both readers (and the progressive prefix reader), refused with a
// typed error when it does not fit the schema, and simply absent from older packages.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ranking } from '../../../../src/compression/shaver/prune.ts';
import { PocketrecError } from '../../../../src/errors.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../../../src/model/ctr/deepfm.ts';
import { type CtrModel, initCtrModel } from '../../../../src/model/ctr/model.ts';
import { ctrFromPackage, ctrPackageSpec } from '../../../../src/model/ctr/package.ts';
import {
  type CtrPrunedOptions,
  ctrFromPrunedPackage,
  ctrFromPrunedPrefix,
  ctrPrunedPackageSpec,
  memoryRangeSource,
} from '../../../../src/model/ctr/pruned-package.ts';
import type { CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { VOCABULARY_FILE } from '../../../../src/model/ctr/vocabulary.ts';
import { sha256Hex } from '../../../../src/package/digest.ts';
import { ModelPackageError } from '../../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  parseManifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../../src/package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../../../../src/package/reader.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';
import { schema as plainSchema } from './fixtures.ts';

type Files = Map<string, Uint8Array>;

const USERS = ['u1', 'u2', '42', 'ünïcode "quoted"'];
const GENRES = ['Drama', 'Comedy', 'Horror', "Children's", 'Sci-Fi'];
const schema: CtrSchema = {
  fields: plainSchema.fields.map((field) =>
    field.name === 'user'
      ? { ...field, values: USERS }
      : field.name === 'genres'
        ? { ...field, values: GENRES }
        : field,
  ),
};
const META = { name: 'vocabulary-test', dataset: 'unit' };

let model: CtrModel;
beforeAll(async () => {
  await useWasmBackend();
  model = initCtrModel(
    { kind: 'deepfm', config: { ...DEFAULT_DEEPFM, dim: 8, mlp: [4] } },
    schema,
    1,
  );
});

const read = (files: Files): Promise<ModelPackage> => readModelPackage(memorySource(files, 'pkg'));
const parse = (files: Files): Manifest =>
  JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
const valuesOf = (m: CtrModel) => m.schema.fields.map((f) => f.values);

async function densePackage(of: CtrModel = model): Promise<Files> {
  return (await buildModelPackage(ctrPackageSpec(of, META))).files;
}

async function prunedPackage(options: Partial<CtrPrunedOptions> = {}): Promise<Files> {
  const table = model.weights.embedding?.dataSync<'float32'>() ?? new Float32Array();
  const order = ranking(Float32Array.from(table, Math.abs));
  const selection = { ranking: order, kept: Math.floor(table.length / 4) };
  const spec = await ctrPrunedPackageSpec(model, selection, 'zero', { ...META, ...options });
  return (await buildModelPackage(spec)).files;
}

/** The package with vocabulary.json replaced and its hash and the manifest sealed again. */
async function withVocabulary(files: Files, text: string): Promise<Files> {
  const bytes = new TextEncoder().encode(text);
  const manifest = parse(files);
  const sha256 = await sha256Hex(bytes);
  manifest.files = manifest.files.map((f) =>
    f.path === VOCABULARY_FILE ? { ...f, bytes: bytes.byteLength, sha256 } : f,
  );
  return withManifest(new Map([...files, [VOCABULARY_FILE, bytes]]), manifest);
}

async function withManifest(files: Files, manifest: Manifest): Promise<Files> {
  const { manifestSha256: _, ...unsealed } = manifest;
  const sealed = await sealManifest(unsealed as UnsealedManifest);
  const text = `${JSON.stringify(sealed, null, 2)}\n`;
  return new Map([...files, [MANIFEST_FILE, new TextEncoder().encode(text)]]);
}

function disposeModel(m: CtrModel): void {
  tf.dispose(Object.values(m.weights));
}

describe('CTR vocabularies in packages', () => {
  it('ctr-dense: written as a hashed file named by the architecture, read back into the schema', async () => {
    const files = await densePackage();
    const manifest = parse(files);
    expect(manifest.architecture.vocabulary).toBe(VOCABULARY_FILE);
    expect(manifest.files.map((f) => f.path)).toContain(VOCABULARY_FILE);
    const loaded = ctrFromPackage(await read(files));
    expect(valuesOf(loaded)).toEqual([USERS, GENRES, undefined]);
    disposeModel(loaded);
  });

  it.each(['bitmap', 'csr', 'progressive'] as const)(
    'ctr-pruned (%s): the same vocabulary',
    async (layout) => {
      const files = await prunedPackage({ layout, chunkElements: 8 });
      const loaded = ctrFromPrunedPackage(await read(files));
      expect(valuesOf(loaded)).toEqual([USERS, GENRES, undefined]);
      disposeModel(loaded);
    },
  );

  it('a progressive prefix read as ranges brings the vocabulary, checked by its file hash', async () => {
    const files = await prunedPackage({ layout: 'progressive', chunkElements: 8 });
    const manifest = await parseManifest(files.get(MANIFEST_FILE) as Uint8Array);
    const prefix = await ctrFromPrunedPrefix(manifest, memoryRangeSource(files), 1);
    expect(valuesOf(prefix)).toEqual([USERS, GENRES, undefined]);
    disposeModel(prefix);
    const corrupt = new Map(files);
    corrupt.set(
      VOCABULARY_FILE,
      new TextEncoder().encode('{"user":[]}'.padEnd(files.get(VOCABULARY_FILE)?.byteLength ?? 0)),
    );
    await expect(
      ctrFromPrunedPrefix(manifest, memoryRangeSource(corrupt), 1),
    ).rejects.toMatchObject({
      code: 'hash-mismatch',
    });
  });

  it('a schema without values writes no vocabulary, and such a package still loads', async () => {
    const plain = initCtrModel({ kind: 'fm', config: { dim: 4 } }, plainSchema, 2);
    const files = await densePackage(plain);
    expect(parse(files).architecture.vocabulary).toBeUndefined();
    expect([...files.keys()]).not.toContain(VOCABULARY_FILE);
    const loaded = ctrFromPackage(await read(files));
    expect(valuesOf(loaded)).toEqual([undefined, undefined, undefined]);
    disposeModel(plain);
    disposeModel(loaded);
  });

  it.each([
    ['values for some fields only', [USERS, undefined], /fields genres have no values/],
    ['a duplicate value', [['a', 'b', 'a', 'c'], GENRES], /value "a" is listed twice/],
    ['too few values', [['a'], GENRES], /has 1 values for 4 ids/],
  ])('the writer refuses %s', (_, [users, genres], message) => {
    const bad: CtrSchema = {
      fields: [
        { ...(schema.fields[0] as CtrSchema['fields'][number]), values: users },
        { ...(schema.fields[1] as CtrSchema['fields'][number]), values: genres },
        schema.fields[2] as CtrSchema['fields'][number],
      ],
    };
    const error = (() => {
      try {
        ctrPackageSpec({ ...model, schema: bad }, META);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('bad-vocabulary');
    expect((error as Error).message).toMatch(message);
  });

  const genres = JSON.stringify(GENRES);
  it.each([
    [
      'too few values',
      `{"user":["u1","u2","42"],"genres":${genres}}`,
      /"user" has 3 values for 4 ids/,
    ],
    [
      'a duplicate value',
      `{"user":["u1","u1","42","x"],"genres":${genres}}`,
      /"u1" is listed twice/,
    ],
    [
      'a value that is not a string',
      `{"user":["u1","u2",42,"x"],"genres":${genres}}`,
      /id 3 is not a string/,
    ],
    ['a missing field', `{"user":["u1","u2","42","x"]}`, /no values for field "genres"/],
    [
      'a field without values',
      `{"user":["a","b","c","d"],"genres":${genres},"age":["1"]}`,
      /lists "age", not a field with values/,
    ],
    [
      'a key twice',
      `{"user":["a","b","c","d"],"genres":${genres},"user":["a","b","c","e"]}`,
      /appears twice/,
    ],
    ['a list instead of an object', `[${genres}]`, /one object of field names/],
    ['text that is not JSON', '{"user": [', /not valid UTF-8 JSON/],
  ])(
    'the reader refuses a vocabulary with %s (bad-shape), in both kinds',
    async (_, text, message) => {
      for (const files of [await densePackage(), await prunedPackage({ layout: 'bitmap' })]) {
        const pkg = await read(await withVocabulary(files, text));
        const load = pkg.manifest.kind === 'ctr-pruned' ? ctrFromPrunedPackage : ctrFromPackage;
        let error: unknown = null;
        try {
          load(pkg);
        } catch (e) {
          error = e;
        }
        expect(error, pkg.manifest.kind).toBeInstanceOf(ModelPackageError);
        expect((error as ModelPackageError).code).toBe('bad-shape');
        expect((error as Error).message).toMatch(message);
      }
    },
  );

  it('refuses an architecture.vocabulary that names a weight file or no file', async () => {
    const files = await densePackage();
    for (const path of ['weights-0.bin', 'nowhere.json']) {
      const manifest = parse(files);
      manifest.architecture.vocabulary = path;
      const pkg = await read(await withManifest(files, manifest));
      expect(() => ctrFromPackage(pkg)).toThrow(
        /architecture.vocabulary must name a file of the package that holds no tensor/,
      );
    }
  });
});
