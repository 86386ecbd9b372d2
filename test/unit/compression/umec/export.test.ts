import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sliceModel } from '../../../../src/compression/umec/export.ts';
import type { KeptGroups, UmecModel } from '../../../../src/compression/umec/groups.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import type { DlrmInteraction } from '../../../../src/model/ctr/dlrm.ts';
import { ctrBatch } from '../../../../src/model/ctr/field-embedding.ts';
import type { Norm, Weights } from '../../../../src/model/ctr/layers.ts';
import { ctrForward } from '../../../../src/model/ctr/model.ts';
import { ctrFromPackage, ctrPackageSpec } from '../../../../src/model/ctr/package.ts';
import type { CtrRows, CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { readModelPackage } from '../../../../src/package/reader.ts';
import { memorySource } from '../../../../src/package/source.ts';
import { buildModelPackage } from '../../../../src/package/writer.ts';
import { rows as fixtureRows, schema } from '../../model/ctr/fixtures.ts';
import {
  DIM,
  FIELD_ROWS,
  matrix,
  randomRows,
  rowsOfFields,
  tinyDeepFm,
  tinyDlrm,
  vector,
} from './helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/** The fixture's four rows and 28 random ones. */
function allRows(): CtrRows {
  const extra = randomRows(28, 5);
  return {
    numRows: fixtureRows.numRows + extra.numRows,
    ids: fixtureRows.ids.map((ids, f) =>
      Int32Array.from([...ids, ...(extra.ids[f] as Int32Array)]),
    ),
    labels: Float32Array.from([...fixtureRows.labels, ...extra.labels]),
  };
}

function logits(model: UmecModel, rows: CtrRows): number[] {
  const batch = ctrBatch(model.schema, rows);
  const out = ctrForward(model, batch, { training: false });
  const values = Array.from(out.dataSync());
  tf.dispose([out, batch.rows, batch.poolWeights, batch.labels]);
  return values;
}

/**
 * The dense model with the removed groups zeroed where nothing can read them: a removed
 * field's table rows and (DeepFM) first-order weights (an all-zero field vector adds nothing
 * to FM or the MLP, and DLRM's dot products with it are zero too), a removed unit's row of
 * the next kernel.
 */
function zeroedReference(model: UmecModel, kept: KeptGroups): UmecModel {
  const [fields = [], ...units] = kept;
  const table = matrix(model.weights, 'embedding');
  const linear = model.kind === 'deepfm' ? matrix(model.weights, 'linear') : null;
  FIELD_ROWS.forEach(([start, end], f) => {
    if (fields.includes(f)) return;
    for (let r = start; r < end; r++) {
      table[r] = new Array(DIM).fill(0);
      if (linear) linear[r] = [0];
    }
  });
  const weights: Weights = {
    ...model.weights,
    embedding: tf.tensor2d(table),
    ...(linear ? { linear: tf.tensor2d(linear) } : {}),
  };
  model.config.mlp.forEach((width, i) => {
    const next = i + 1 < model.config.mlp.length ? `mlp.${i + 1}.kernel` : 'output.kernel';
    const k = matrix(model.weights, next);
    for (let u = 0; u < width; u++) if (!units[i]!.includes(u)) k[u] = k[u]!.map(() => 0);
    weights[next] = tf.tensor2d(k);
  });
  return { ...model, weights };
}

const pick = <T>(values: readonly T[], at: readonly number[]): T[] => at.map((i) => values[i] as T);
const tableRowsOf = (fields: readonly number[]) =>
  fields.flatMap((f) => {
    const [start, end] = FIELD_ROWS[f]!;
    return Array.from({ length: end - start }, (_, i) => start + i);
  });
const inputRowsOf = (fields: readonly number[]) =>
  fields.flatMap((f) => Array.from({ length: DIM }, (_, k) => f * DIM + k));

const CASES: [string, KeptGroups][] = [
  [
    'genres and 4 + 3 units gone',
    [
      [0, 2],
      [0, 2, 3, 6],
      [1, 2, 4],
    ],
  ],
  [
    'user (the first field) gone',
    [
      [1, 2],
      [1, 5, 7],
      [0, 5],
    ],
  ],
  ['one field, one unit each', [[2], [4], [3]]],
  [
    'nothing gone',
    [
      [0, 1, 2],
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3, 4, 5],
    ],
  ],
];

