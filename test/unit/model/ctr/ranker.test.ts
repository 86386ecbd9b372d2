// The ranker contract (src/model/ctr/ranker.ts): its file checked against the schema with a
// typed error naming what does not fit, the item table joined to a retrieval model's ids,
// the context encoded with unknown values reported, the attribution blocks laid out as the
// fusion reads them, and the final order: retrieval score + weight × logit, best first.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../../../src/model/ctr/deepfm.ts';
import { initCtrModel } from '../../../../src/model/ctr/model.ts';
import { ctrFromPackage, ctrPackageSpec } from '../../../../src/model/ctr/package.ts';
import {
  checkRanker,
  encodeRankerContext,
  logit,
  RANKER_FILE,
  type RankerSpec,
  rankerItemTable,
  readRanker,
  twoStageOrder,
  twoStageRows,
  withRanker,
} from '../../../../src/model/ctr/ranker.ts';
import type { CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { ModelPackageError } from '../../../../src/package/errors.ts';
import { readModelPackage } from '../../../../src/package/reader.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';

const categorical = (name: string, values: string[]) => ({
  name,
  kind: 'categorical' as const,
  vocabularySize: values.length + 1,
  values,
});

const schema: CtrSchema = {
  fields: [
    categorical('hour', ['7', '20']),
    categorical('device', ['mobile', 'desktop']),
    categorical('item', ['p1', 'p2', 'p3']),
    categorical('role', ['main', 'consumable']),
  ],
};

const ranker: RankerSpec = {
  candidates: 3,
  weight: 2,
  contextFields: ['hour', 'device'],
  itemIdField: 'item',
  itemFields: ['role'],
  items: ['p1', 'p2', 'p3', 'p4'],
  itemCodes: { role: [1, 2, 2, 1] },
};

const fail = (problem: string): never => {
  throw new Error(problem);
};

describe('the ranker file', () => {
  it('takes a ranker that covers every field once', () => {
    expect(checkRanker(JSON.parse(JSON.stringify(ranker)), schema, fail)).toEqual(ranker);
  });

  it('names what does not fit', () => {
    const bad = (change: Partial<RankerSpec> | Record<string, unknown>) => () =>
      checkRanker({ ...ranker, ...change }, schema, fail);
    expect(bad({ candidates: 0 })).toThrow(/"candidates" must be an integer from 1/);
    expect(bad({ weight: -1 })).toThrow(/"weight" must be a finite number >= 0/);
    expect(bad({ contextFields: ['hour'] })).toThrow(/field "device" of the model is neither/);
    expect(bad({ contextFields: ['hour', 'device', 'role'] })).toThrow(/"role" is named twice/);
    expect(bad({ itemFields: ['role', 'colour'] })).toThrow(/"colour" is not a field/);
    expect(bad({ itemCodes: { role: [1, 2, 3, 1] } })).toThrow(/gives item p3 id 3, outside 0..2/);
    expect(bad({ itemCodes: { role: [1, 2] } })).toThrow(/one id per item \(4\)/);
    expect(bad({ items: ['p1', 'p1', 'p2', 'p3'] })).toThrow(/lists an item twice/);
  });

  it('travels in a CTR package and is read back; a broken one is a typed error', async () => {
    await useWasmBackend();
    const model = initCtrModel(
      { kind: 'deepfm', config: { ...DEFAULT_DEEPFM, dim: 4, mlp: [8] } },
      schema,
      1,
    );
    const spec = withRanker(ctrPackageSpec(model, { name: 'r', dataset: 'test' }), ranker);
    tf.dispose(Object.values(model.weights));
    const built = await buildModelPackage(spec);
    const pkg = await readModelPackage(memorySource(built.files));
    expect(pkg.manifest.architecture.ranker).toBe(RANKER_FILE);
    const loaded = ctrFromPackage(pkg);
    expect(readRanker(pkg, loaded.schema)).toEqual(ranker);
    tf.dispose(Object.values(loaded.weights));

    const broken = await buildModelPackage({
      ...spec,
      attachments: new Map([
        ...(spec.attachments ?? []),
        [RANKER_FILE, new TextEncoder().encode('{"candidates": 3}')],
      ]),
    });
    const brokenPkg = await readModelPackage(memorySource(broken.files));
    expect(() => readRanker(brokenPkg, schema)).toThrow(ModelPackageError);
    expect(() => readRanker(brokenPkg, schema)).toThrow(/ranker\.json: "weight" must be/);
  });
});

describe('two-stage rows and order', () => {
  // Retrieval numbers its items differently from the ranker's table, and knows p9.
  const retrievalIds = ['p3', 'p1', 'p9', 'p2'];
  const table = rankerItemTable(ranker, schema, retrievalIds, retrievalIds.length);

  it('joins the item table to the retrieval ids', () => {
    expect(table.unknownRows).toBe(1);
    // Columns: hour and device are context (null), item ids from the vocabulary, role from the table.
    expect(table.columns[0]).toBeNull();
    expect(Array.from(table.columns[2] as Int32Array)).toEqual([0, 3, 1, 0, 2]);
    expect(Array.from(table.columns[3] as Int32Array)).toEqual([0, 2, 1, 0, 2]);
  });

  it('encodes the context, reporting unknown, missing and unread fields', () => {
    const context = encodeRankerContext(ranker, schema, { hour: '20', weekday: 'sat' });
    expect(Array.from(context.ids)).toEqual([2, 0, 0, 0]);
    expect(context.unknown).toEqual(['device']);
    expect(context.unread).toEqual(['weekday']);
    expect(encodeRankerContext(ranker, schema, { hour: 3, device: 'mobile' }).unknown).toEqual([
      'hour',
    ]);
  });

  it('lays out one block per context field made unknown', () => {
    const context = encodeRankerContext(ranker, schema, { hour: '7', device: 'desktop' });
    const rows = twoStageRows(ranker, schema, table, context, Int32Array.from([4, 1]), true);
    expect(rows.numRows).toBe(6);
    expect(Array.from(rows.ids[0] as Int32Array)).toEqual([1, 1, 0, 0, 1, 1]);
    expect(Array.from(rows.ids[1] as Int32Array)).toEqual([2, 2, 2, 2, 0, 0]);
    expect(Array.from(rows.ids[2] as Int32Array)).toEqual([2, 3, 2, 3, 2, 3]);
    expect(Array.from(rows.ids[3] as Int32Array)).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('orders by retrieval score + weight × logit and names the field that moved each item', () => {
    const candidates = Int32Array.from([4, 1, 2]);
    const retrieval = Float32Array.from([3, 2.5, 1]);
    // Full context, then hour unknown, then device unknown.
    const probabilities = Float32Array.from([0.2, 0.5, 0.9, 0.2, 0.5, 0.3, 0.25, 0.5, 0.85]);
    const order = twoStageOrder(ranker, schema, candidates, retrieval, probabilities);
    const expected = [0, 1, 2].map(
      (i) => (retrieval[i] as number) + 2 * logit(probabilities[i] as number),
    );
    expect(order.map((o) => o.row)).toEqual([2, 1, 4]);
    expect(order.map((o) => o.score)).toEqual([2, 1, 0].map((i) => expected[i]));
    expect(order.map((o) => [o.retrievalRank, o.rank])).toEqual([
      [2, 0],
      [1, 1],
      [0, 2],
    ]);
    // Item 2's probability fell from 0.9 to 0.3 without the hour: the hour raised it.
    expect(order[0]?.context?.field).toBe('hour');
    expect(order[0]?.context?.effect).toBeCloseTo(2 * (logit(0.9) - logit(0.3)), 5);
    // Item 4 (probability 0.2; 0.2 and 0.25 without one field each): the device lowered it.
    expect(order[2]?.context?.field).toBe('device');
    expect(order[2]?.context?.effect).toBeLessThan(0);
    // Without the attribution blocks there is no field to name; weight 0 is retrieval's order.
    const plain = twoStageOrder(
      { ...ranker, weight: 0 },
      schema,
      candidates,
      retrieval,
      probabilities.slice(0, 3),
    );
    expect(plain.map((o) => o.row)).toEqual([4, 1, 2]);
    expect(plain.every((o) => o.context === null)).toBe(true);
  });
});
