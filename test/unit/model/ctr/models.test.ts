import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import {
  type Dcnv2Config,
  DEFAULT_DCNV2,
  dcnv2WeightShapes,
  initDcnv2Weights,
} from '../../../../src/model/ctr/dcnv2.ts';
import {
  DEFAULT_DEEPFM,
  type DeepFmConfig,
  deepFmWeightShapes,
  initDeepFmWeights,
} from '../../../../src/model/ctr/deepfm.ts';
import {
  DEFAULT_DLRM,
  type DlrmConfig,
  dlrmWeightShapes,
  initDlrmWeights,
  upperTrianglePairs,
} from '../../../../src/model/ctr/dlrm.ts';
import { ctrBatch, embedFields, firstOrder } from '../../../../src/model/ctr/field-embedding.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import { isMovingStatistic, movingStatisticsUpdater } from '../../../../src/model/ctr/layers.ts';
import { type CtrModel, ctrForward } from '../../../../src/model/ctr/model.ts';
import { rows, schema } from './fixtures.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const deepFm = (over: Partial<DeepFmConfig> = {}): CtrModel => {
  const config = { ...DEFAULT_DEEPFM, dim: 4, mlp: [8, 6], dropout: 0.5, ...over };
  return { kind: 'deepfm', config, schema, weights: initDeepFmWeights(config, schema, 2) };
};

const dcnv2 = (over: Partial<Dcnv2Config> = {}): CtrModel => {
  const config = { ...DEFAULT_DCNV2, dim: 4, mlp: [8, 6], dropout: 0.5, ...over };
  return { kind: 'dcnv2', config, schema, weights: initDcnv2Weights(config, schema, 3) };
};

const dlrm = (over: Partial<DlrmConfig> = {}): CtrModel => {
  const config = { ...DEFAULT_DLRM, dim: 4, mlp: [8, 6], dropout: 0.5, ...over };
  return { kind: 'dlrm', config, schema, weights: initDlrmWeights(config, schema, 4) };
};

const fm = (): CtrModel => {
  const config = { dim: 4 };
  return { kind: 'fm', config, schema, weights: initFmWeights(config, schema, 1) };
};

const variants: [string, () => CtrModel][] = [
  ['fm', fm],
  ['deepfm, batch norm', () => deepFm()],
  ['deepfm, layer norm', () => deepFm({ norm: 'layer' })],
  ['deepfm, no norm, no mlp', () => deepFm({ norm: 'none', mlp: [] })],
  ['dcnv2, parallel', () => dcnv2()],
  ['dcnv2, stacked', () => dcnv2({ structure: 'stacked' })],
  ['dcnv2, mixture', () => dcnv2({ cross: { kind: 'mixture', rank: 2, experts: 3 } })],
  ['dcnv2, cross only', () => dcnv2({ mlp: [] })],
  ['dlrm, dot', () => dlrm()],
  ['dlrm, cat', () => dlrm({ interaction: 'cat' })],
  ['dlrm, dot, layer norm', () => dlrm({ norm: 'layer' })],
  ['dlrm, dot, no top mlp', () => dlrm({ norm: 'none', mlp: [] })],
];

