import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  keptCount,
  maskFromRanking,
  type PruneFill,
  prunedTable,
  ranking,
} from '../../../../src/compression/shaver/prune.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../../../src/model/ctr/deepfm.ts';
import { ctrBatch, fieldLayout } from '../../../../src/model/ctr/field-embedding.ts';
import {
  type CtrModel,
  ctrForward,
  initCtrModel,
  withEmbedding,
} from '../../../../src/model/ctr/model.ts';
import { ctrPackageSpec } from '../../../../src/model/ctr/package.ts';
import {
  type CtrPrunedOptions,
  checkPrunedHashes,
  chunkIndicesName,
  chunkValuesName,
  ctrFromPrunedPackage,
  ctrFromPrunedPrefix,
  ctrPrunedPackageSpec,
  decodePrunedTable,
  memoryRangeSource,
  type PruneSelection,
  readPrunedPrefix,
} from '../../../../src/model/ctr/pruned-package.ts';
import { checkModelStructure } from '../../../../src/model/package-structure.ts';
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
import { sizeFigures, tensorBytes } from '../../../../src/package/size.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';
import { seededRandom } from '../../../../src/random.ts';
import { randomRows, schema } from './fixtures.ts';

type Files = Map<string, Uint8Array>;

beforeAll(async () => {
  await useWasmBackend();
});

/** The fixture schema: user 5 + genres 6 + age 5 rows, at dim 16 (so CSR can win). */
const ROWS = 16;
const DIM = 16;
const TOTAL = ROWS * DIM;
const BUDGETS = [0.5, 0.8, 0.95, 0.99];

let model: CtrModel;
beforeAll(() => {
  model = initCtrModel(
    { kind: 'deepfm', config: { ...DEFAULT_DEEPFM, dim: DIM, mlp: [8, 6] } },
    schema,
    1,
  );
});
const table = (): Float32Array =>
  model.weights.embedding?.dataSync<'float32'>() ?? new Float32Array();

function randomValues(n: number, seed: number, levels = 0): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => {
    const v = random() * 2 - 1;
    return levels > 0 ? Math.round(v * levels) / levels : v;
  });
}

/** Synthetic Shapley values (with ties) and codebook. */
const scores = randomValues(TOTAL, 5, 20);
const codebook = randomValues(3 * DIM, 6);
const order = ranking(scores);

const probe = randomRows(64, 3);

function logits(m: CtrModel): Float32Array {
  return tf.tidy(() =>
    ctrForward(m, ctrBatch(m.schema, probe), { training: false }).dataSync<'float32'>(),
  );
}

/** The logits of the model pruned in memory to `kept` top elements: what every package must give. */
function directLogits(kept: number, fill: PruneFill): Float32Array {
  const mask = maskFromRanking(order, kept);
  const pruned = prunedTable(table(), mask, fill, fieldLayout(schema));
  return tf.tidy(() => logits(withEmbedding(model, tf.tensor2d(pruned, [ROWS, DIM]))));
}

async function build(
  selection: PruneSelection,
  fill: PruneFill,
  options: Partial<CtrPrunedOptions> = {},
): Promise<Files> {
  const spec = await ctrPrunedPackageSpec(model, selection, fill, {
    name: 'tiny-pruned',
    dataset: 'unit',
    ...options,
  });
  return (await buildModelPackage(spec)).files;
}

const read = (files: Files): Promise<ModelPackage> => readModelPackage(memorySource(files, 'pkg'));
const parse = (files: Files): Manifest =>
  JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;

