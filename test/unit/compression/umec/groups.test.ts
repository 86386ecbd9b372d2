import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  flopsRatio,
  groupElements,
  groupLayers,
  groupScores,
  keepHighest,
  pairIndex,
  prunedArchitecture,
  scaleGroups,
  umecModel,
} from '../../../../src/compression/umec/groups.ts';
import { UsageError } from '../../../../src/errors.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { upperTrianglePairs } from '../../../../src/model/ctr/dlrm.ts';
import { ctrFlops } from '../../../../src/model/ctr/flops.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import type { CtrModel } from '../../../../src/model/ctr/model.ts';
import { schema } from '../../model/ctr/fixtures.ts';
import { DIM, matrix, rowsSquaredNorm, schemaOfFields, tinyDeepFm, tinyDlrm } from './helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const KERNELS = ['mlp.0.kernel', 'mlp.1.kernel', 'output.kernel'];

describe('groups of a DeepFM', () => {
  it('umecModel takes a DeepFM with an MLP and refuses anything else', () => {
    const model = tinyDeepFm();
    expect(umecModel(model)).toBe(model);
    const fm: CtrModel = {
      kind: 'fm',
      config: { dim: DIM },
      schema,
      weights: initFmWeights({ dim: DIM }, schema, 1),
    };
    expect(() => umecModel(fm)).toThrow(UsageError);
    expect(() => umecModel(fm)).toThrow(/DeepFM and DLRM/);
    const bare = tinyDeepFm({ mlp: [], norm: 'none' });
    expect(() => umecModel(bare)).toThrow(/without one/);
    // Layer norm's statistics span the whole layer: removing units would change the others.
    expect(() => umecModel(tinyDeepFm({ norm: 'layer' }))).toThrow(/layer norm/);
  });

  it('groupLayers: the fields, then the hidden units of each layer', () => {
    const units = (n: number) => Array.from({ length: n }, (_, u) => [u]);
    expect(groupLayers(tinyDeepFm())).toEqual([
      {
        name: 'fields',
        kernel: 'mlp.0.kernel',
        groups: 3,
        rows: [
          [0, 1, 2, 3],
          [4, 5, 6, 7],
          [8, 9, 10, 11],
        ],
      },
      { name: 'mlp.0', kernel: 'mlp.1.kernel', groups: 8, rows: units(8) },
      { name: 'mlp.1', kernel: 'output.kernel', groups: 6, rows: units(6) },
    ]);
    expect(groupLayers(tinyDeepFm({ mlp: [5], dim: 2 }))).toEqual([
      {
        name: 'fields',
        kernel: 'mlp.0.kernel',
        groups: 3,
        rows: [
          [0, 1],
          [2, 3],
          [4, 5],
        ],
      },
      { name: 'mlp.0', kernel: 'output.kernel', groups: 5, rows: units(5) },
    ]);
  });

  it("groupElements: each group's rows times its kernel's columns", () => {
    const model = tinyDeepFm();
    // Fields: DIM rows of mlp.0's [3·DIM, 8]; mlp.0 units: a row of mlp.1's [8, 6]; mlp.1
    // units: a row of the output's [6, 1].
    expect(groupElements(model, groupLayers(model)).map((e) => Array.from(e))).toEqual([
      [DIM * 8, DIM * 8, DIM * 8],
      Array(8).fill(6),
      Array(6).fill(1),
    ]);
  });

  it('groupScores are the squared norms of each group of kernel rows', () => {
    const model = tinyDeepFm();
    const layers = groupLayers(model);
    const scores = groupScores(model.weights, layers);
    const k0 = matrix(model.weights, 'mlp.0.kernel');
    const k1 = matrix(model.weights, 'mlp.1.kernel');
    const out = matrix(model.weights, 'output.kernel');
    const expected = [
      [0, 1, 2].map((f) => rowsSquaredNorm(k0, f * DIM, (f + 1) * DIM)),
      Array.from({ length: 8 }, (_, u) => rowsSquaredNorm(k1, u, u + 1)),
      Array.from({ length: 6 }, (_, u) => rowsSquaredNorm(out, u, u + 1)),
    ];
    expect(scores.map((s) => s.length)).toEqual([3, 8, 6]);
    scores.forEach((layer, l) => {
      layer.forEach((v, g) => {
        const want = expected[l]![g]!;
        expect(Math.abs(v - want)).toBeLessThan(1e-5 * Math.max(1, want));
      });
    });
    // Not a column norm by mistake: a group of layer 1 is a row of mlp.1.kernel (6 values).
    expect(k1[0]!.length).toBe(6);
  });

  it('scaleGroups scales exactly the rows of the given groups', () => {
    const model = tinyDeepFm();
    const layers = groupLayers(model);
    const variables = Object.fromEntries(
      Object.entries(model.weights).map(([n, t]) => [n, tf.variable(t.clone(), true)]),
    );
    const before = Object.fromEntries(KERNELS.map((k) => [k, matrix(model.weights, k)]));
    // Fields: the genres block (rows 4..7) halves, age (rows 8..11) is zeroed.
    scaleGroups(variables, layers[0]!, Float32Array.from([1, 0.5, 0]));
    // mlp.0's units 2 and 7: rows 2 and 7 of mlp.1.kernel.
    const unitFactors = Float32Array.from([1, 1, 3, 1, 1, 1, 1, -2]);
    scaleGroups(variables, layers[1]!, unitFactors);
    const k0 = matrix(variables, 'mlp.0.kernel');
    k0.forEach((row, r) => {
      const factor = r < 4 ? 1 : r < 8 ? 0.5 : 0;
      row.forEach((v, c) => {
        expect(v).toBeCloseTo(before['mlp.0.kernel']![r]![c]! * factor, 6);
      });
      if (r < 4) expect(row).toEqual(before['mlp.0.kernel']![r]);
    });
    const k1 = matrix(variables, 'mlp.1.kernel');
    k1.forEach((row, r) => {
      const factor = unitFactors[r]!;
      row.forEach((v, c) => {
        expect(v).toBeCloseTo(before['mlp.1.kernel']![r]![c]! * factor, 6);
      });
      if (factor === 1) expect(row).toEqual(before['mlp.1.kernel']![r]);
    });
    // Nothing else moved.
    expect(matrix(variables, 'output.kernel')).toEqual(before['output.kernel']);
    for (const name of Object.keys(model.weights)) {
      if (name === 'mlp.0.kernel' || name === 'mlp.1.kernel') continue;
      expect(Array.from(variables[name]!.dataSync())).toEqual(
        Array.from(model.weights[name]!.dataSync()),
      );
    }
    expect(() =>
      scaleGroups(variables, { ...layers[0]!, kernel: 'nope' }, Float32Array.from([1, 1, 1])),
    ).toThrow(/nope/);
    tf.dispose(Object.values(variables));
  });

  it('keepHighest keeps all but the lowest-scored groups, ascending, ties by index', () => {
    expect(
      keepHighest(
        [
          [3, 1, 2],
          [5, 0, 5, 1, 9],
        ],
        [1, 2],
      ),
    ).toEqual([
      [0, 2],
      [0, 2, 4],
    ]);
    // A tie: the lower index goes first.
    expect(keepHighest([[2, 1, 1, 3]], [1])).toEqual([[0, 2, 3]]);
    expect(keepHighest([[2, 1, 1, 3]], [0])).toEqual([[0, 1, 2, 3]]);
  });

  it('prunedArchitecture keeps the chosen fields in order and the unit counts', () => {
    const model = tinyDeepFm();
    const { config, schema: pruned } = prunedArchitecture(model, [[0, 2], [1, 3, 4], [5]]);
    expect(config).toEqual({ ...model.config, mlp: [3, 1] });
    expect(pruned.fields.map((f) => f.name)).toEqual(['user', 'age']);
    expect(model.config.mlp).toEqual([8, 6]);
  });
});