describe('forward', () => {
  it.each(variants)('%s: one finite logit per row, in training and not', (_, make) => {
    const model = make();
    const batch = ctrBatch(schema, rows);
    for (const training of [false, true]) {
      const logits = ctrForward(model, batch, { training, seed: 1 });
      expect(logits.shape).toEqual([4]);
      expect(logits.arraySync().every(Number.isFinite)).toBe(true);
    }
  });

  it('weights are named and shaped as the shape lists say', () => {
    const d = deepFm();
    if (d.kind !== 'deepfm') throw new Error('unreachable');
    const shapes = deepFmWeightShapes(d.config, schema);
    expect(Object.keys(d.weights)).toEqual(shapes.map(([n]) => n));
    for (const [name, shape] of shapes) expect(d.weights[name]?.shape).toEqual(shape);
    expect(d.weights.embedding?.shape).toEqual([16, 4]);
    expect(d.weights['mlp.0.kernel']?.shape).toEqual([12, 8]);
    expect(d.weights['output.kernel']?.shape).toEqual([6, 1]);
    const c = dcnv2();
    if (c.kind !== 'dcnv2') throw new Error('unreachable');
    expect(dcnv2WeightShapes(c.config, schema).map(([n]) => n)).toContain('cross.2.kernel');
    expect(c.weights['cross.0.kernel']?.shape).toEqual([12, 12]);
    expect(c.weights['output.kernel']?.shape).toEqual([12 + 6, 1]);
    // DLRM: 3 fields of dim 4, and for 'dot' their 3 pairs; no first-order part.
    for (const [interaction, input] of [
      ['dot', 12 + 3],
      ['cat', 12],
    ] as const) {
      const l = dlrm({ interaction });
      if (l.kind !== 'dlrm') throw new Error('unreachable');
      const shapes = dlrmWeightShapes(l.config, schema);
      expect(Object.keys(l.weights)).toEqual(shapes.map(([n]) => n));
      for (const [name, shape] of shapes) expect(l.weights[name]?.shape).toEqual(shape);
      expect(shapes.slice(0, 6)).toEqual([
        ['embedding', [16, 4]],
        ['mlp.0.kernel', [input, 8]],
        ['mlp.0.bias', [8]],
        ['mlp.0.norm.gamma', [8]],
        ['mlp.0.norm.beta', [8]],
        ['mlp.0.norm.movingMean', [8]],
      ]);
      expect(l.weights['output.kernel']?.shape).toEqual([6, 1]);
      expect(l.weights['output.bias']?.shape).toEqual([1]);
      expect(l.weights.linear).toBeUndefined();
      expect(l.weights.bias).toBeUndefined();
    }
    const bare = dlrm({ mlp: [], norm: 'none' });
    expect(bare.weights['output.kernel']?.shape).toEqual([15, 1]);
  });

  it("DLRM's pairs: i < j, row-major, no diagonal", () => {
    expect(Array.from(upperTrianglePairs(4))).toEqual([1, 2, 3, 6, 7, 11]);
    expect(Array.from(upperTrianglePairs(1))).toEqual([]);
  });

  it.each(['dot', 'cat'] as const)(
    'DLRM (%s): the logit a hand computation gives from known weights',
    (interaction) => {
      const dim = 2;
      const hiddenUnits = 3;
      const config: DlrmConfig = { dim, interaction, mlp: [hiddenUnits], norm: 'none', dropout: 0 };
      const input = interaction === 'dot' ? 3 * dim + 3 : 3 * dim;
      // Distinct, sign-mixed values, so that a wrong pair order or pooling shows.
      const table = Array.from({ length: 16 }, (_, r) => [0.1 * r - 0.7, 0.3 - 0.05 * r * (r % 3)]);
      const kernel = Array.from({ length: input }, (_, i) =>
        Array.from({ length: hiddenUnits }, (_, u) => Math.sin(1 + 3 * i + u)),
      );
      const hiddenBias = [0.1, -0.2, 0.05];
      const out = [0.7, -1.1, 0.4];
      const outBias = -0.3;
      const model: CtrModel = {
        kind: 'dlrm',
        config,
        schema,
        weights: {
          embedding: tf.tensor2d(table),
          'mlp.0.kernel': tf.tensor2d(kernel),
          'mlp.0.bias': tf.tensor1d(hiddenBias),
          'output.kernel': tf.tensor2d(out.map((v) => [v])),
          'output.bias': tf.tensor1d([outBias]),
        },
      };
      expect(Object.keys(model.weights).sort()).toEqual(
        dlrmWeightShapes(config, schema)
          .map(([n]) => n)
          .sort(),
      );
      // The fixture rows by hand: user rows 0-4, genres 5-10 (mean of the present ids; none
      // present reads id 0), age buckets 11-15.
      const genres = [[1, 2], [5], [3, 1, 4], [0]];
      const users = [1, 4, 0, 2];
      const ages = [2, 0, 4, 1];
      const mean = (ids: number[], offset: number) =>
        [0, 1].map(
          (k) => ids.reduce((s, id) => s + (table[offset + id]?.[k] as number), 0) / ids.length,
        );
      const expected = users.map((user, r) => {
        const v = [
          table[user] as number[],
          mean(genres[r] as number[], 5),
          table[11 + (ages[r] as number)] as number[],
        ];
        const z = v.flat();
        if (interaction === 'dot') {
          const dot = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]!;
          z.push(dot(v[0]!, v[1]!), dot(v[0]!, v[2]!), dot(v[1]!, v[2]!));
        }
        const hidden = hiddenBias.map((b, u) =>
          Math.max(
            0,
            z.reduce((s, x, i) => s + x * (kernel[i]?.[u] as number), b),
          ),
        );
        return hidden.reduce((s, h, u) => s + h * (out[u] as number), outBias);
      });
      // Every row reaches the output through some unit, so no logit is the bare output bias.
      expect(expected.every((e) => Math.abs(e - outBias) > 1e-3)).toBe(true);
      const logits = ctrForward(model, ctrBatch(schema, rows), { training: false }).arraySync();
      expect(logits).toHaveLength(4);
      logits.forEach((l, r) => {
        expect(l).toBeCloseTo(expected[r] as number, 5);
      });
      // The same weights in training (no dropout, no norm) give the same logits.
      const trained = ctrForward(model, ctrBatch(schema, rows), { training: true, seed: 3 });
      expect(trained.arraySync()).toEqual(logits);
    },
  );

  it("FM's pairwise term is the sum of <v_f, v_g> over field pairs", () => {
    const model = fm();
    const batch = ctrBatch(schema, rows);
    const fields = embedFields(schema, model.weights, batch).arraySync();
    const linear = firstOrder(model.weights, batch);
    const pairwise = ctrForward(model, batch, { training: false })
      .sub(linear)
      .arraySync() as number[];
    fields.forEach((row, r) => {
      let brute = 0;
      for (let f = 0; f < row.length; f++) {
        for (let g = f + 1; g < row.length; g++) {
          brute += (row[f] as number[]).reduce((s, v, k) => s + v * (row[g]?.[k] as number), 0);
        }
      }
      expect(pairwise[r]).toBeCloseTo(brute, 6);
    });
  });

  it('is deterministic outside training; dropout acts only in training', () => {
    for (const model of [deepFm(), dcnv2(), dlrm()]) {
      const batch = ctrBatch(schema, rows);
      const once = ctrForward(model, batch, { training: false, seed: 1 }).arraySync();
      expect(ctrForward(model, batch, { training: false, seed: 2 }).arraySync()).toEqual(once);
      const a = ctrForward(model, batch, { training: true, seed: 1 }).arraySync();
      const b = ctrForward(model, batch, { training: true, seed: 2 }).arraySync();
      expect(ctrForward(model, batch, { training: true, seed: 1 }).arraySync()).toEqual(a);
      expect(b).not.toEqual(a);
    }
  });

  it('batch norm reports batch statistics in training, and uses the moving ones outside it', () => {
    const model = deepFm({ dropout: 0 });
    const weights = Object.fromEntries(
      Object.entries(model.weights).map(([n, t]) => [n, tf.variable(t, !isMovingStatistic(n))]),
    );
    const live: CtrModel = { ...model, weights };
    const batch = ctrBatch(schema, rows);
    const seen: string[] = [];
    const update = movingStatisticsUpdater(weights, 0.9);
    const firstLayer = embedFields(schema, weights, batch)
      .reshape([4, 12])
      .matMul(weights['mlp.0.kernel'] as tf.Tensor2D)
      .add(weights['mlp.0.bias'] as tf.Tensor);
    const batchMean = firstLayer.mean(0).arraySync() as number[];
    tf.tidy(() => {
      ctrForward(live, batch, {
        training: true,
        onBatchStatistics: (layer, mean, variance) => {
          seen.push(layer);
          update(layer, mean, variance);
        },
      });
    });
    expect(seen).toEqual(['mlp.0.norm', 'mlp.1.norm']);
    const moving = weights['mlp.0.norm.movingMean']?.arraySync() as number[];
    moving.forEach((v, i) => {
      expect(v).toBeCloseTo(0.1 * (batchMean[i] as number), 5);
    });
    // Outside training nothing is reported, and the moved statistics change the output.
    const before = ctrForward(model, batch, { training: false }).arraySync();
    const after = ctrForward(live, batch, {
      training: false,
      onBatchStatistics: () => seen.push('eval'),
    }).arraySync();
    expect(seen).toHaveLength(2);
    expect(after).not.toEqual(before);
  });
});