async function reseal(files: Files, manifest: Manifest): Promise<Files> {
  const sealed = await sealManifest(manifest as UnsealedManifest);
  const out = new Map(files);
  out.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(sealed, null, 2)}\n`));
  return out;
}

/** The manifest edited, its size figures recomputed and re-sealed: only the kind's checks can catch it. */
async function withManifest(files: Files, edit: (m: Manifest) => void): Promise<Files> {
  const manifest = parse(files);
  edit(manifest);
  manifest.size = sizeFigures(manifest.tensors, {
    params: manifest.size.denseEquivalentParams,
    embeddingParams: manifest.size.denseEmbeddingBytes / 4,
  });
  return reseal(files, manifest);
}

/** A tensor's bytes edited in place and its file's hash updated: the package still verifies. */
async function withTensorBytes(
  files: Files,
  name: string,
  edit: (bytes: Uint8Array) => void,
): Promise<Files> {
  const manifest = parse(files);
  const entry = manifest.tensors.find((t) => t.name === name)!;
  const file = files.get(entry.file)!.slice();
  edit(file.subarray(entry.offset, entry.offset + tensorBytes(entry)));
  const out = new Map(files);
  out.set(entry.file, file);
  const listed = manifest.files.find((f) => f.path === entry.file)!;
  listed.sha256 = await sha256Hex(file);
  return reseal(out, manifest);
}

async function refusal(run: () => unknown): Promise<ModelPackageError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelPackageError);
    return error as ModelPackageError;
  }
  throw new Error('expected a ModelPackageError');
}

const denseBytes = async () =>
  (await buildModelPackage(ctrPackageSpec(model, { name: 'dense', dataset: 'unit' }))).manifest.size
    .bytes;

describe('ctr-pruned: bitmap and CSR', () => {
  const cases = BUDGETS.flatMap((s) =>
    (['auto', 'bitmap', 'csr'] as const).map((layout): [number, typeof layout] => [s, layout]),
  );

  it.each(cases)('sparsity %s, layout %s: the logits of pruning in memory', async (s, layout) => {
    const kept = keptCount(TOTAL, s);
    const files = await build({ mask: maskFromRanking(order, kept) }, codebook, {
      layout,
      method: 'shaver',
    });
    const pkg = await read(files); // the reader checks the size figures too
    const { manifest } = pkg;
    const chosen = layout === 'auto' ? (s < 0.9 ? 'bitmap' : 'csr') : layout;
    expect(manifest.kind).toBe('ctr-pruned');
    expect(manifest.architecture).toMatchObject({
      model: 'deepfm',
      dim: DIM,
      layout: chosen,
      fill: 'codebook',
      keptElements: kept,
      sparsity: 1 - kept / TOTAL,
      denseBytes: await denseBytes(),
      pruneMethod: 'shaver',
    });
    expect(manifest.tensors.some((t) => t.name === 'embedding')).toBe(false);
    const sparse = manifest.tensors.filter((t) => t.name.startsWith('embedding.'));
    expect(sparse.every((t) => t.role === 'item-embedding')).toBe(true);
    expect(manifest.size.embeddingBytes).toBe(sparse.reduce((n, t) => n + tensorBytes(t), 0));
    expect(manifest.size.denseEmbeddingBytes).toBe(4 * TOTAL);
    expect(manifest.size.denseEquivalentBytes).toBe(await denseBytes());
    expect(logits(ctrFromPrunedPackage(pkg))).toEqual(directLogits(kept, codebook));
    expect(checkModelStructure(pkg)).toBe(
      `ctr-pruned: deepfm over 3 fields, 16 embedding rows of dim 16, ${kept} of 256 elements kept (${chosen}, codebook fill), every tensor against the architecture, every position in range`,
    );
  });

  it.each(BUDGETS)('sparsity %s: auto stores the smaller of bitmap and CSR', async (s) => {
    const selection = { ranking: order, kept: keptCount(TOTAL, s) };
    const bytes = async (layout: 'auto' | 'bitmap' | 'csr') =>
      parse(await build(selection, codebook, { layout })).size.embeddingBytes;
    const [auto, bitmap, csr] = await Promise.all([bytes('auto'), bytes('bitmap'), bytes('csr')]);
    expect(auto).toBe(Math.min(bitmap, csr));
    expect(auto < Math.max(bitmap, csr)).toBe(true);
  });

  it('zero fill stores no codebook', async () => {
    const kept = keptCount(TOTAL, 0.8);
    const pkg = await read(await build({ ranking: order, kept }, 'zero'));
    expect(pkg.manifest.tensors.some((t) => t.name === 'embedding.codebook')).toBe(false);
    expect(pkg.manifest.architecture.fill).toBe('zero');
    expect(logits(ctrFromPrunedPackage(pkg))).toEqual(directLogits(kept, 'zero'));
    expect(logits(ctrFromPrunedPackage(pkg))).not.toEqual(directLogits(kept, codebook));
  });

  it.each([
    ['float16', 1e-3],
    ['int8', 1 / 127],
  ] as const)('%s values decode within their precision', async (dtype, tolerance) => {
    const kept = keptCount(TOTAL, 0.5);
    const files = await build({ ranking: order, kept }, codebook, { dtype, layout: 'bitmap' });
    const pkg = await read(files);
    expect(pkg.manifest.tensors.find((t) => t.name === 'embedding.values')?.dtype).toBe(dtype);
    const exact = prunedTable(table(), maskFromRanking(order, kept), codebook, fieldLayout(schema));
    const max = exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const decoded = decodePrunedTable(pkg).table;
    decoded.forEach((v, i) => {
      expect(Math.abs(v - (exact[i] as number))).toBeLessThanOrEqual(tolerance * max);
    });
  });
});

describe('ctr-pruned: the progressive layout', () => {
  const CHUNK = 20;
  const KEPT = 128; // 6 chunks of 20 and one of 8
  const progressive = () =>
    build({ ranking: order, kept: KEPT }, codebook, {
      layout: 'progressive',
      chunkElements: CHUNK,
    });

  /** Where chunk c ends in its file (all in weights-0.bin for this tiny model). */
  const chunkEnd = (manifest: Manifest, c: number): number => {
    const values = manifest.tensors.find((t) => t.name === chunkValuesName(c))!;
    return values.offset + tensorBytes(values);
  };

  it('states its chunks, and every prefix of c chunks is the model pruned to c x 20 elements', async () => {
    const files = await progressive();
    const pkg = await read(files);
    const { architecture } = pkg.manifest;
    expect(architecture).toMatchObject({ layout: 'progressive', chunkElements: CHUNK, chunks: 7 });
    expect(architecture.chunkSha256).toHaveLength(7);
    await checkPrunedHashes(pkg);
    expect(checkModelStructure(pkg)).toMatch(
      /128 of 256 elements kept \(progressive in 7 chunks of 20/,
    );
    const manifest = await parseManifest(files.get(MANIFEST_FILE)!);
    for (let c = 0; c <= 7; c++) {
      const expected = directLogits(Math.min(KEPT, c * CHUNK), codebook);
      expect(logits(ctrFromPrunedPackage(pkg, { prefixChunks: c }))).toEqual(expected);
      // Only a prefix of the weight file exists: the manifest's whole-file hash cannot hold.
      const cut = new Map(files);
      const end = c === 0 ? chunkEnd(manifest, 0) - 1 : chunkEnd(manifest, c - 1);
      cut.set('weights-0.bin', files.get('weights-0.bin')!.subarray(0, end));
      const requested: number[] = [];
      const source = memoryRangeSource(cut, 'cut');
      const counting = {
        ...source,
        readRange(path: string, start: number, stop: number) {
          requested.push(stop);
          return source.readRange(path, start, stop);
        },
      };
      const model = await ctrFromPrunedPrefix(manifest, counting, c);
      expect(logits(model)).toEqual(expected);
      expect(Math.max(...requested)).toBeLessThanOrEqual(end);
    }
    expect(logits(ctrFromPrunedPackage(pkg))).toEqual(directLogits(KEPT, codebook));
    expect(() => ctrFromPrunedPackage(pkg, { prefixChunks: 8 })).toThrow(/cannot take 8 chunks/);
  });

  it('a truncated chunk is a typed error naming it; the chunks before it still load', async () => {
    const files = await progressive();
    const manifest = await parseManifest(files.get(MANIFEST_FILE)!);
    const cut = new Map(files);
    cut.set('weights-0.bin', files.get('weights-0.bin')!.subarray(0, chunkEnd(manifest, 3) - 3));
    const source = memoryRangeSource(cut, 'cut');
    expect(logits(await ctrFromPrunedPrefix(manifest, source, 3))).toEqual(
      directLogits(60, codebook),
    );
    const error = await refusal(() => readPrunedPrefix(manifest, source, 5));
    expect(error.code).toBe('truncated');
    expect(error.file).toBe('cut/weights-0.bin');
    expect(error.message).toMatch(/chunk 3 is cut short: tensor "embedding\.chunk\.3\.values"/);
    // The whole-package reader sees a truncated file.
    expect((await refusal(() => read(cut))).code).toBe('truncated');
  });

  it('a tampered chunk or head is a hash mismatch naming it', async () => {
    const files = await progressive();
    const manifest = await parseManifest(files.get(MANIFEST_FILE)!);
    const at = chunkEnd(manifest, 2) - 1;
    const tampered = new Map(files);
    const bytes = files.get('weights-0.bin')!.slice();
    bytes[at] = (bytes[at] as number) ^ 0x01;
    tampered.set('weights-0.bin', bytes);
    const source = memoryRangeSource(tampered, 'bad');
    await readPrunedPrefix(manifest, source, 2);
    const error = await refusal(() => readPrunedPrefix(manifest, source, 3));
    expect(error.code).toBe('hash-mismatch');
    expect(error.message).toMatch(/^bad\/weights-0\.bin: chunk 2: SHA-256/);
    expect((await refusal(() => read(tampered))).code).toBe('hash-mismatch');

    const head = files.get('weights-0.bin')!.slice();
    head[0] = (head[0] as number) ^ 0x01;
    const headSource = memoryRangeSource(new Map([...files, ['weights-0.bin', head]]), 'bad');
    const headError = await refusal(() => readPrunedPrefix(manifest, headSource, 0));
    expect(headError.code).toBe('hash-mismatch');
    expect(headError.message).toMatch(/the head \(every tensor but the chunks\)/);
  });

  it('chunk hashes that disagree with whole files that verify are refused by checkPrunedHashes', async () => {
    const files = await withManifest(await progressive(), (m) => {
      const hashes = m.architecture.chunkSha256;
      if (!Array.isArray(hashes)) throw new Error('no chunk hashes');
      m.architecture.chunkSha256 = hashes.map((h, i) => (i === 4 ? '0'.repeat(64) : String(h)));
    });
    const pkg = await read(files);
    const error = await refusal(() => checkPrunedHashes(pkg));
    expect(error.code).toBe('hash-mismatch');
    expect(error.message).toMatch(/chunk 4/);
  });

  it('needs a ranking, and a bitmap package has no prefix', async () => {
    await expect(
      build({ mask: maskFromRanking(order, 10) }, codebook, { layout: 'progressive' }),
    ).rejects.toThrow(/pass a ranking/);
    const files = await build({ mask: maskFromRanking(order, 10) }, codebook, { layout: 'bitmap' });
    const manifest = await parseManifest(files.get(MANIFEST_FILE)!);
    const error = await refusal(() => readPrunedPrefix(manifest, memoryRangeSource(files), 1));
    expect(error.code).toBe('bad-manifest');
  });
});

describe('ctr-pruned: structure and positions refused before any tensor is built', () => {
  /** Refused by the loader and by checkModelStructure, fast and with no tensor made. */
  async function expectRefused(files: Files, problem: RegExp): Promise<void> {
    const pkg = await read(files);
    for (const load of [(p: ModelPackage) => ctrFromPrunedPackage(p), checkModelStructure]) {
      const tensors = tf.memory().numTensors;
      const started = performance.now();
      const error = await refusal(() => load(pkg));
      expect(performance.now() - started).toBeLessThan(200);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(error.code).toBe('bad-shape');
      expect(error.message).toMatch(problem);
    }
  }
  const bitmap = () => build({ ranking: order, kept: 128 }, codebook, { layout: 'bitmap' });
  const csr = () => build({ ranking: order, kept: 10 }, codebook, { layout: 'csr' });
  const progressive = () =>
    build({ ranking: order, kept: 128 }, codebook, { layout: 'progressive', chunkElements: 20 });

  it('architecture numbers that disagree with the tensors', async () => {
    const set = (key: string, value: number | string) => (m: Manifest) => {
      m.architecture[key] = value;
    };
    await expectRefused(
      await withManifest(await progressive(), set('chunks', 6)),
      /architecture\.chunks is 6, the package has 7/,
    );
    await expectRefused(
      await withManifest(await progressive(), set('chunkElements', 19)),
      /chunk 0 holds 20 elements; chunks hold 1 to 19/,
    );
    await expectRefused(
      await withManifest(await bitmap(), set('keptElements', 127)),
      /keptElements is 127, the tensors hold 128/,
    );
    await expectRefused(
      await withManifest(await bitmap(), set('sparsity', 0.4)),
      /sparsity is 0\.4/,
    );
    await expectRefused(
      await withManifest(await bitmap(), set('denseBytes', 1)),
      /denseBytes is 1/,
    );
    await expectRefused(
      await withManifest(await bitmap(), set('layout', 'csr')),
      /"embedding\.rowCounts" is missing/,
    );
    await expectRefused(
      await withManifest(await bitmap(), set('fill', 'zero')),
      /"embedding\.codebook" is not part of this model/,
    );
    await expectRefused(
      await withManifest(await progressive(), (m) => {
        m.architecture.vocabularySizes = [2 ** 24, 6, 5];
      }),
      /over the 16777216/,
    );
    await expectRefused(
      await withManifest(await bitmap(), (m) => {
        const entry = m.tensors.find((t) => t.name === 'embedding.bitmap')!;
        entry.shape = [16, 1];
      }),
      /1 bytes wide, dim 16 needs 2/,
    );
  });

  it('positions out of range, in the wrong order or twice', async () => {
    await expectRefused(
      await withTensorBytes(await bitmap(), 'embedding.bitmap', (b) => {
        b[0] = (b[0] as number) ^ 0xff;
      }),
      /embedding\.bitmap: the bitmap marks \d+ elements, 128 values are stored/,
    );
    await expectRefused(
      await withTensorBytes(await csr(), 'embedding.columns', (b) => {
        b[0] = 16;
      }),
      /the CSR positions: row \d+: column 16 is not ascending within 0\.\.15/,
    );
    await expectRefused(
      await withTensorBytes(await csr(), 'embedding.rowCounts', (b) => {
        b[0] = 17;
      }),
      /row 0 keeps 17 elements, more than dim 16/,
    );
    await expectRefused(
      await withTensorBytes(await progressive(), chunkIndicesName(0), (b) => {
        b[b.length - 1] = 0x7f;
      }),
      /chunk 0: index 19 is \d+, past the table's 256 elements/,
    );
    // Chunk 1's indices replaced by chunk 0's: the same elements twice.
    const spec = await ctrPrunedPackageSpec(model, { ranking: order, kept: 128 }, codebook, {
      name: 'twice',
      dataset: 'unit',
      layout: 'progressive',
      chunkElements: 20,
    });
    const first = spec.tensors.find((t) => t.name === chunkIndicesName(0))!;
    const second = spec.tensors.find((t) => t.name === chunkIndicesName(1))!;
    Object.assign(second, { data: first.data, shape: first.shape });
    await expectRefused(
      (await buildModelPackage(spec)).files,
      /chunk 1: element \d+ is stored in an earlier chunk too/,
    );
  });
});
