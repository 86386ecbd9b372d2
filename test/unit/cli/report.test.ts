import { describe, expect, it } from 'vitest';
import { againstTeacher, learntFromTeacher, type ReportRow } from '../../../src/cli/report.ts';
import { encoderCutSection } from '../../../src/cli/report-encoder-cut.ts';

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
    distilled: lineage.teacher !== undefined,
    cut: null,
    packageBytes: 4,
    quantized: null,
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

describe('report: encoders cut to a FLOPs budget', () => {
  const cut = (from: string, sourceBytes: number | null) => ({
    from,
    method: 'umec',
    budget: 0.5,
    encoderFlopsRatio: 0.4987,
    flopsRatio: 0.71234,
    widths: 'qk 30, v 32, ffn 60',
    sourceBytes,
  });
  const cells = (lines: string[]) =>
    lines
      .filter((l) => l.startsWith('| ') && !l.startsWith('| package'))
      .map((l) => l.split('|').map((c) => c.trim()));

  it('shows each cut beside its source: ratios, bytes smaller, metric shares', () => {
    const source = row('teacher', 'sequential-dense', 0.2);
    const small = {
      ...row('teacher-b0.5', 'sequential-dense', 0.19),
      bytes: 2,
      cut: cut('teacher', 4),
    };
    const [line] = cells(encoderCutSection([source, small], false));
    expect(line?.slice(1, -1)).toEqual([
      'teacher-b0.5',
      'teacher',
      'umec',
      '0.5',
      '0.499',
      '0.712',
      'qk 30, v 32, ffn 60',
      '2',
      '2.00x',
      '0.1900',
      '0.3800',
      '0.950x',
      '0.950x',
    ]);
  });

  it('leaves the shares out when the source is not in the report, and has no section without cuts', () => {
    const orphan = { ...row('gone-b0.5', 'sequential-tt', 0.1), cut: cut('gone', null) };
    const [line] = cells(encoderCutSection([orphan], false));
    expect(line?.slice(9, -1)).toEqual(['-', '0.1000', '0.2000', '-', '-']);
    expect(encoderCutSection([row('t', 'sequential-dense', 0.1)], false)).toEqual([]);
  });
});

describe('report: whether a student learnt from the teacher it names', () => {
  const notes = (value: object) => JSON.stringify(value);
  it('by a loss term, a start taken from the teacher, or logits; not the no-distillation ablation', () => {
    const off = { alpha: 0, beta: 0, gamma: 0, initEncoder: 'random', initCores: 'gaussian' };
    expect(learntFromTeacher(notes({ config: off }))).toBe(false);
    expect(learntFromTeacher(notes({ config: { ...off, alpha: 0.8 } }))).toBe(true);
    expect(learntFromTeacher(notes({ config: { ...off, initEncoder: 'teacher' } }))).toBe(true);
    expect(learntFromTeacher(notes({ config: off, distilledByLogits: { alpha: 0.5 } }))).toBe(true);
    // Notes from before the config recorded its terms: a distilled student.
    expect(learntFromTeacher(notes({ command: 'npx pocketrec distill' }))).toBe(true);
  });
});
