// `pocketrec umec` end to end on the Criteo sample (200 rows, 39 fields: fast, and too small for
// any accuracy claim): each method ends within its FLOPs budget, the package is physically
// smaller, verifies, evaluates on the data set's rows for its remaining fields, and `info`
// counts the same FLOPs ratio from the file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-umec-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const dense = join(scratch, 'dense');

beforeAll(async () => {
  const trained = await run(
    'train',
    ...['--model', 'deepfm', '--dataset', 'criteo-sample', '--out', dense],
    ...['--epochs', '1', '--batch', '32', '--mlp', '16,12', '--dim', '4', '--json'],
  );
  expect(trained.code).toBe(0);
}, 120_000);

interface Summary {
  flopsRatio: number;
  kept: Record<string, string>;
  removedFields: string[];
  bytes: number;
}

async function umec(method: string, budget: string, out: string) {
  return run(
    'umec',
    dense,
    ...['--dataset', 'criteo-sample', '--flops-budget', budget, '--out', out],
    ...['--method', method, '--search-epochs', '2', '--batch', '32', '--s-lr', '1'],
    ...['--finetune', '1', '--json'],
  );
}

/**
 * What every cut-down package must be: info counts the summary's FLOPs ratio from the file
 * (1 for its dense source), it is smaller, removed fields are gone from its schema and removed
 * units from its tower, and it verifies and evaluates on the data set's rows for its fields.
 * Returns its notes.
 */
async function checkCutPackage(out: string, source: string, summary: Summary) {
  const info = JSON.parse((await run('info', out, '--json')).out);
  expect(info.flopsRatio).toBeCloseTo(summary.flopsRatio, 12);
  const sourceInfo = JSON.parse((await run('info', source, '--json')).out);
  expect(sourceInfo.flopsRatio).toBe(1);
  expect(info.size.bytes).toBeLessThan(sourceInfo.size.bytes);
  expect(info.architecture.fieldNames).toHaveLength(39 - summary.removedFields.length);
  for (const f of summary.removedFields) expect(info.architecture.fieldNames).not.toContain(f);
  expect(info.architecture.mlp).toEqual(
    ['mlp.0', 'mlp.1'].map((l) => Number(summary.kept[l]?.split('/')[0])),
  );
  expect((await run('verify', out)).code).toBe(0);
  const evaluated = await run('eval', out, '--dataset', 'criteo-sample', '--json');
  expect(evaluated.code).toBe(0);
  expect(JSON.parse(evaluated.out).coverage).toHaveLength(info.architecture.fieldNames.length);
  return JSON.parse(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).training.notes);
}