describe('sliceModel', () => {
  it.each(CASES)('%s: weights are the kept rows and columns, nothing else', (_, kept) => {
    const model = tinyDeepFm();
    const [fields, u0, u1] = kept as [number[], number[], number[]];
    const sliced = sliceModel(model, kept);
    const rowsKept = tableRowsOf(fields);
    expect(sliced.kind).toBe('deepfm');
    expect(sliced.config).toEqual({ ...model.config, mlp: [u0.length, u1.length] });
    expect(sliced.schema.fields).toEqual(pick(schema.fields, fields));
    expect(Object.keys(sliced.weights).sort()).toEqual(Object.keys(model.weights).sort());
    const w = sliced.weights;
    const shape = (n: string) => w[n]?.shape;
    const vocabulary = fields.reduce((a, f) => a + schema.fields[f]!.vocabularySize, 0);
    expect(rowsKept.length).toBe(vocabulary);
    expect(shape('embedding')).toEqual([vocabulary, DIM]);
    expect(shape('linear')).toEqual([vocabulary, 1]);
    expect(shape('bias')).toEqual([1]);
    expect(shape('mlp.0.kernel')).toEqual([fields.length * DIM, u0.length]);
    expect(shape('mlp.1.kernel')).toEqual([u0.length, u1.length]);
    expect(shape('output.kernel')).toEqual([u1.length, 1]);
    expect(shape('output.bias')).toEqual([1]);
    for (const [i, units] of [u0, u1].entries()) {
      for (const p of [
        'bias',
        'norm.gamma',
        'norm.beta',
        'norm.movingMean',
        'norm.movingVariance',
      ]) {
        expect(shape(`mlp.${i}.${p}`)).toEqual([units.length]);
        expect(vector(w, `mlp.${i}.${p}`)).toEqual(
          pick(vector(model.weights, `mlp.${i}.${p}`), units),
        );
      }
    }
    // Values: plain-JS picks of the dense weights.
    expect(matrix(w, 'embedding')).toEqual(pick(matrix(model.weights, 'embedding'), rowsKept));
    expect(matrix(w, 'linear')).toEqual(pick(matrix(model.weights, 'linear'), rowsKept));
    const k0 = pick(matrix(model.weights, 'mlp.0.kernel'), inputRowsOf(fields)).map((r) =>
      pick(r, u0),
    );
    expect(matrix(w, 'mlp.0.kernel')).toEqual(k0);
    const k1 = pick(matrix(model.weights, 'mlp.1.kernel'), u0).map((r) => pick(r, u1));
    expect(matrix(w, 'mlp.1.kernel')).toEqual(k1);
    expect(matrix(w, 'output.kernel')).toEqual(pick(matrix(model.weights, 'output.kernel'), u1));
    expect(vector(w, 'bias')).toEqual(vector(model.weights, 'bias'));
    expect(vector(w, 'output.bias')).toEqual(vector(model.weights, 'output.bias'));
    // No kept group is all zeros: every field block of mlp.0.kernel, every unit's next row.
    const s0 = matrix(w, 'mlp.0.kernel');
    for (const j of fields.keys()) {
      expect(s0.slice(j * DIM, (j + 1) * DIM).some((r) => r.some((v) => v !== 0))).toBe(true);
    }
    for (const next of ['mlp.1.kernel', 'output.kernel']) {
      for (const row of matrix(w, next)) expect(row.some((v) => v !== 0)).toBe(true);
    }
    // The dense model is left as it was.
    expect(model.weights.embedding?.shape).toEqual([16, DIM]);
    expect(model.weights['mlp.0.kernel']?.isDisposed).toBe(false);
  });

  const builders: [string, Norm, () => UmecModel][] = [
    ['DeepFM', 'batch', () => tinyDeepFm({ norm: 'batch' }, 11)],
    ['DeepFM', 'none', () => tinyDeepFm({ norm: 'none' }, 11)],
    ...(['dot', 'cat'] as DlrmInteraction[]).flatMap((interaction) =>
      (['batch', 'none'] as Norm[]).map((norm): [string, Norm, () => UmecModel] => [
        `DLRM ${interaction}`,
        norm,
        () => tinyDlrm({ interaction, norm }, 11),
      ]),
    ),
  ];

  it.each(builders)(
    '%s, %s norm: the sliced logits are the dense model with the removed groups zeroed',
    (_, __, build) => {
      const model = build();
      const rows = allRows();
      const dense = logits(model, rows);
      for (const [, kept] of CASES) {
        const sliced = sliceModel(model, kept);
        const got = logits(sliced, rowsOfFields(rows, kept[0]!));
        const want = logits(zeroedReference(model, kept), rows);
        expect(got.length).toBe(rows.numRows);
        got.forEach((v, i) => {
          expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5);
        });
        // The comparison has teeth: removing groups changes the logits.
        const moved = Math.max(...got.map((v, i) => Math.abs(v - dense[i]!)));
        if (kept[0]!.length < 3) expect(moved).toBeGreaterThan(1e-3);
        else if (kept[1]!.length === 8) expect(moved).toBeLessThan(1e-5);
      }
    },
  );

  it('layer norm: removing fields alone is exact', () => {
    const model = tinyDeepFm({ norm: 'layer' }, 11);
    const rows = allRows();
    const kept: KeptGroups = [
      [0, 2],
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3, 4, 5],
    ];
    const got = logits(sliceModel(model, kept), rowsOfFields(rows, kept[0]!));
    const want = logits(zeroedReference(model, kept), rows);
    got.forEach((v, i) => {
      expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5);
    });
  });

  it('a sliced model is a valid package that loads back to the same logits', async () => {
    const model = tinyDeepFm({}, 13);
    const rows = allRows();
    for (const [, kept] of CASES) {
      const sliced = sliceModel(model, kept);
      const spec = ctrPackageSpec(sliced, { name: 'umec-sliced', dataset: 'unit' });
      expect(spec.architecture.mlp).toEqual([kept[1]!.length, kept[2]!.length]);
      expect(spec.architecture.fieldNames).toEqual(kept[0]!.map((f) => schema.fields[f]!.name));
      const files = (await buildModelPackage(spec)).files;
      const loaded = ctrFromPackage(await readModelPackage(memorySource(files, 'pkg')));
      expect(loaded.kind).toBe('deepfm');
      if (loaded.kind !== 'deepfm') throw new Error('unreachable');
      expect(loaded.config).toEqual(sliced.config);
      expect(loaded.schema.fields.map((f) => f.name)).toEqual(
        sliced.schema.fields.map((f) => f.name),
      );
      const own = rowsOfFields(rows, kept[0]!);
      const a = logits(loaded, own);
      const b = logits(sliced, own);
      a.forEach((v, i) => {
        expect(v).toBeCloseTo(b[i]!, 6);
      });
    }
  });
});

