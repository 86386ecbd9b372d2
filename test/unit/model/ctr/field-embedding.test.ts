import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DCNV2, initDcnv2Weights } from '../../../../src/model/ctr/dcnv2.ts';
import { DEFAULT_DEEPFM, initDeepFmWeights } from '../../../../src/model/ctr/deepfm.ts';
import { DEFAULT_DLRM, initDlrmWeights } from '../../../../src/model/ctr/dlrm.ts';
import {
  ctrBatch,
  embeddingElementIndex,
  embedFields,
  fieldLayout,
  lookupSlots,
} from '../../../../src/model/ctr/field-embedding.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import { type CtrModel, ctrForward, withEmbedding } from '../../../../src/model/ctr/model.ts';
import type { CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { rows, schema, tableValues } from './fixtures.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const DIM = 3;

function fieldsOf(table: number[][], select?: number[]): number[][][] {
  const batch = ctrBatch(schema, rows, select);
  const weights = { embedding: tf.tensor2d(table) };
  return embedFields(schema, weights, batch).arraySync();
}

describe('layout', () => {
  it('stacks the fields in schema order and numbers every element once', () => {
    const layout = fieldLayout(schema);
    expect(layout.offsets).toEqual([0, 5, 11]);
    expect(layout.totalRows).toBe(16);
    expect(layout.slotOffsets).toEqual([0, 1, 4]);
    expect(layout.numSlots).toBe(5);
    expect(embeddingElementIndex(layout, DIM, 1, 2, 1)).toBe((5 + 2) * DIM + 1);
    const all = new Set<number>();
    schema.fields.forEach((field, f) => {
      for (let id = 0; id < field.vocabularySize; id++) {
        for (let k = 0; k < DIM; k++) all.add(embeddingElementIndex(layout, DIM, f, id, k));
      }
    });
    expect([...all].sort((a, b) => a - b)).toEqual([...Array(16 * DIM).keys()]);
  });

  it('rejects a numeric field with fewer rows than buckets', () => {
    const bad: CtrSchema = {
      fields: [{ name: 'x', kind: 'numeric', vocabularySize: 3, boundaries: [1, 2] }],
    };
    expect(() => fieldLayout(bad)).toThrow(/4 buckets/);
  });
});

describe('batches', () => {
  it('gives global rows, pooling shares and labels, for a range or any rows', () => {
    const batch = ctrBatch(schema, rows, { start: 1, end: 3 });
    expect(batch.rows.arraySync()).toEqual([
      [4, 5 + 5, 5, 5, 11 + 0],
      [0, 5 + 3, 5 + 1, 5 + 4, 11 + 4],
    ]);
    const third = 1 / 3;
    expect(batch.poolWeights.arraySync()).toEqual([
      [1, 1, 0, 0, 1],
      [1, third, third, third, 1].map((v) => Math.fround(v)),
    ]);
    expect(batch.labels.arraySync()).toEqual([0, 0]);
    expect(ctrBatch(schema, rows, [3, 0]).labels.arraySync()).toEqual([1, 1]);
  });

  it('throws on an id outside its field rather than read a neighbour', () => {
    const bad = { ...rows, ids: [Int32Array.from([1, 5, 0, 2]), ...rows.ids.slice(1)] };
    expect(() => ctrBatch(schema, bad)).toThrow(/outside CTR field "user"/);
    const padded = { ...rows, ids: [Int32Array.from([1, -1, 0, 2]), ...rows.ids.slice(1)] };
    expect(() => ctrBatch(schema, padded)).toThrow(/outside/);
  });
});

describe('lookup', () => {
  const table = tableValues(16, DIM);

  it('mean-pools a multi-valued field over its present ids', () => {
    const fields = fieldsOf(table);
    const mean = (ids: number[]) =>
      [0, 1, 2].map(
        (k) => ids.reduce((s, id) => s + (table[5 + id]?.[k] as number), 0) / ids.length,
      );
    const genres = fields.map((row) => row[1] as number[]);
    [[1, 2], [5], [3, 1, 4]].forEach((ids, r) => {
      (genres[r] as number[]).forEach((v, k) => {
        expect(v).toBeCloseTo(mean(ids)[k] as number, 4);
      });
    });
  });

  it("reads id 0 from its own field's row 0, for every kind of field", () => {
    const fields = fieldsOf(table);
    expect(fields[2]?.[0]).toEqual(table[0]); // unseen user: user's row 0
    expect(fields[3]?.[1]).toEqual(table[5]); // no genre: genres' row 0, not user's
    expect(fieldsOf(table, [1])[0]?.[2]).toEqual(table[11]); // missing age: bucket 0
    expect(table[5]).not.toEqual(table[0]);
  });

  it('trains only the embedding rows a batch looked up, in every model', () => {
    const small = { dim: DIM, mlp: [5], dropout: 0 };
    const models: CtrModel[] = [
      { kind: 'fm', config: { dim: DIM }, schema, weights: initFmWeights({ dim: DIM }, schema, 1) },
      {
        kind: 'deepfm',
        config: { ...DEFAULT_DEEPFM, ...small },
        schema,
        weights: initDeepFmWeights({ ...DEFAULT_DEEPFM, ...small }, schema, 2),
      },
      {
        kind: 'dcnv2',
        config: { ...DEFAULT_DCNV2, ...small },
        schema,
        weights: initDcnv2Weights({ ...DEFAULT_DCNV2, ...small }, schema, 3),
      },
      {
        kind: 'dlrm',
        config: { ...DEFAULT_DLRM, ...small },
        schema,
        weights: initDlrmWeights({ ...DEFAULT_DLRM, ...small }, schema, 4),
      },
    ];
    const batch = ctrBatch(schema, rows, [0, 1]);
    for (const model of models) {
      const grad = tf.grad((table: tf.Tensor) =>
        ctrForward(withEmbedding(model, table as tf.Tensor2D), batch, { training: true }).sum(),
      )(model.weights.embedding!);
      const touched = (grad.arraySync() as number[][])
        .map((row, r) => (row.some((v) => v !== 0) ? r : -1))
        .filter((r) => r >= 0);
      // user 1, 4; genres 1, 2, 5; age buckets 2, 0. Genres' row 0 only padded, so untouched.
      expect(touched).toEqual([1, 4, 5 + 1, 5 + 2, 5 + 5, 11 + 0, 11 + 2]);
    }
  });

  it('runs from given slot vectors as from the table they came from', () => {
    const weights = { embedding: tf.randomNormal([16, DIM], 0, 1, 'float32', 4) as tf.Tensor2D };
    const batch = ctrBatch(schema, rows);
    const slots = lookupSlots(weights.embedding, batch);
    const direct = embedFields(schema, weights, batch).arraySync();
    expect(embedFields(schema, {}, batch, slots).arraySync()).toEqual(direct);
  });
});
