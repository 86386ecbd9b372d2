// The frontier page's comparison with the teacher (the largest float32 dense SASRec listed),
// on hand-made session rows: P@20 and MRR@20 of the best package within each budget as
// fractions of the teacher's, what the session targets are stated in.
import { describe, expect, it } from 'vitest';
import { type FrontierRow, frontierPage } from '../../../src/cli/report-frontier.ts';

function row(
  model: string,
  kib: number,
  p20: number,
  mrr20: number,
  made: Partial<Pick<FrontierRow, 'kind' | 'quantized'>> = {},
): FrontierRow {
  return {
    model,
    kind: made.kind ?? 'sequential-dense',
    packageBytes: kib * 1024,
    metrics: { 'HR@20': p20, 'MRR@20': mrr20 } as FrontierRow['metrics'],
    teacher: null,
    quantized: made.quantized ?? null,
    cut: false,
    command: `make ${model}`,
  };
}

const page = (rows: FrontierRow[]) =>
  frontierPage(rows, {
    dataset: 'retailrocket',
    session: true,
    command: 'npx pocketrec report --frontier',
    plotFile: 'retailrocket-frontier.svg',
    cases: 100,
    machine: 'test',
  }).markdown;

const cells = (markdown: string, budget: string) =>
  markdown
    .split('\n')
    .filter((l) => l.startsWith(`| ${budget} |`))
    .map((l) => l.split('|').map((c) => c.trim()));

describe('frontier against the teacher', () => {
  it('holds the best package of each budget against the largest float32 dense model', () => {
    const markdown = page([
      row('teacher', 9000, 0.48, 0.27),
      // Larger, but quantised: not the teacher.
      row('teacher-int8', 2400, 0.47, 0.26, { quantized: 'int8' }),
      row('tt-int8', 200, 0.47, 0.28, { kind: 'sequential-tt', quantized: 'int8' }),
      row('d16', 300, 0.4, 0.2),
    ]);
    expect(markdown).toContain('The teacher: teacher (9000.0 KiB), P@20 0.4800, MRR@20 0.2700.');
    // The second table's 256 KiB row (the first table is against the dense line).
    const [, againstTeacher] = cells(markdown, '256 KiB');
    expect(againstTeacher?.slice(2, 7)).toEqual([
      'tt-int8 (tensor-train SASRec, int8, 200.0 KiB)',
      '0.4700',
      `${(0.47 / 0.48).toFixed(3)}x`,
      '0.2800',
      `${(0.28 / 0.27).toFixed(3)}x`,
    ]);
    expect(cells(markdown, '32 KiB')[1]?.slice(2, 7)).toEqual(['none fits', '-', '-', '-', '-']);
  });

  it('leaves the table out when no float32 dense model is listed', () => {
    const markdown = page([row('tt', 200, 0.47, 0.28, { kind: 'sequential-tt' })]);
    expect(markdown).not.toContain('against the teacher');
  });
});
