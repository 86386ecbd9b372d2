// The frontier page of `pocketrec report --frontier`: families, the Pareto front, the best
// model within each budget against the best dense SASRec (quantised copies included), on a
// hand-made set of rows; then the command end to end on three tiny packages of the first 40
// ML-1M users, one of them quantised, writing the page and its plot.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type FrontierRow,
  familyOf,
  frontierPage,
  lineOf,
  paretoFront,
} from '../../../src/cli/report-frontier.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyModel } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

function row(
  model: string,
  kib: number,
  ndcg: number,
  made: Partial<Pick<FrontierRow, 'kind' | 'teacher' | 'quantized' | 'cut'>> = {},
): FrontierRow {
  return {
    model,
    kind: made.kind ?? 'sequential-dense',
    packageBytes: kib * 1024,
    metrics: { 'NDCG@10': ndcg, 'HR@10': 2 * ndcg } as FrontierRow['metrics'],
    teacher: made.teacher ?? null,
    quantized: made.quantized ?? null,
    cut: made.cut ?? false,
    command: `make ${model}`,
  };
}

const ROWS: FrontierRow[] = [
  row('d16', 240, 0.11),
  row('d16-int8', 70, 0.109, { quantized: 'int8' }),
  row('d32', 500, 0.14),
  row('d32-int8', 140, 0.139, { quantized: 'int8' }),
  row('tt', 100, 0.12, { kind: 'sequential-tt', teacher: 'teacher' }),
  row('tt-cut', 90, 0.1, { kind: 'sequential-tt', teacher: 'teacher', cut: true }),
  row('d64', 1100, 0.158),
];

describe('frontier', () => {
  it('names families by table and method, with the storage on the line', () => {
    expect(familyOf(ROWS[1] as FrontierRow)).toBe('dense SASRec');
    expect(lineOf(ROWS[1] as FrontierRow)).toBe('dense SASRec, int8');
    expect(familyOf(ROWS[4] as FrontierRow)).toBe('tensor-train SASRec, distilled');
    expect(familyOf(ROWS[5] as FrontierRow)).toBe('tensor-train SASRec, distilled, UMEC encoder');
  });

  it('keeps on the front only models that no smaller or equal model matches', () => {
    const points = [
      { bytes: 3, value: 0.5 },
      { bytes: 1, value: 0.2 },
      { bytes: 2, value: 0.2 },
      { bytes: 2, value: 0.3 },
      { bytes: 4, value: 0.4 },
    ];
    expect(paretoFront(points)).toEqual([
      { bytes: 1, value: 0.2 },
      { bytes: 2, value: 0.3 },
      { bytes: 3, value: 0.5 },
    ]);
  });

  it('writes the budget table against the best dense model of each budget, int8 copies included', () => {
    const { markdown, svg } = frontierPage(ROWS, {
      dataset: 'ml-1m',
      session: false,
      command: 'npx pocketrec report --frontier',
      plotFile: 'ml-1m-frontier.svg',
      cases: 6040,
      machine: 'test',
    });
    const budget = (label: string) =>
      markdown
        .split('\n')
        .find((l) => l.startsWith(`| ${label} |`))
        ?.split('|')
        .map((c) => c.trim());
    // 32 KiB: nothing fits.
    expect(budget('32 KiB')?.slice(2, 7)).toEqual(['none fits', '-', 'none fits', '-', '-']);
    // 128 KiB: the TT student (0.12) against d16 in int8 (0.109).
    expect(budget('128 KiB')?.[2]).toMatch(/^tt \(/);
    expect(budget('128 KiB')?.[4]).toMatch(/^d16-int8 \(dense SASRec, int8, 70.0 KiB\)/);
    expect(budget('128 KiB')?.[6]).toBe(`${(0.12 / 0.109).toFixed(3)}x`);
    // 256 KiB: d32 in int8 is best overall, so the ratio is 1.
    expect(budget('256 KiB')?.[6]).toBe('1.000x');
    // On the front: d16-int8, tt, d32-int8, d32 (0.001 better at 3.6 times the bytes), d64;
    // not tt-cut (larger than d16-int8 and worse).
    const onFront = markdown
      .split('\n')
      .filter((l) => l.endsWith('| yes |'))
      .map((l) => l.split('|')[1]?.trim());
    expect(onFront).toEqual(['d16-int8', 'tt', 'd32-int8', 'd32', 'd64']);
    expect(markdown).toContain('- **tt-cut**: `make tt-cut`');
    expect(markdown).toContain('![NDCG@10 against package bytes](ml-1m-frontier.svg)');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const name of ['dense SASRec, int8', 'tensor-train SASRec, distilled', 'Pareto front']) {
      expect(svg).toContain(name);
    }
  });
});

describe('pocketrec report --frontier', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-frontier-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('evaluates the packages and writes the page and its plot', async () => {
    await useWasmBackend();
    const dirs: string[] = [];
    for (const [name, seed] of [
      ['small', 1],
      ['other', 2],
    ] as const) {
      const dir = join(scratch, name);
      const built = await buildModelPackage(
        await sequentialPackageSpec(tinyModel(3416, seed, 0.3), { name, dataset: 'ml-1m' }),
      );
      await writePackageDirectory(dir, built.files);
      dirs.push(dir);
    }
    const q = join(scratch, 'small-int8');
    expect((await run('quantize', dirs[0] as string, '--out', q, '--users', '40')).code).toBe(0);
    dirs.push(q);
    const out = join(scratch, 'docs', 'ml-1m-frontier.md');
    const result = await run(
      'report',
      '--dataset',
      'ml-1m',
      '--frontier',
      '--users',
      '40',
      '--models',
      dirs.join(','),
      '--out',
      out,
    );
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const markdown = readFileSync(out, 'utf8');
    expect(markdown).toMatch(/\| small-int8 \| dense SASRec \| int8 \|/);
    expect(markdown).toContain('npx pocketrec quantize');
    expect(readFileSync(join(scratch, 'docs', 'ml-1m-frontier.svg'), 'utf8')).toContain(
      'dense SASRec, int8',
    );
  });
});
