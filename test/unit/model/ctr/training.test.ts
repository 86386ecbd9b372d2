import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DCNV2, initDcnv2Weights } from '../../../../src/model/ctr/dcnv2.ts';
import { DEFAULT_DEEPFM, initDeepFmWeights } from '../../../../src/model/ctr/deepfm.ts';
import { DEFAULT_DLRM, type DlrmConfig, initDlrmWeights } from '../../../../src/model/ctr/dlrm.ts';
import { ctrBatch } from '../../../../src/model/ctr/field-embedding.ts';
import { initFmWeights } from '../../../../src/model/ctr/fm.ts';
import {
  isMovingStatistic,
  movingStatisticsUpdater,
  type Weights,
} from '../../../../src/model/ctr/layers.ts';
import { binaryCrossEntropy } from '../../../../src/model/ctr/loss.ts';
import { type CtrModel, ctrForward } from '../../../../src/model/ctr/model.ts';
import type { CtrRows, CtrSchema } from '../../../../src/model/ctr/schema.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const schema: CtrSchema = {
  fields: [
    { name: 'a', kind: 'categorical', vocabularySize: 9 },
    { name: 'b', kind: 'categorical', vocabularySize: 9 },
    { name: 'tags', kind: 'multi', vocabularySize: 5, maxValues: 2 },
  ],
};

/** A click iff a and b have the same parity: an interaction, no single field tells. */
function parityRows(n: number): CtrRows {
  let state = 7;
  const next = (k: number) => {
    state = (state * 1103515245 + 12345) >>> 0;
    return 1 + ((state >>> 8) % k);
  };
  const a = Int32Array.from({ length: n }, () => next(8));
  const b = Int32Array.from({ length: n }, () => next(8));
  const tags = Int32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 1 ? -1 : next(4)));
  const labels = Float32Array.from(a, (x, i) => ((x + (b[i] as number)) % 2 === 0 ? 1 : 0));
  return { numRows: n, ids: [a, b, tags], labels };
}

function train(model: CtrModel, steps: number): number {
  const variables: Weights = Object.fromEntries(
    Object.entries(model.weights).map(([n, t]) => [n, tf.variable(t, !isMovingStatistic(n))]),
  );
  const live: CtrModel = { ...model, weights: variables };
  const batch = ctrBatch(schema, parityRows(256));
  const optimizer = tf.train.adam(0.02);
  const onBatchStatistics = movingStatisticsUpdater(variables);
  for (let step = 0; step < steps; step++) {
    optimizer.minimize(() =>
      binaryCrossEntropy(
        ctrForward(live, batch, { training: true, seed: step, onBatchStatistics }),
        batch.labels,
      ),
    );
  }
  // Judged outside training, on fresh rows of the same rule.
  const held = ctrBatch(schema, parityRows(512), { start: 256, end: 512 });
  return tf.tidy(() =>
    binaryCrossEntropy(ctrForward(live, held, { training: false }), held.labels).arraySync(),
  );
}

function dlrm(config: DlrmConfig): CtrModel {
  return { kind: 'dlrm', config, schema, weights: initDlrmWeights(config, schema, 4) };
}

describe('training', () => {
  const small = { dim: 4, mlp: [16, 16], dropout: 0.1 };
  it.each([
    [
      'fm',
      (): CtrModel => {
        const config = { dim: 4 };
        return { kind: 'fm', config, schema, weights: initFmWeights(config, schema, 1) };
      },
    ],
    [
      'deepfm',
      (): CtrModel => {
        const config = { ...DEFAULT_DEEPFM, ...small };
        return { kind: 'deepfm', config, schema, weights: initDeepFmWeights(config, schema, 2) };
      },
    ],
    [
      'dcnv2',
      (): CtrModel => {
        const config = { ...DEFAULT_DCNV2, ...small, crossLayers: 2 };
        return { kind: 'dcnv2', config, schema, weights: initDcnv2Weights(config, schema, 3) };
      },
    ],
    ['dlrm, dot', (): CtrModel => dlrm({ ...DEFAULT_DLRM, ...small, interaction: 'dot' })],
    ['dlrm, cat', (): CtrModel => dlrm({ ...DEFAULT_DLRM, ...small, interaction: 'cat' })],
  ])('%s learns a separable interaction well below log 2 in 300 Adam steps', (_, make) => {
    const loss = train(make(), 300);
    expect(loss).toBeLessThan(0.2);
  });
});