/** The dot products of the fixture's 3 fields, in the model's order: i < j, row-major. */
const PAIRS: [number, number][] = [
  [0, 1],
  [0, 2],
  [1, 2],
];
/** mlp.0.kernel rows a DLRM of the kept fields reads, in its input order. */
const dlrmInputRowsOf = (fields: readonly number[], interaction: DlrmInteraction) => [
  ...inputRowsOf(fields),
  ...(interaction === 'dot'
    ? PAIRS.flatMap(([i, j], p) => (fields.includes(i) && fields.includes(j) ? [3 * DIM + p] : []))
    : []),
];

const INTERACTION_CASES = (['dot', 'cat'] as const).flatMap((interaction) =>
  CASES.map(([name, kept]) => [interaction, name, kept] as const),
);

describe('sliceModel of a DLRM', () => {
  it('keeps the dot products of kept pairs in their order: user and age keep <v_0, v_2> only', () => {
    expect(dlrmInputRowsOf([0, 2], 'dot')).toEqual([0, 1, 2, 3, 8, 9, 10, 11, 13]);
    expect(dlrmInputRowsOf([1, 2], 'dot')).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 14]);
    expect(dlrmInputRowsOf([0, 1, 2], 'dot')).toEqual([...inputRowsOf([0, 1, 2]), 12, 13, 14]);
    expect(dlrmInputRowsOf([2], 'dot')).toEqual([8, 9, 10, 11]);
  });

  it.each(INTERACTION_CASES)(
    '%s, %s: weights are the kept rows and columns, nothing else',
    (interaction, _, kept) => {
      const model = tinyDlrm({ interaction });
      const [fields, u0, u1] = kept as [number[], number[], number[]];
      const sliced = sliceModel(model, kept);
      expect(sliced.kind).toBe('dlrm');
      if (sliced.kind !== 'dlrm') throw new Error('unreachable');
      expect(sliced.config).toEqual({ ...model.config, mlp: [u0.length, u1.length] });
      expect(sliced.config.interaction).toBe(interaction);
      expect(sliced.schema.fields).toEqual(pick(schema.fields, fields));
      expect(Object.keys(sliced.weights).sort()).toEqual(Object.keys(model.weights).sort());
      expect(sliced.weights.linear).toBeUndefined();
      const w = sliced.weights;
      const rowsKept = tableRowsOf(fields);
      const input = dlrmInputRowsOf(fields, interaction);
      const pairs = interaction === 'dot' ? (fields.length * (fields.length - 1)) / 2 : 0;
      expect(input.length).toBe(fields.length * DIM + pairs);
      expect(w.embedding?.shape).toEqual([rowsKept.length, DIM]);
      expect(w['mlp.0.kernel']?.shape).toEqual([input.length, u0.length]);
      expect(matrix(w, 'embedding')).toEqual(pick(matrix(model.weights, 'embedding'), rowsKept));
      const k0 = pick(matrix(model.weights, 'mlp.0.kernel'), input).map((r) => pick(r, u0));
      expect(matrix(w, 'mlp.0.kernel')).toEqual(k0);
      const k1 = pick(matrix(model.weights, 'mlp.1.kernel'), u0).map((r) => pick(r, u1));
      expect(matrix(w, 'mlp.1.kernel')).toEqual(k1);
      expect(matrix(w, 'output.kernel')).toEqual(pick(matrix(model.weights, 'output.kernel'), u1));
      expect(vector(w, 'output.bias')).toEqual(vector(model.weights, 'output.bias'));
      for (const [i, units] of [u0, u1].entries()) {
        for (const p of [
          'bias',
          'norm.gamma',
          'norm.beta',
          'norm.movingMean',
          'norm.movingVariance',
        ]) {
          expect(vector(w, `mlp.${i}.${p}`)).toEqual(
            pick(vector(model.weights, `mlp.${i}.${p}`), units),
          );
        }
      }
    },
  );

  it("4 fields, 'dot': the kept dot products keep the row-major order of the kept fields", () => {
    // A fourth field (rows 16..19 of the table): dot rows 16..21 of mlp.0.kernel are
    // (0,1) (0,2) (0,3) (1,2) (1,3) (2,3). Keeping 0, 1 and 3 keeps rows 16, 18 and 20, which the
    // smaller model reads as its (0,1) (0,2) (1,2).
    const schema4: CtrSchema = {
      fields: [...schema.fields, { name: 'item', kind: 'categorical', vocabularySize: 4 }],
    };
    const model = tinyDlrm({}, 17, schema4);
    const base = allRows();
    const items = Int32Array.from({ length: base.numRows }, (_, r) => (r * 7) % 4);
    const rows: CtrRows = { ...base, ids: [...base.ids, items] };
    const vocabulary = [5, 6, 5, 4];
    const starts = [0, 5, 11, 16];
    for (const fields of [
      [0, 1, 3],
      [1, 2, 3],
      [0, 3],
    ]) {
      const kept: KeptGroups = [fields, [0, 1, 3, 4, 6], [0, 2, 3, 5]];
      const sliced = sliceModel(model, kept);
      const input = [
        ...fields.flatMap((f) => Array.from({ length: DIM }, (_, k) => f * DIM + k)),
        ...[
          [0, 1],
          [0, 2],
          [0, 3],
          [1, 2],
          [1, 3],
          [2, 3],
        ].flatMap(([i, j], p) => (fields.includes(i!) && fields.includes(j!) ? [16 + p] : [])),
      ];
      expect(matrix(sliced.weights, 'mlp.0.kernel')).toEqual(
        pick(matrix(model.weights, 'mlp.0.kernel'), input).map((r) => pick(r, kept[1]!)),
      );
      // Reference: the removed field's table rows and the removed units' next rows zeroed.
      const table = matrix(model.weights, 'embedding');
      for (let f = 0; f < 4; f++) {
        if (fields.includes(f)) continue;
        for (let r = starts[f]!; r < starts[f]! + vocabulary[f]!; r++) table[r] = [0, 0, 0, 0];
      }
      const weights: Weights = { ...model.weights, embedding: tf.tensor2d(table) };
      for (const [i, next] of ['mlp.1.kernel', 'output.kernel'].entries()) {
        weights[next] = tf.tensor2d(
          matrix(model.weights, next).map((row, u) =>
            kept[i + 1]!.includes(u) ? row : row.map(() => 0),
          ),
        );
      }
      const want = logits({ ...model, weights }, rows);
      const got = logits(sliced, rowsOfFields(rows, fields));
      got.forEach((v, i) => {
        expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5);
      });
    }
  });

  it.each(['dot', 'cat'] as DlrmInteraction[])(
    '%s: a sliced DLRM is a valid package that loads back to the same logits',
    async (interaction) => {
      const model = tinyDlrm({ interaction }, 13);
      const rows = allRows();
      for (const [, kept] of CASES) {
        const sliced = sliceModel(model, kept);
        const spec = ctrPackageSpec(sliced, { name: 'umec-sliced-dlrm', dataset: 'unit' });
        expect(spec.architecture.mlp).toEqual([kept[1]!.length, kept[2]!.length]);
        expect(spec.architecture.fieldNames).toEqual(kept[0]!.map((f) => schema.fields[f]!.name));
        const files = (await buildModelPackage(spec)).files;
        const loaded = ctrFromPackage(await readModelPackage(memorySource(files, 'pkg')));
        expect(loaded.kind).toBe('dlrm');
        if (loaded.kind !== 'dlrm') throw new Error('unreachable');
        expect(loaded.config).toEqual(sliced.config);
        const own = rowsOfFields(rows, kept[0]!);
        const a = logits(loaded, own);
        const b = logits(sliced, own);
        a.forEach((v, i) => {
          expect(v).toBeCloseTo(b[i]!, 6);
        });
      }
    },
  );
});
