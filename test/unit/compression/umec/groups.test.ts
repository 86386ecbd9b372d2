import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  flopsRatio,
  groupLayers,
  groupScores,
  keepHighest,
  prunedArchitecture,
  scaleGroups,
  umecModel,
} from '../../../../src/compression/umec/groups.ts';
import { UsageError } from '../../../../src/errors.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { ctrFlops } from '../../../../src/model/ctr/flops.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import type { CtrModel } from '../../../../src/model/ctr/model.ts';
import { schema } from '../../model/ctr/fixtures.ts';
import { DIM, matrix, rowsSquaredNorm, schemaOfFields, tinyDeepFm } from './helpers.ts';

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
    const bare = tinyDeepFm({ mlp: [], norm: 'none' });
    expect(() => umecModel(bare)).toThrow(/without one/);
    // Layer norm's statistics span the whole layer: removing units would change the others.
    expect(() => umecModel(tinyDeepFm({ norm: 'layer' }))).toThrow(/layer norm/);
  });

  it('groupLayers: the fields, then the hidden units of each layer', () => {
    expect(groupLayers(tinyDeepFm())).toEqual([
      { name: 'fields', kernel: 'mlp.0.kernel', groups: 3, rowsPerGroup: DIM },
      { name: 'mlp.0', kernel: 'mlp.1.kernel', groups: 8, rowsPerGroup: 1 },
      { name: 'mlp.1', kernel: 'output.kernel', groups: 6, rowsPerGroup: 1 },
    ]);
    expect(groupLayers(tinyDeepFm({ mlp: [5], dim: 2 }))).toEqual([
      { name: 'fields', kernel: 'mlp.0.kernel', groups: 3, rowsPerGroup: 2 },
      { name: 'mlp.0', kernel: 'output.kernel', groups: 5, rowsPerGroup: 1 },
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
