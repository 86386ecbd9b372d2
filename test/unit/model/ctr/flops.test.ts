import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DCNV2 } from '../../../../src/model/ctr/dcnv2.ts';
import { ctrBatch } from '../../../../src/model/ctr/field-embedding.ts';
import { ctrFlops } from '../../../../src/model/ctr/flops.ts';
import {
  type CtrArchitecture,
  ctrArchitectureOf,
  ctrForward,
  initCtrModel,
} from '../../../../src/model/ctr/model.ts';
import { type CtrRows, type CtrSchema, idsPerRow } from '../../../../src/model/ctr/schema.ts';
import { kernelProducts } from '../kernel-products.ts';
import { schema } from './fixtures.ts';

beforeAll(async () => {
  await useWasmBackend();
});

/** Products of the kernels tfjs runs for `numRows` rows of a model at inference. */
async function profiledProducts(architecture: CtrArchitecture, s: CtrSchema, numRows: number) {
  const model = initCtrModel(architecture, s, 7);
  const rows: CtrRows = {
    numRows,
    ids: s.fields.map((f) => new Int32Array(numRows * idsPerRow(f)).fill(1)),
    labels: new Float32Array(numRows),
  };
  const batch = ctrBatch(s, rows);
  const profile = await tf.profile(() => ctrForward(model, batch, { training: false }));
  tf.dispose([batch.rows, batch.poolWeights, batch.labels, ...Object.values(model.weights)]);
  return kernelProducts(profile.kernels);
}

/** Per row: the products of two rows less those of one, which drops work on weights alone. */
async function bruteForceFlops(architecture: CtrArchitecture, s: CtrSchema): Promise<number> {
  return (
    (await profiledProducts(architecture, s, 2)) - (await profiledProducts(architecture, s, 1))
  );
}

const singleValued: CtrSchema = { fields: schema.fields.filter((f) => f.kind !== 'multi') };

const architectures: [string, CtrArchitecture][] = [
  ['fm', { kind: 'fm', config: { dim: 4 } }],
  [
    'deepfm, batch norm',
    { kind: 'deepfm', config: { dim: 4, mlp: [8, 6], norm: 'batch', dropout: 0.5 } },
  ],
  [
    'deepfm, layer norm',
    { kind: 'deepfm', config: { dim: 3, mlp: [5], norm: 'layer', dropout: 0 } },
  ],
  [
    'deepfm, no norm, no tower',
    { kind: 'deepfm', config: { dim: 4, mlp: [], norm: 'none', dropout: 0 } },
  ],
  [
    'dcnv2 full, parallel',
    { kind: 'dcnv2', config: { ...DEFAULT_DCNV2, dim: 4, mlp: [8, 6], crossLayers: 2 } },
  ],
  [
    'dlrm, dot',
    {
      kind: 'dlrm',
      config: { dim: 4, mlp: [8, 6], norm: 'batch', dropout: 0, interaction: 'dot' },
    },
  ],
  [
    'dlrm, cat',
    { kind: 'dlrm', config: { dim: 4, mlp: [5], norm: 'none', dropout: 0, interaction: 'cat' } },
  ],
  [
    'dcnv2 mixture, stacked',
    {
      kind: 'dcnv2',
      config: {
        ...DEFAULT_DCNV2,
        dim: 4,
        mlp: [7],
        norm: 'layer',
        crossLayers: 2,
        cross: { kind: 'mixture', rank: 3, experts: 2 },
        structure: 'stacked',
      },
    },
  ],
];

describe('ctrFlops', () => {
  it.each(architectures)(
    '%s: equals the brute-force count of the products tfjs runs',
    async (_, a) => {
      for (const s of [schema, singleValued]) {
        expect(ctrFlops(a, s)).toBe(await bruteForceFlops(a, s));
      }
    },
  );

  it('counts a dense layer as in × out and grows with the tower', () => {
    const small: CtrArchitecture = {
      kind: 'deepfm',
      config: { dim: 4, mlp: [8], norm: 'none', dropout: 0 },
    };
    const wide: CtrArchitecture = {
      kind: 'deepfm',
      config: { dim: 4, mlp: [9], norm: 'none', dropout: 0 },
    };
    // One more hidden unit: a column of the first kernel (2 fields × 4) and a row of the output.
    expect(ctrFlops(wide, singleValued) - ctrFlops(small, singleValued)).toBe(2 * 4 + 1);
    const model = initCtrModel(small, singleValued, 1);
    expect(ctrArchitectureOf(model)).toEqual(small);
    tf.dispose(Object.values(model.weights));
  });
});
