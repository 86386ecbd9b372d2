// `pocketrec shapley` end to end on the Criteo sample (160 training rows, 39 fields): it
// writes an estimate, continues from its running sums, and refuses another run's progress.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShapleyEstimate } from '../../../../src/compression/shaver/estimate-store.ts';
import { keptCount } from '../../../../src/compression/shaver/prune.ts';
import { checkCtrPrunedPackage } from '../../../../src/model/ctr/pruned-package.ts';
import { directorySource } from '../../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../../src/package/reader.ts';
import { runCli as run } from '../../cli/helpers.ts';
import { useGeneratedDataAsDefault } from '../../fixtures-gen/data-dir.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-shapley-command-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const model = join(scratch, 'model');
const DATA = ['--dataset', 'criteo-sample'];

beforeAll(async () => {
  const trained = await run(
    'train',
    '--model',
    'deepfm',
    ...DATA,
    '--out',
    model,
    ...['--epochs', '1', '--batch', '32', '--mlp', '8', '--dim', '2', '--json'],
  );
  expect(trained.code).toBe(0);
}, 60_000);

interface Summary {
  samples: number;
  passes: number;
  stop: string;
  resumed: boolean;
  runSamples: number;
  samplesPerSecond: number;
  elements: number;
}

describe('pocketrec shapley', () => {
  it('estimates, then continues from its running sums when run again', async () => {
    const out = join(scratch, 'values');
    const first = await run('shapley', model, ...DATA, '--out', out, '--max-passes', '1', '--json');
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const a = JSON.parse(first.out) as Summary;
    expect(a).toMatchObject({ samples: 160, passes: 1, stop: 'max-passes', resumed: false });
    expect(a.samplesPerSecond).toBeGreaterThan(0);
    const stored = await readShapleyEstimate(out);
    expect(stored.values).toHaveLength(a.elements);
    expect(stored.dim).toBe(2);
    expect(stored.source).toMatchObject({ dataset: 'criteo-sample', split: 'train' });

    const again = await run('shapley', model, ...DATA, '--out', out, '--max-passes', '2', '--json');
    expect(again.code).toBe(0);
    const b = JSON.parse(again.out) as Summary;
    expect(b).toMatchObject({ samples: 320, passes: 2, resumed: true, runSamples: 160 });
    expect((await readShapleyEstimate(out)).samples).toBe(320);
  });

  it("refuses to continue another estimation's progress", async () => {
    const out = join(scratch, 'other');
    const args = ['--out', out, '--max-samples', '64', '--forward', 'per-removal'];
    expect((await run('shapley', model, ...DATA, ...args)).code).toBe(0);
    const zero = await run('shapley', model, ...DATA, ...args, '--fill', 'zero');
    expect(zero.code).toBe(2);
    expect(zero.err).toMatch(/another estimation \(fill codebook, not zero\)/);
  });

  it('prune takes the estimate for these weights only; progressive prefixes end at each --prefix-sparsity', async () => {
    const values = join(scratch, 'for-prune');
    expect((await run('shapley', model, ...DATA, '--out', values, '--max-passes', '1')).code).toBe(
      0,
    );
    const stored = await readShapleyEstimate(values);
    expect(stored.source?.command).toMatch(/^npx pocketrec shapley .* --dataset criteo-sample/);
    expect(stored.source?.weightsSha256).toMatch(/^[0-9a-f]{64}$/);

    const other = join(scratch, 'other-weights');
    const retrained = ['--epochs', '1', '--batch', '32', '--mlp', '8', '--dim', '2', '--seed', '7'];
    expect(
      (await run('train', '--model', 'deepfm', ...DATA, '--out', other, ...retrained)).code,
    ).toBe(0);
    const refused = await run(
      'prune',
      other,
      '--method',
      'shaver',
      '--shapley',
      values,
      '--sparsity',
      '0.5',
      '--out',
      join(scratch, 'never'),
    );
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/belongs to other weights/);

    const progressive = join(scratch, 'progressive');
    const pruned = await run(
      'prune',
      model,
      '--method',
      'shaver',
      '--shapley',
      values,
      '--sparsity',
      '0.5',
      '--layout',
      'progressive',
      '--chunk-elements',
      '1000',
      '--prefix-sparsity',
      '0.8,0.95',
      '--out',
      progressive,
      '--json',
    );
    expect(pruned.err).toBe('');
    const { kept } = (JSON.parse(pruned.out).packages as { kept: number }[])[0] as { kept: number };
    const pkg = await readModelPackage(directorySource(progressive));
    const { storage } = checkCtrPrunedPackage(pkg);
    if (storage.layout !== 'progressive') throw new Error('not progressive');
    // Chunks of at most 1000 that end at the 95% and 80% budgets' kept counts, then at 50%'s.
    const ends = storage.chunks.map((_, c) =>
      storage.chunks.slice(0, c + 1).reduce((n, chunk) => n + chunk.elements, 0),
    );
    const total = stored.values.length;
    for (const s of [0.95, 0.8]) expect(ends).toContain(keptCount(total, s));
    expect(ends.at(-1)).toBe(kept);
  });

  it('refuses a bad option value', async () => {
    const bad = await run('shapley', model, ...DATA, '--out', scratch, '--split', 'test');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--split must be one of train, validation, train\+validation/);
  });
});
