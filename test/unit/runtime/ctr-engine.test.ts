// The engine's CTR scorer in Node on tfjs's WASM backend: rank answers with the same
// ctrForward the toolkit uses, for ctr-dense and ctr-pruned packages; a request a model's
// kind cannot answer, and a package without vocabularies, are typed errors.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ranking } from '../../../src/compression/shaver/prune.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../../src/model/ctr/deepfm.ts';
import { type CtrModel, initCtrModel } from '../../../src/model/ctr/model.ts';
import { ctrPackageSpec } from '../../../src/model/ctr/package.ts';
import {
  ctrFromPrunedPackage,
  ctrPrunedPackageSpec,
} from '../../../src/model/ctr/pruned-package.ts';
import type { CtrSchema } from '../../../src/model/ctr/schema.ts';
import { ctrProbabilities } from '../../../src/model/ctr/score.ts';
import { fitMarkov, markovPackageSpec } from '../../../src/model/markov.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';
import { CtrRequestEncoder } from '../../../src/runtime/ctr-request.ts';
import { Engine } from '../../../src/runtime/engine/engine.ts';

const schema: CtrSchema = {
  fields: [
    { name: 'user', kind: 'categorical', vocabularySize: 4, values: ['a', 'b', 'c'] },
    { name: 'tags', kind: 'multi', vocabularySize: 4, maxValues: 2, values: ['x', 'y', 'z'] },
    { name: 'price', kind: 'numeric', vocabularySize: 4, boundaries: [10, 20] },
  ],
};
const REQUEST = {
  context: { user: 'b' },
  candidates: [
    { tags: ['x'], price: 5 },
    { tags: ['y', 'z'], price: 15 },
    { tags: [], price: 25 },
    { tags: ['new'], price: 12 },
  ],
};
const OPTIONS = { backend: 'wasm', incremental: true, materialiseRows: 1_000 } as const;

let model: CtrModel;
const engines: Engine[] = [];

const packaged = async (spec: PackageSpec): Promise<ModelPackage> =>
  readModelPackage(memorySource((await buildModelPackage(spec)).files));

async function engineOf(pkg: ModelPackage): Promise<Engine> {
  const engine = await Engine.create(pkg, OPTIONS);
  engines.push(engine);
  return engine;
}

beforeAll(async () => {
  await useWasmBackend();
  model = initCtrModel(
    { kind: 'deepfm', config: { ...DEFAULT_DEEPFM, dim: 4, mlp: [6] } },
    schema,
    3,
  );
});

afterAll(() => {
  for (const engine of engines) engine.dispose();
  tf.dispose(Object.values(model.weights));
});

async function expectRuntimeError(promise: Promise<unknown>, code: string, message: RegExp) {
  await expect(promise).rejects.toMatchObject({ name: 'RuntimeError', code });
  await expect(promise).rejects.toThrow(message);
}

describe('Engine with a CTR model', () => {
  it('ctr-dense: rank gives ctrForward probabilities in candidate order, unknown values named', async () => {
    const engine = await engineOf(
      await packaged(ctrPackageSpec(model, { name: 'd', dataset: 'u' })),
    );
    await engine.warmUp();
    expect(engine.info()).toMatchObject({ kind: 'ctr-dense', scoring: 'ctr', numItems: 0 });
    const ranked = await engine.rank(REQUEST);
    const { rows } = new CtrRequestEncoder(schema).encode(REQUEST);
    const expected = await ctrProbabilities(model, rows);
    expect(Array.from(ranked.scores)).toEqual(Array.from(expected));
    expect(ranked.unknownContext).toEqual([]);
    expect(ranked.unknownByCandidate).toEqual([[], [], [], ['tags']]);
  });

  it('ctr-pruned: the pruned model, rebuilt from the package', async () => {
    const table = model.weights.embedding?.dataSync<'float32'>() ?? new Float32Array();
    const spec = await ctrPrunedPackageSpec(
      model,
      { ranking: ranking(Float32Array.from(table, Math.abs)), kept: 20 },
      'zero',
      { name: 'p', dataset: 'u' },
    );
    const pkg = await packaged(spec);
    const engine = await engineOf(pkg);
    const pruned = ctrFromPrunedPackage(pkg);
    const { rows } = new CtrRequestEncoder(pruned.schema).encode(REQUEST);
    const expected = await ctrProbabilities(pruned, rows);
    expect(Array.from((await engine.rank(REQUEST)).scores)).toEqual(Array.from(expected));
    tf.dispose(Object.values(pruned.weights));
  });

  it('recommend on a CTR model and rank on a next-item model are bad-request', async () => {
    const ctr = await engineOf(await packaged(ctrPackageSpec(model, { name: 'd', dataset: 'u' })));
    await expectRuntimeError(
      ctr.recommend({
        history: Int32Array.of(1),
        k: 1,
        exclude: new Int32Array(0),
        candidates: null,
        excludeSeen: true,
      }),
      'bad-request',
      /is a CTR model \(ctr-dense\): it ranks candidates/,
    );
    const markov = fitMarkov([Int32Array.of(1, 2, 3)], 3);
    const next = await engineOf(
      await packaged(markovPackageSpec(markov, { name: 'm', dataset: 'u' })),
    );
    await expectRuntimeError(next.rank(REQUEST), 'bad-request', /is a next-item model/);
  });

  it('a bad field is bad-field, naming the field and the candidate', async () => {
    const engine = await engineOf(
      await packaged(ctrPackageSpec(model, { name: 'd', dataset: 'u' })),
    );
    await expectRuntimeError(
      engine.rank({ context: { user: 'a' }, candidates: [{ tags: [], price: 1 }, { tags: [] }] }),
      'bad-field',
      /candidate 1: field "price" is missing/,
    );
  });

  it('refuses a CTR package written before vocabularies were packaged', async () => {
    const old: CtrSchema = { fields: schema.fields.map(({ values: _, ...field }) => field) };
    const pkg = await packaged(
      ctrPackageSpec({ ...model, schema: old }, { name: 'old', dataset: 'u' }),
    );
    const before = tf.memory().numTensors;
    await expectRuntimeError(
      Engine.create(pkg, OPTIONS),
      'bad-request',
      /no vocabulary for user, tags/,
    );
    // The weights it built before finding out are released.
    expect(tf.memory().numTensors).toBe(before);
  });
});