describe('flopsRatio', () => {
  // Only the architecture matters here; built in the tests, after the backend is up.
  const arch = () => tinyDeepFm();
  const all = [
    [0, 1, 2],
    Array.from({ length: 8 }, (_, i) => i),
    Array.from({ length: 6 }, (_, i) => i),
  ];

  it('is 1 with every group kept', () => {
    const model = arch();
    expect(flopsRatio(model, all)).toBe(1);
  });

  it('counts by hand: user and age, 3 then 2 units', () => {
    const model = arch();
    // Dense, per row (flops.ts): slots 5, dim 4, 3 fields: pooling 5·4 + 4·5·3 = 80, first order 5,
    // FM 4 + 3·4 + 1 = 17, MLP 12·8 + 2·8 + 8·6 + 2·6 = 172 (batch norm: 2 a unit), output 6: 280.
    // Kept: no multi-valued field, so no pooling; first order 2, FM 4 + 2·4 + 1 = 13,
    // MLP 8·3 + 2·3 + 3·2 + 2·2 = 40, output 2: 57.
    expect(
      flopsRatio(model, [
        [0, 2],
        [0, 2, 5],
        [1, 3],
      ]),
    ).toBeCloseTo(57 / 280, 14);
    // Genres alone: pooling 3·4 + 4·3·1 = 24, first order 3, FM 9, MLP 4·8 + 16 + 60 = 108,
    // output 6: 150.
    expect(flopsRatio(model, [[1], all[1]!, all[2]!])).toBeCloseTo(150 / 280, 14);
  });

  it('is ctrFlops of the smaller architecture over the dense one', () => {
    const model = arch();
    const dense = ctrFlops({ kind: 'deepfm', config: model.config }, schema);
    expect(dense).toBe(280);
    const cases: [number[], number[], number[]][] = [
      [[1, 2], [7], [0, 1, 2, 3, 4]],
      [[0], [0, 1, 2, 3, 4, 5, 6], [2]],
      [[2], [3, 4], [0, 5]],
    ];
    for (const [fields, u0, u1] of cases) {
      const smaller = ctrFlops(
        { kind: 'deepfm', config: { ...model.config, mlp: [u0.length, u1.length] } },
        schemaOfFields(schema, fields),
      );
      expect(smaller).toBeLessThan(dense);
      expect(flopsRatio(model, [fields, u0, u1])).toBeCloseTo(smaller / dense, 14);
    }
  });

  it('follows the architecture: one layer norm layer of 5 at dim 2', () => {
    const model = tinyDeepFm({ mlp: [5], dim: 2, norm: 'layer' });
    // Dense: pooling 5·2 + 2·5·3 = 40, first order 5, FM 2 + 3·2 + 1 = 9, MLP 6·5 + 3·5 = 45
    // (layer norm: 3 a unit), output 5: 104. Kept age and 2 units: first order 1,
    // FM 2 + 2 + 1 = 5, MLP 2·2 + 3·2 = 10, output 2: 18.
    expect(ctrFlops({ kind: 'deepfm', config: model.config }, schema)).toBe(104);
    expect(flopsRatio(model, [[2], [1, 3]])).toBeCloseTo(18 / 104, 14);
  });
});

