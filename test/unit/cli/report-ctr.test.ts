// `pocketrec report` on a CTR data set, end to end on the Criteo sample (200 rows: fast, and
// too small for any accuracy claim): a tiny DeepFM, pruned three ways, one progressive.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtrReport } from '../../../src/cli/report-ctr.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-report-ctr-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const DATA = ['--dataset', 'criteo-sample'];
const dense = join(scratch, 'deepfm');
const estimate = join(scratch, 'shapley-zero');
const out = join(scratch, 'results', 'criteo-sample.md');

async function ok(...argv: string[]): Promise<string> {
  const result = await run(...argv);
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return result.out;
}

const prune = (method: string, sparsity: string, name: string, ...extra: string[]) =>
  ok(
    'prune',
    dense,
    '--method',
    method,
    '--sparsity',
    sparsity,
    '--out',
    join(scratch, name),
    ...extra,
    '--json',
  );

let report: CtrReport;

beforeAll(async () => {
  await ok(
    'train',
    '--model',
    'deepfm',
    ...DATA,
    '--out',
    dense,
    '--dim',
    '4',
    '--mlp',
    '8',
    '--epochs',
    '1',
    '--batch',
    '32',
    '--json',
  );
  await ok(
    'shapley',
    dense,
    ...DATA,
    '--out',
    estimate,
    '--fill',
    'zero',
    '--max-passes',
    '1',
    '--json',
  );
  await prune('magnitude', '0.5,0.95', 'magnitude', '--layout', 'progressive');
  await prune('random', '0.5', 'random');
  await prune('shaver-zero', '0.8', 'shaver-zero', '--shapley', estimate);
  const models = [
    dense,
    ...['magnitude-s50', 'magnitude-s95', 'random', 'shaver-zero'].map((m) => join(scratch, m)),
  ];
  report = JSON.parse(
    await ok('report', ...DATA, '--models', models.join(','), '--out', out, '--json'),
  );
}, 60_000);

describe('pocketrec report, CTR data set', () => {
  it('scores every package as `pocketrec eval` does, each pruned one against its dense one', async () => {
    const evalAuc = async (dir: string) =>
      JSON.parse(await ok('eval', dir, ...DATA, '--json')).metrics.AUC as number;
    expect(report.dense).toHaveLength(1);
    const [d] = report.dense;
    expect(d?.model).toBe('deepfm');
    expect(d?.metrics.AUC).toBe(await evalAuc(dense));
    expect(report.pruned.map((r) => [r.method, r.sparsity])).toEqual([
      ['random', 0.5],
      ['magnitude', expect.closeTo(0.5, 3)],
      ['magnitude', expect.closeTo(0.95, 3)],
      ['shaver-zero', expect.closeTo(0.8, 3)],
    ]);
    for (const r of report.pruned) {
      expect(r.metrics.AUC).toBe(await evalAuc(r.package));
      expect(r.dense?.package).toBe(dense);
      expect(r.drop).toBe((d?.metrics.AUC as number) - r.metrics.AUC);
      expect(r.bytes).toBeLessThan(d?.bytes as number);
    }
  });

  it("evaluates a progressive package's prefixes, the whole one equal to the package", () => {
    for (const name of ['magnitude-s50', 'magnitude-s95']) {
      const whole = report.pruned.find((r) => r.package === join(scratch, name));
      const prefixes = report.prefixes.filter((r) => r.package === whole?.package);
      const last = prefixes.at(-1);
      expect(last?.chunks).toBe(last?.totalChunks);
      expect(last?.metrics).toEqual(whole?.metrics);
      // A client that fetches every chunk fetches the whole package.
      expect(last?.bytes).toBe(whole?.bytes);
      const bytes = prefixes.map((r) => r.bytes);
      expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    }
    expect(report.prefixes.length).toBeGreaterThan(2);
  });

  it('lists the Shapley estimate with its samples and time', () => {
    expect(report.estimates).toEqual([
      expect.objectContaining({
        dir: estimate,
        fill: 'zero',
        samples: 160,
        passes: 1,
        usedBy: ['shaver-zero'],
        problem: null,
      }),
    ]);
    expect(report.estimates[0]?.command).toContain(`npx pocketrec shapley ${dense}`);
  });

  it('gives every row the command that made it', () => {
    const rows = [...report.dense, ...report.pruned, ...report.prefixes];
    for (const r of rows) {
      expect(r.command).toMatch(/^npx pocketrec (train|prune) /);
      expect(r.command).not.toContain('not recorded');
    }
    for (const r of report.pruned) expect(r.command).toContain(`npx pocketrec eval ${r.package}`);
    const page = readFileSync(out, 'utf8');
    for (const r of rows) expect(page).toContain(r.command);
    expect(page).toContain(report.command);
  });

  it('writes the plot beside the page: one line per method and per progressive package', () => {
    const page = readFileSync(out, 'utf8');
    expect(page).toContain('](criteo-sample-auc-bytes.svg)');
    const svg = readFileSync(join(scratch, 'results', 'criteo-sample-auc-bytes.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(unbalancedTags(svg)).toEqual([]);
    const series = [...svg.matchAll(/<g class="series" data-series="([^"]*)">/g)].map((m) => m[1]);
    expect(series).toEqual([
      'deepfm (dense deepfm)',
      'random',
      'magnitude',
      'Shaver (zero fill)',
      'prefixes of magnitude-s50',
      'prefixes of magnitude-s95',
    ]);
    // The dense model is a marker; every other series a line.
    expect(svg.match(/<polyline /g)).toHaveLength(series.length - 1);
  });

  it('evaluates the dense source of a pruned package not given, and says so', async () => {
    const only = JSON.parse(
      await ok('report', ...DATA, '--models', join(scratch, 'random'), '--json'),
    ) as CtrReport;
    expect(only.dense.map((d) => [d.package, d.listed])).toEqual([[dense, false]]);
    expect(only.pruned[0]?.drop).toBe(report.pruned[0]?.drop);
    expect(only.plot).toBeNull();
  });

  it('refuses next-item options and an empty list, by name', async () => {
    const cases: [string[], RegExp][] = [
      [['--models', dense, '--users', '10'], /--users is for next-item data sets/],
      [['--models', ''], /--models must name at least one CTR package/],
    ];
    for (const [extra, message] of cases) {
      const result = await run('report', ...DATA, ...extra);
      expect(result.err).toMatch(message);
      expect(result.code).toBe(2);
    }
  });
});

/** Tags opened and never closed, or closed out of order: a well-formedness check without a parser. */
function unbalancedTags(xml: string): string[] {
  const open: string[] = [];
  const problems: string[] = [];
  for (const [tag, closing, name, selfClosing] of xml.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (!closing) open.push(name as string);
    else if (open.pop() !== name) problems.push(tag);
  }
  return [...problems, ...open];
}