describe('pocketrec umec', () => {
  it.each([
    ['umec', '0.5'],
    ['magnitude', '0.3'],
    ['group-lasso', '0.5'],
  ])(
    '%s to FLOPs budget %s: a smaller ctr-dense package within the budget',
    async (method, budget) => {
      const out = join(scratch, `${method}-${budget}`);
      const result = await umec(method, budget, out);
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.out) as Summary;
      expect(summary.flopsRatio).toBeLessThanOrEqual(Number(budget));
      expect(summary.flopsRatio).toBeGreaterThan(0);

      const notes = await checkCutPackage(out, dense, summary);
      expect(notes.umec.method).toBe(method);
      expect(notes.command).toMatch(/^npx pocketrec umec /);
    },
    120_000,
  );

  it('report: a row per cut-down model, its FLOPs from the file and its request time beside its source', async () => {
    const out = join(scratch, 'umec-0.5');
    const page = join(scratch, 'report', 'criteo-umec.md');
    const reported = await run(
      'report',
      ...['--dataset', 'criteo-sample', '--models', `${dense},${out}`, '--out', page, '--json'],
    );
    expect(reported.code).toBe(0);
    const report = JSON.parse(reported.out) as {
      dense: { name: string; metrics: { AUC: number } }[];
      structured: {
        name: string;
        method: string;
        flopsRatio: number;
        drop: number;
        metrics: { AUC: number };
        requestP50: number;
        dense: { name: string; requestP50: number } | null;
      }[];
    };
    expect(report.dense.map((d) => d.name)).toEqual(['dense']);
    const [row] = report.structured;
    expect(row?.method).toBe('umec');
    expect(row?.flopsRatio).toBeLessThanOrEqual(0.5);
    expect(row?.dense?.name).toBe('dense');
    expect(row?.drop).toBeCloseTo(
      (report.dense[0]?.metrics.AUC ?? 0) - (row?.metrics.AUC ?? 0),
      12,
    );
    expect(row?.requestP50).toBeGreaterThan(0);
    expect(row?.dense?.requestP50).toBeGreaterThan(0);
    expect(readFileSync(page, 'utf8')).toMatch(/## Fields and units pruned to a FLOPs budget/);
  }, 120_000);

  it('composes with Shaver: a cut-down model estimated, pruned and fine-tuned on its own fields keeps its FLOPs ratio', async () => {
    const cut = join(scratch, 'magnitude-0.3');
    const estimate = join(scratch, 'cut-shapley');
    const estimated = await run(
      'shapley',
      cut,
      ...['--dataset', 'criteo-sample', '--out', estimate, '--max-samples', '40', '--json'],
    );
    expect(estimated.code).toBe(0);
    const pruned = join(scratch, 'cut-shaver');
    const result = await run(
      'prune',
      cut,
      ...['--shapley', estimate, '--sparsity', '0.5', '--finetune', '1', '--out', pruned, '--json'],
    );
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const info = JSON.parse((await run('info', pruned, '--json')).out);
    const cutInfo = JSON.parse((await run('info', cut, '--json')).out);
    expect(info.kind).toBe('ctr-pruned');
    expect(info.flops).toBe(cutInfo.flops);
    expect(info.flopsRatio).toBeCloseTo(cutInfo.flopsRatio, 12);
    expect(info.pruning.sparsity).toBeCloseTo(0.5, 2);
    expect((await run('eval', pruned, '--dataset', 'criteo-sample')).code).toBe(0);
  }, 120_000);

  it('refuses a budget no selection reaches, and a model it does not prune, by name', async () => {
    const tooSmall = await umec('magnitude', '0.0001', join(scratch, 'tiny'));
    expect(tooSmall.code).not.toBe(0);
    expect(tooSmall.err).toMatch(/above the budget 0\.0001/);
    const kd = await run(
      'umec',
      dense,
      ...['--dataset', 'criteo-sample', '--flops-budget', '0.5', '--out', join(scratch, 'kd')],
      ...['--kd-alpha', '0.5'],
    );
    expect(kd.code).toBe(2);
    expect(kd.err).toMatch(/--kd-alpha applies to sequential packages only/);
    const fm = join(scratch, 'fm');
    const trained = await run(
      'train',
      ...[
        '--model',
        'fm',
        '--dataset',
        'criteo-sample',
        '--out',
        fm,
        '--epochs',
        '1',
        '--dim',
        '4',
      ],
    );
    expect(trained.code).toBe(0);
    const refused = await run(
      'umec',
      fm,
      ...['--dataset', 'criteo-sample', '--flops-budget', '0.5', '--out', join(scratch, 'x')],
    );
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/DeepFM and DLRM/);
  }, 120_000);

  it("a DLRM ('dot'): magnitude to 0.3, its fields' dot products going with them", async () => {
    const dlrm = join(scratch, 'dlrm');
    const trained = await run(
      'train',
      ...['--model', 'dlrm', '--interaction', 'dot', '--dataset', 'criteo-sample', '--out', dlrm],
      ...['--epochs', '1', '--batch', '32', '--mlp', '16,12', '--dim', '4', '--json'],
    );
    expect(trained.code).toBe(0);
    const out = join(scratch, 'dlrm-magnitude-0.3');
    const result = await run(
      'umec',
      dlrm,
      ...['--dataset', 'criteo-sample', '--flops-budget', '0.3', '--out', out],
      ...['--method', 'magnitude', '--batch', '32', '--finetune', '1', '--json'],
    );
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.out) as Summary & { model: string };
    expect(summary.model).toBe('dlrm');
    expect(summary.flopsRatio).toBeLessThanOrEqual(0.3);
    expect(summary.flopsRatio).toBeGreaterThan(0);

    const notes = await checkCutPackage(out, dlrm, summary);
    const info = JSON.parse((await run('info', out, '--json')).out);
    expect(info.architecture).toMatchObject({ model: 'dlrm', interaction: 'dot' });
    expect(notes.umec).toMatchObject({ model: 'dlrm', interaction: 'dot', method: 'magnitude' });
  }, 120_000);
});
