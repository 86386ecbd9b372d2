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
  });

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
    for (const model of [deepFm(), dcnv2()]) {
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
