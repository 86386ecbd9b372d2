// `pocketrec info` reports the FLOPs of one request and their ratio to the unpruned model,
// for sequential packages (dense and tensor-train) and CTR packages; a Markov package has none.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { ctrFlops } from '../../../src/model/ctr/flops.ts';
import { type CtrArchitecture, initCtrModel } from '../../../src/model/ctr/model.ts';
import { ctrPackageSpec, UNPRUNED_FLOPS_KEY } from '../../../src/model/ctr/package.ts';
import { ttItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { sequentialFlops } from '../../../src/model/sequential-flops.ts';
import { sequentialPackageSpec, ttArchitecture } from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape } from '../../../src/model/tt-matrix.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import type { PackageSpec } from '../../../src/package/writer.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { schema } from '../model/ctr/fixtures.ts';
import { runCli as run, tinyModel } from './helpers.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-info-flops-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function written(name: string, spec: PackageSpec): Promise<string> {
  const dir = join(scratch, name);
  await writePackageDirectory(dir, (await buildModelPackage(spec)).files);
  return dir;
}

async function infoJson(dir: string): Promise<Record<string, unknown>> {
  const { code, out, err } = await run('info', dir, '--json');
  expect(err).toBe('');
  expect(code).toBe(0);
  return JSON.parse(out) as Record<string, unknown>;
}

const TT: TtShape = { rows: [5, 4], cols: [2, 4], rank: 4, stp: 2 };
const ttConfig: SasrecConfig = {
  numItems: 19,
  dim: 8,
  maxLen: 5,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};
const deepfm: CtrArchitecture = {
  kind: 'deepfm',
  config: { dim: 4, mlp: [8, 6], norm: 'batch', dropout: 0 },
};

let denseDir: string;
let ttDir: string;
let ctrDir: string;
let cutCtrDir: string;

beforeAll(async () => {
  await useWasmBackend();
  // tinyModel: 12 items, d 8, one block, one head, maxLen 6, from-oldest, last state.
  const dense = tinyModel(12);
  denseDir = await written(
    'dense',
    await sequentialPackageSpec(dense, { name: 'tiny-dense', dataset: 'unit' }),
  );
  const tt: SequentialModel = {
    config: ttConfig,
    encoder: initEncoderWeights(ttConfig, 2),
    items: ttItemTable(initTtCores(TT, { seed: 3, std: 0.3 }), TT, ttConfig.numItems + 1),
  };
  // As a package cut down from a model of 4,000 multiply-adds would record it.
  ttDir = await written(
    'tt',
    await sequentialPackageSpec(tt, {
      name: 'tiny-tt',
      dataset: 'unit',
      architecture: { ...ttArchitecture(TT), [UNPRUNED_FLOPS_KEY]: 4000 },
    }),
  );
  const ctr = initCtrModel(deepfm, schema, 7);
  ctrDir = await written('ctr', ctrPackageSpec(ctr, { name: 'tiny-ctr', dataset: 'unit' }));
  cutCtrDir = await written(
    'ctr-cut',
    ctrPackageSpec(ctr, {
      name: 'tiny-ctr-cut',
      dataset: 'unit',
      unpruned: { denseEquivalent: { params: 1000, embeddingParams: 100 }, flops: 2000 },
    }),
  );
  tf.dispose([
    ...Object.values(dense.encoder),
    ...Object.values(dense.items.weights),
    ...Object.values(tt.encoder),
    ...Object.values(tt.items.weights),
    ...Object.values(ctr.weights),
  ]);
});

describe('pocketrec info: FLOPs per request', () => {
  it('a dense sequential package: one incremental step over maxLen and every item scored', async () => {
    const info = await infoJson(denseDir);
    expect(info.kind).toBe('sequential-dense');
    // d 8, one block, one head, L = maxLen 6: d + (6d² + 6d + 2Ld + L) + 3d, then 13 rows · d.
    const step = 8 + (6 * 64 + 6 * 8 + 2 * 6 * 8 + 6) + 3 * 8;
    expect(info.flops).toBe(step + 13 * 8);
    expect(info.flopsRatio).toBe(1);
  });

  it("a small tensor-train package: built at load as the engine does, against the architecture's unprunedFlops", async () => {
    const info = await infoJson(ttDir);
    expect(info.kind).toBe('sequential-tt');
    // Under the engine's materialiseRows the table is built once and scored as a dense one.
    const flops = sequentialFlops(
      ttConfig,
      { kind: 'tt', shape: TT },
      { scoring: 'tt-materialised' },
    );
    expect(flops).not.toBe(sequentialFlops(ttConfig, { kind: 'tt', shape: TT }));
    expect(info.flops).toBe(flops);
    expect(info.flopsRatio).toBeCloseTo(flops / 4000, 12);
    const { code, out } = await run('info', ttDir);
    expect(code).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `^FLOPs per request +${flops.toLocaleString('en-US')} multiply-adds, ${(flops / 4000).toFixed(3)} of the unpruned model$`,
        'm',
      ),
    );
  });

  it('a CTR package: one row, ratio 1, or against the model it was cut from', async () => {
    const flops = ctrFlops(deepfm, schema);
    expect(flops).toBeGreaterThan(0);
    const info = await infoJson(ctrDir);
    expect(info.kind).toBe('ctr-dense');
    expect(info).toMatchObject({ flops, flopsRatio: 1 });
    const cut = await infoJson(cutCtrDir);
    expect(cut.flops).toBe(flops);
    expect(cut.flopsRatio).toBeCloseTo(flops / 2000, 12);
  });

  it('a Markov package reports none', async () => {
    const info = await infoJson(join(root, 'models/storefront-markov'));
    expect(info.kind).toBe('sequential-markov');
    expect(info).not.toHaveProperty('flops');
    expect(info).not.toHaveProperty('flopsRatio');
  });
});
