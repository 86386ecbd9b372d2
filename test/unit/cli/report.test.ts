import { describe, expect, it } from 'vitest';
import { againstTeacher, type ReportRow } from '../../../src/cli/report.ts';

function row(
  model: string,
  kind: 'sequential-dense' | 'sequential-tt',
  ndcg: number,
  lineage: { trainedAs?: string; teacher?: string; repeatBonus?: number } = {},
): ReportRow {
  const metrics = { 'NDCG@10': ndcg, 'HR@10': 2 * ndcg } as ReportRow['metrics'];
  return {
    model,
    kind,
    params: 1,
    bytes: 4,
    embeddingCompression: kind === 'sequential-tt' ? 40 : 1,
    modelCompression: 1,
    metrics,
    tail: metrics,
    trainSeconds: 1,
    epochs: null,
    repeatBonus: lineage.repeatBonus ?? 0,
    trainedAs: lineage.trainedAs ?? model,
    teacher: lineage.teacher ?? null,
    command: '',
  };
}

/** The "against the teacher" lines, as [student, teacher, NDCG@10 share]. */
const pairs = (rows: ReportRow[]) =>
  againstTeacher(rows, false)
    .filter((line) => line.startsWith('| ') && !line.startsWith('| model'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map((cells) => [cells[1], cells[2], cells[4]]);

describe('report: each student against its own teacher', () => {
  it('pairs a student with the teacher its notes name, whatever the order', () => {
    const rows = [
      row('small-teacher', 'sequential-dense', 0.1),
      row('big-teacher', 'sequential-dense', 0.2),
      row('big-student', 'sequential-tt', 0.1, { teacher: 'big-teacher' }),
      row('small-student', 'sequential-tt', 0.1, { teacher: 'small-teacher' }),
    ];
    expect(pairs(rows)).toEqual([
      ['big-student', 'big-teacher', '0.500'],
      ['small-student', 'small-teacher', '1.000'],
    ]);
  });

  it('pairs a tuned student with its teacher tuned the same way', () => {
    const rows = [
      row('t', 'sequential-dense', 0.1),
      row('u', 'sequential-dense', 0.3),
      row('t-rb', 'sequential-dense', 0.4, { trainedAs: 't', repeatBonus: 8 }),
      row('s-rb', 'sequential-tt', 0.2, { trainedAs: 's', teacher: 't', repeatBonus: 16 }),
    ];
    expect(pairs(rows)).toEqual([['s-rb', 't-rb', '0.500']]);
  });

  it('falls back on the first dense model when the named teacher is not listed', () => {
    const rows = [
      row('other', 'sequential-dense', 0.4),
      row('s', 'sequential-tt', 0.1, { teacher: 'missing' }),
    ];
    expect(pairs(rows)).toEqual([['s', 'other', '0.250']]);
  });
});
