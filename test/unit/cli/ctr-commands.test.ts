// `pocketrec train --model fm|deepfm|dcnv2|dlrm` and `pocketrec eval` on a CTR package, end to
// end on the Criteo sample (200 rows: fast, and too small for any accuracy claim).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-ctr-commands-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const QUICK = ['--epochs', '2', '--batch', '32', '--mlp', '16,16', '--dim', '4'];

async function train(model: string, out: string, ...extra: string[]) {
  return run(
    'train',
    '--model',
    model,
    '--dataset',
    'criteo-sample',
    '--out',
    out,
    ...QUICK,
    ...extra,
    '--json',
  );
}

describe('pocketrec train and eval, CTR models', () => {
  for (const model of ['fm', 'deepfm', 'dcnv2', 'dlrm']) {
    it(`${model}: writes a ctr-dense package that verifies and evaluates`, async () => {
      const out = join(scratch, model);
      const trained = await train(model, out);
      expect(trained.err).toBe('');
      expect(trained.code).toBe(0);
      const summary = JSON.parse(trained.out) as {
        model: string;
        epochs: number;
        validationAuc: number;
      };
      expect(summary.model).toBe(model);
      expect(summary.epochs).toBe(2);
      expect(summary.validationAuc).toBeGreaterThanOrEqual(0);
      expect(summary.validationAuc).toBeLessThanOrEqual(1);

      const verified = await run('verify', out, '--json');
      expect(verified.code).toBe(0);
      expect(JSON.parse(verified.out).checked.at(-1)).toMatch(/ctr-dense: /);

      const evaluated = await run('eval', out, '--dataset', 'criteo-sample', '--json');
      expect(evaluated.code).toBe(0);
      const result = JSON.parse(evaluated.out) as {
        rows: number;
        metrics: { AUC: number; LogLoss: number };
        coverage: { field: string; share: number }[];
      };
      expect(result.rows).toBe(20);
      expect(result.metrics.AUC).toBeGreaterThanOrEqual(0);
      expect(result.metrics.LogLoss).toBeGreaterThan(0);
      expect(result.coverage).toHaveLength(39);
      for (const c of result.coverage) expect(c.share).toBeGreaterThanOrEqual(0);
    });
  }

  it('the package records the command and the validation metrics', async () => {
    const out = join(scratch, 'recorded');
    expect((await train('fm', out)).code).toBe(0);
    const info = JSON.parse((await run('info', out, '--json')).out) as {
      kind: string;
      metrics: Record<string, number>;
    };
    expect(info.kind).toBe('ctr-dense');
    expect(Object.keys(info.metrics)).toEqual(
      expect.arrayContaining(['validation/AUC', 'validation/LogLoss', 'epochs', 'bestEpoch']),
    );
  });

  it('refuses options that do not apply, by name', async () => {
    const cases: [string[], RegExp][] = [
      [['--mlp', '400,x'], /--mlp must list layer widths/],
      [['--norm', 'group'], /--norm must be one of batch, layer, none/],
      [['--interaction', 'sum'], /--interaction must be one of dot, cat, got "sum"/],
      [['--max-len', '50'], /--max-len is for the next-item models, not deepfm/],
    ];
    for (const [extra, message] of cases) {
      const result = await train('deepfm', join(scratch, 'never'), ...extra);
      expect(result.err).toMatch(message);
      expect(result.code).toBe(2);
    }
  });

  it('eval refuses a package trained on another data set', async () => {
    const out = join(scratch, 'other');
    expect((await train('fm', out)).code).toBe(0);
    const result = await run('eval', out, '--dataset', 'avazu-sample');
    expect(result.err).toMatch(/was trained on criteo-sample, not avazu-sample/);
    expect(result.code).toBe(2);
  });

  it('prune: magnitude and random to several budgets, each a ctr-pruned package that verifies', async () => {
    const dense = join(scratch, 'to-prune');
    expect((await train('deepfm', dense)).code).toBe(0);
    for (const [method, layout] of [
      ['magnitude', 'auto'],
      ['random', 'progressive'],
    ] as const) {
      const out = join(scratch, `pruned-${method}`);
      const pruned = await run(
        'prune',
        dense,
        '--sparsity',
        '0.5,0.95',
        '--method',
        method,
        '--layout',
        layout,
        '--out',
        out,
        '--json',
      );
      expect(pruned.err).toBe('');
      expect(pruned.code).toBe(0);
      const written = JSON.parse(pruned.out).packages as {
        out: string;
        sparsity: number;
        kept: number;
      }[];
      expect(written.map((w) => w.out)).toEqual([`${out}-s50`, `${out}-s95`]);
      for (const w of written) {
        const verified = await run('verify', w.out);
        expect(verified.code).toBe(0);
        // A progressive package's prefixes are checked too, not only its whole files.
        expect(verified.out.includes('head and chunk SHA-256')).toBe(layout === 'progressive');
        const info = JSON.parse((await run('info', w.out, '--json')).out) as {
          kind: string;
          pruning: { sparsity: number; method: string; compression: number };
        };
        expect(info.kind).toBe('ctr-pruned');
        expect(info.pruning.method).toBe(method);
        expect(info.pruning.sparsity).toBeCloseTo(w.sparsity, 3);
        expect(info.pruning.compression).toBeGreaterThan(1);
        const evaluated = await run('eval', w.out, '--dataset', 'criteo-sample', '--json');
        expect(evaluated.code).toBe(0);
      }
    }
  });

  it('prune --finetune: each budget fine-tuned with its mask frozen, its validation AUC recorded', async () => {
    const dense = join(scratch, 'to-finetune');
    expect((await train('deepfm', dense)).code).toBe(0);
    const out = join(scratch, 'finetuned');
    const pruned = await run(
      'prune',
      dense,
      '--sparsity',
      '0.8',
      '--method',
      'magnitude',
      '--finetune',
      '1',
      '--out',
      out,
      '--json',
    );
    expect(pruned.code).toBe(0);
    const [written] = JSON.parse(pruned.out).packages as { finetuneValidationAuc: number }[];
    // 200 rows: the AUC itself means nothing here, only that it was measured and recorded.
    expect(written?.finetuneValidationAuc).toBeGreaterThanOrEqual(0);
    expect((await run('verify', out)).code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.training.metrics['validation/AUC']).toBe(written?.finetuneValidationAuc);
    expect(JSON.parse(manifest.training.notes).finetune.epochs).toBe(1);
  });

  it('prune: Shaver needs its estimate, and refuses bad options by name', async () => {
    const dense = join(scratch, 'to-prune-2');
    expect((await train('fm', dense)).code).toBe(0);
    const prune = (...extra: string[]) =>
      run('prune', dense, '--out', join(scratch, 'never-pruned'), ...extra);
    const cases: [string[], RegExp][] = [
      [['--sparsity', '0.5', '--method', 'shaver'], /--method shaver needs --shapley <dir>/],
      [
        ['--sparsity', '1.5', '--method', 'magnitude'],
        /--sparsity must list fractions in \[0, 1\)/,
      ],
      [
        ['--sparsity', '0.5', '--method', 'lottery'],
        /--method must be one of shaver, shaver-zero, magnitude, random/,
      ],
      [['--sparsity', '0.5', '--method', 'random', '--layout', 'zip'], /--layout must be one of/],
    ];
    for (const [extra, message] of cases) {
      const result = await prune(...extra);
      expect(result.err).toMatch(message);
      expect(result.code).toBe(2);
    }
  });
});
