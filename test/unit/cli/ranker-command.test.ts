// `pocketrec ranker` on the generated context storefront (made in memory, no data
// directory): a next-item model trained for one quick epoch retrieves, an untrained DeepFM
// on the click data's fields re-ranks. What is checked is the command, not accuracy: the
// fitted weight comes from the grid and is the best there on validation, weight 0 gives
// back retrieval's own figures exactly, the package it writes verifies and carries its
// ranker file, and what cannot be a ranker, or be fitted, is refused by name. The cases are
// every step of the first 100 held-out shoppers of each split (--users), to keep it quick.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RANKER } from '../../../src/cli/defaults.ts';
import type { RankerSummary } from '../../../src/cli/ranker.ts';
import { loadCtrFields } from '../../../src/data/ctr/index.ts';
import {
  DEFAULT_CONTEXT_STOREFRONT,
  generateContextStorefront,
} from '../../../src/data/storefront-context.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../../src/model/ctr/deepfm.ts';
import { initCtrModel } from '../../../src/model/ctr/model.ts';
import { ctrPackageSpec } from '../../../src/model/ctr/package.ts';
import { RANKER_FILE } from '../../../src/model/ctr/ranker.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { runCli as run } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-ranker-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const retrieval = join(scratch, 'retrieval');
/** Held-out shoppers per split the command fits and measures on: every step of each. */
const USERS = 100;
const clicksModel = join(scratch, 'deepfm');

beforeAll(async () => {
  const trained = await run(
    'train',
    '--model',
    'sasrec',
    '--dataset',
    'storefront-context',
    '--out',
    retrieval,
    '--users',
    '200',
    '--epochs',
    '1',
    '--dim',
    '8',
    '--max-len',
    '6',
    '--loss',
    'full',
    '--json',
  );
  expect(trained.err).toBe('');
  await useWasmBackend();
  const { schema } = await loadCtrFields('storefront-context-clicks');
  const model = initCtrModel(
    { kind: 'deepfm', config: { ...DEFAULT_DEEPFM, dim: 4, mlp: [8] } },
    schema,
    3,
  );
  const built = await buildModelPackage(
    ctrPackageSpec(model, { name: 'deepfm', dataset: 'storefront-context-clicks' }),
  );
  tf.dispose(Object.values(model.weights));
  await writePackageDirectory(clicksModel, built.files);
}, 120_000);

async function ranker(out: string, ...extra: string[]) {
  return run(
    'ranker',
    clicksModel,
    '--retrieval',
    retrieval,
    '--dataset',
    'storefront-context',
    '--out',
    out,
    '--users',
    String(USERS),
    ...extra,
    '--json',
  );
}

describe('pocketrec ranker', () => {
  it('fits the weight on validation, reports test figures and writes a ranker package', async () => {
    const out = join(scratch, 'ranker');
    const result = await ranker(out);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.out) as RankerSummary;
    expect(summary.contextFields).toEqual(['hour', 'weekday', 'device', 'locale']);
    expect(summary.itemFields).toEqual(['item', 'category', 'brand', 'price_tier', 'role']);
    expect(summary.candidates).toBe(DEFAULT_RANKER.candidates);
    expect(summary.fitted.map((f) => f.weight)).toEqual([...DEFAULT_RANKER.weights]);
    const best = Math.max(...summary.fitted.map((f) => f.ndcg));
    expect(summary.fitted.find((f) => f.weight === summary.weight)?.ndcg).toBe(best);
    // Every step after the first of the first USERS test shoppers.
    const storefront = generateContextStorefront(DEFAULT_CONTEXT_STOREFRONT);
    const steps = storefront.shoppers
      .filter((_, s) => storefront.split[s] === 2)
      .slice(0, USERS)
      .reduce((n, items) => n + items.length - 1, 0);
    expect(summary.test.retrieval.cases).toBe(steps);
    // By kind of step: every case in one group, the groups' figures those of the whole.
    const groups = summary.byStep.map((g) => g.group);
    expect(groups).toContain('first of a visit');
    expect(groups).toContain('after a main, in the visit');
    expect(summary.byStep.reduce((n, g) => n + g.retrieval.cases, 0)).toBe(steps);
    const pooled = summary.byStep.reduce((n, g) => n + g.twoStage.ndcg * g.twoStage.cases, 0);
    expect(pooled / steps).toBeCloseTo(summary.test.twoStage.ndcg, 10);
    for (const m of Object.values(summary.test)) {
      expect(m.ndcg).toBeGreaterThanOrEqual(0);
      expect(m.ndcg).toBeLessThanOrEqual(m.hr);
    }

    const verified = await run('verify', out, '--json');
    expect(verified.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.architecture.ranker).toBe(RANKER_FILE);
    const file = JSON.parse(readFileSync(join(out, RANKER_FILE), 'utf8'));
    expect(file.weight).toBe(summary.weight);
    expect(file.items).toHaveLength(3000);
    expect(manifest.training.metrics['two-stage NDCG@10']).toBe(summary.test.twoStage.ndcg);
  }, 120_000);

  it('weight 0 is retrieval alone, figure for figure', async () => {
    const result = await ranker(join(scratch, 'ranker-w0'), '--weight', '0');
    expect(result.code).toBe(0);
    const { test, weight } = JSON.parse(result.out) as RankerSummary;
    expect(weight).toBe(0);
    expect(test.twoStage).toEqual(test.retrieval);
    expect(test.twoStageNoContext).toEqual(test.retrieval);
  }, 120_000);

  it('refuses what cannot be a ranker or be fitted, by name', async () => {
    const onFlat = await run(
      'ranker',
      clicksModel,
      '--retrieval',
      retrieval,
      '--dataset',
      'storefront',
      '--out',
      join(scratch, 'x'),
    );
    expect(onFlat.code).not.toBe(0);
    expect(onFlat.err).toMatch(/storefront is not a generated context storefront/);
    const notCtr = await run(
      'ranker',
      retrieval,
      '--retrieval',
      retrieval,
      '--dataset',
      'storefront-context',
      '--out',
      join(scratch, 'y'),
    );
    expect(notCtr.err).toMatch(
      /is a sequential-dense package; a ranker is a ctr-dense or ctr-pruned/,
    );
    const badWeight = await ranker(join(scratch, 'z'), '--weight', '-1');
    expect(badWeight.err).toMatch(/--weight must be a number >= 0, got -1/);
  }, 120_000);
});