describe('groups of a DLRM', () => {
  // 3 fields of DIM 4: the field vectors are rows 0..11 of mlp.0.kernel; with 'dot' rows 12,
  // 13, 14 are <v_0, v_1>, <v_0, v_2>, <v_1, v_2> (i < j, row-major).
  const DOT_FIELDS = [
    [0, 1, 2, 3, 12, 13],
    [4, 5, 6, 7, 12, 14],
    [8, 9, 10, 11, 13, 14],
  ];
  const CAT_FIELDS = [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [8, 9, 10, 11],
  ];

  it('umecModel takes a DLRM with an MLP of either interaction, refuses one without, and layer norm', () => {
    for (const interaction of ['dot', 'cat'] as const) {
      const model = tinyDlrm({ interaction });
      expect(umecModel(model)).toBe(model);
    }
    expect(() => umecModel(tinyDlrm({ mlp: [], norm: 'none' }))).toThrow(/a DLRM without one/);
    expect(() => umecModel(tinyDlrm({ norm: 'layer' }))).toThrow(/DLRMs .*layer norm/);
  });

  it('pairIndex is the position in upperTrianglePairs, either order', () => {
    for (const F of [2, 3, 5, 7]) {
      const at = Array.from(upperTrianglePairs(F));
      for (let i = 0; i < F; i++) {
        for (let j = 0; j < F; j++) {
          if (i === j) continue;
          const [a, b] = i < j ? [i, j] : [j, i];
          expect(pairIndex(i, j, F)).toBe(at.indexOf(a * F + b));
        }
      }
    }
  });

  it("groupLayers: a field's rows are its vector's and, with 'dot', its dot products'", () => {
    const units = (n: number) => Array.from({ length: n }, (_, u) => [u]);
    const tail = [
      { name: 'mlp.0', kernel: 'mlp.1.kernel', groups: 8, rows: units(8) },
      { name: 'mlp.1', kernel: 'output.kernel', groups: 6, rows: units(6) },
    ];
    const dot = tinyDlrm();
    expect(dot.weights['mlp.0.kernel']?.shape).toEqual([3 * DIM + 3, 8]);
    expect(groupLayers(dot)).toEqual([
      { name: 'fields', kernel: 'mlp.0.kernel', groups: 3, rows: DOT_FIELDS },
      ...tail,
    ]);
    // Field 1: rows [DIM, 2 DIM) and the dot rows of the pairs (0, 1) and (1, 2).
    expect(groupLayers(dot)[0]!.rows[1]).toEqual([
      ...[0, 1, 2, 3].map((k) => DIM + k),
      3 * DIM + 0,
      3 * DIM + 2,
    ]);
    const cat = tinyDlrm({ interaction: 'cat' });
    expect(cat.weights['mlp.0.kernel']?.shape).toEqual([3 * DIM, 8]);
    expect(groupLayers(cat)).toEqual([
      { name: 'fields', kernel: 'mlp.0.kernel', groups: 3, rows: CAT_FIELDS },
      ...tail,
    ]);
  });

  it.each(['dot', 'cat'] as const)(
    "%s: groupScores are the squared norms of each group's rows, shared rows in both",
    (interaction) => {
      const model = tinyDlrm({ interaction });
      const scores = groupScores(model.weights, groupLayers(model));
      const k0 = matrix(model.weights, 'mlp.0.kernel');
      const k1 = matrix(model.weights, 'mlp.1.kernel');
      const out = matrix(model.weights, 'output.kernel');
      const fields = interaction === 'dot' ? DOT_FIELDS : CAT_FIELDS;
      const expected = [
        fields.map((rows) => rows.reduce((a, r) => a + rowsSquaredNorm(k0, r, r + 1), 0)),
        Array.from({ length: 8 }, (_, u) => rowsSquaredNorm(k1, u, u + 1)),
        Array.from({ length: 6 }, (_, u) => rowsSquaredNorm(out, u, u + 1)),
      ];
      expect(scores.map((s) => s.length)).toEqual([3, 8, 6]);
      scores.forEach((layer, l) => {
        layer.forEach((v, g) => {
          const want = expected[l]![g]!;
          expect(Math.abs(v - want)).toBeLessThan(1e-5 * Math.max(1, want));
        });
      });
    },
  );

  it('scaleGroups: a dot row shared by two groups takes both factors', () => {
    const model = tinyDlrm();
    const layers = groupLayers(model);
    const variables = Object.fromEntries(
      Object.entries(model.weights).map(([n, t]) => [n, tf.variable(t.clone(), true)]),
    );
    const before = matrix(model.weights, 'mlp.0.kernel');
    scaleGroups(variables, layers[0]!, Float32Array.from([1, 0.5, 3]));
    // Rows 0..3 x1, 4..7 x0.5, 8..11 x3; <v_0, v_1> x0.5, <v_0, v_2> x3, <v_1, v_2> x1.5.
    const factor = [...[1, 1, 1, 1], ...[0.5, 0.5, 0.5, 0.5], ...[3, 3, 3, 3], ...[0.5, 3, 1.5]];
    const after = matrix(variables, 'mlp.0.kernel');
    after.forEach((row, r) => {
      row.forEach((v, c) => {
        expect(v).toBeCloseTo(before[r]![c]! * factor[r]!, 5);
      });
    });
    // A field scaled to zero zeroes every dot row it is in.
    scaleGroups(variables, layers[0]!, Float32Array.from([0, 1, 1]));
    const zeroed = matrix(variables, 'mlp.0.kernel');
    for (const r of DOT_FIELDS[0]!) expect(zeroed[r]!.every((v) => v === 0)).toBe(true);
    expect(zeroed[14]!.some((v) => v !== 0)).toBe(true);
    for (const name of Object.keys(model.weights)) {
      if (name === 'mlp.0.kernel') continue;
      expect(Array.from(variables[name]!.dataSync())).toEqual(
        Array.from(model.weights[name]!.dataSync()),
      );
    }
    tf.dispose(Object.values(variables));
  });

  it('prunedArchitecture: a DLRM with the kept fields, the same interaction, fewer units', () => {
    const model = tinyDlrm();
    const pruned = prunedArchitecture(model, [[0, 2], [1, 3, 4], [5]]);
    expect(pruned.kind).toBe('dlrm');
    expect(pruned.config).toEqual({ ...model.config, mlp: [3, 1] });
    expect(pruned.config).toMatchObject({ interaction: 'dot' });
    expect(pruned.schema.fields.map((f) => f.name)).toEqual(['user', 'age']);
  });

  it('flopsRatio counts by hand: user and age, 3 then 2 units', () => {
    const kept = [
      [0, 2],
      [0, 2, 5],
      [1, 3],
    ];
    // 'dot', dense: pooling 5·4 + 4·5·3 = 80, Gram 3·3·4 = 36, MLP reads 12 + 3 = 15:
    // 15·8 + 2·8 + 8·6 + 2·6 = 196, output 6: 318. Kept: no pooling, Gram 2·2·4 = 16, MLP reads
    // 8 + 1 = 9: 9·3 + 2·3 + 3·2 + 2·2 = 43, output 2: 61.
    const dot = tinyDlrm();
    expect(ctrFlops(dot, schema)).toBe(318);
    expect(flopsRatio(dot, kept)).toBeCloseTo(61 / 318, 14);
    // 'cat', dense: 80, MLP 12·8 + 16 + 48 + 12 = 172, output 6: 258. Kept: MLP 8·3 + 6 + 6 + 4
    // = 40, output 2: 42.
    const cat = tinyDlrm({ interaction: 'cat' });
    expect(ctrFlops(cat, schema)).toBe(258);
    expect(flopsRatio(cat, kept)).toBeCloseTo(42 / 258, 14);
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    const all = [range(3), range(8), range(6)];
    expect(flopsRatio(dot, all)).toBe(1);
    // Against ctrFlops of the smaller DLRM.
    const smaller = ctrFlops(
      { kind: 'dlrm', config: { ...dot.config, mlp: [2, 6] } },
      schemaOfFields(schema, [1, 2]),
    );
    expect(flopsRatio(dot, [[1, 2], [0, 7], all[2]!])).toBeCloseTo(smaller / 318, 14);
  });
});
