/**
 * The whole next-item pipeline on a small slice (the first 300 users of the generated
 * ML-1M, test/unit/fixtures-gen: no data sets needed), through the commands a user runs:
 * train a teacher, distill a tensor-train student, verify and inspect the package, evaluate
 * both against MostPop. The models are tiny so this fits in the test suite; the full-size runs are in docs/results (they are benchmarks, not tests).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReportRow } from '../../../src/cli/report.ts';
import { runCli as run } from '../cli/helpers.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-pipeline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function ndcg10(model: string): Promise<number> {
  const { code, out, err } = await run(
    'eval',
    model,
    '--dataset',
    'ml-1m',
    '--users',
    '300',
    '--json',
  );
  expect(err).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(out) as { metrics: Record<string, number>; masked: boolean };
  expect(report.masked).toBe(true);
  return report.metrics['NDCG@10'] as number;
}

describe('train, distill, export and evaluate on the first 300 users of the generated ML-1M', () => {
  const teacher = join(scratch, 'teacher');
  const student = join(scratch, 'student');

  it('trains a teacher and distills a student that beats MostPop at 20x+ embedding compression', async () => {
    const trained = await run(
      'train',
      '--model',
      'sasrec',
      '--dataset',
      'ml-1m',
      '--out',
      teacher,
      '--users',
      '300',
      '--epochs',
      '6',
      '--max-len',
      '20',
      '--dim',
      '16',
      '--blocks',
      '1',
      '--lr',
      '0.01',
      '--batch',
      '64',
      '--loss',
      'full',
      '--dropout',
      '0.1',
      '--json',
    );
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(teacher, 'manifest.json'), 'utf8'));
    const notes = JSON.parse(manifest.training.notes) as { history: { epoch: number }[] };
    expect(notes.history.map((r) => r.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    const distilled = await run(
      'distill',
      '--teacher',
      teacher,
      '--out',
      student,
      '--users',
      '300',
      '--epochs',
      '4',
      '--rank',
      '8',
      '--stp',
      '2',
      '--cores',
      '2',
      '--lr',
      '0.01',
      '--batch',
      '64',
      // Two threads share each batch (train/data-parallel.ts), as the pipeline scripts run.
      '--threads',
      '2',
      '--json',
    );
    expect(distilled.err).toBe('');
    expect(distilled.code).toBe(0);
    const { coreFitError } = JSON.parse(distilled.out) as { coreFitError: number };
    expect(coreFitError).toBeGreaterThan(0);
    expect(coreFitError).toBeLessThan(1);

    expect((await run('verify', student)).code).toBe(0);
    const info = JSON.parse((await run('info', student, '--json')).out) as {
      size: Record<string, number>;
    };
    expect(info.size.embeddingCompression).toBeGreaterThan(20);
    expect(info.size.modelCompression).toBeGreaterThan(5);

    const mostPop = await ndcg10('mostpop');
    const teacherNdcg = await ndcg10(teacher);
    const studentNdcg = await ndcg10(student);
    expect(teacherNdcg).toBeGreaterThan(mostPop);
    expect(studentNdcg).toBeGreaterThan(mostPop);

    // The report evaluates the same way and says how each model was made.
    const markdown = join(scratch, 'ml-1m.md');
    const reported = await run(
      'report',
      '--dataset',
      'ml-1m',
      '--users',
      '300',
      '--models',
      `${teacher},${student}`,
      '--out',
      markdown,
      '--json',
    );
    expect(reported.code).toBe(0);
    const { rows } = JSON.parse(reported.out) as { rows: ReportRow[] };
    expect(rows.map((r) => r.model)).toEqual([
      'MostPop',
      'first-order Markov',
      'teacher',
      'student',
    ]);
    const [pop, , teacherRow, studentRow] = rows as [ReportRow, ReportRow, ReportRow, ReportRow];
    expect(pop.metrics['NDCG@10']).toBe(mostPop);
    expect(teacherRow.metrics['NDCG@10']).toBe(teacherNdcg);
    expect(studentRow.metrics['NDCG@10']).toBe(studentNdcg);
    expect(studentRow.embeddingCompression).toBe(info.size.embeddingCompression);
    expect(studentRow.epochs?.trained).toBe(4);
    expect(studentRow.command).toMatch(/^npx pocketrec distill /);
    for (const option of [`--teacher ${teacher}`, '--rank 8', '--stp 2', '--cores 2']) {
      expect(studentRow.command).toContain(option);
    }
    const text = readFileSync(markdown, 'utf8');
    expect(text).toContain(`| student | sequential-tt |`);
    expect(text).toContain(`| ${studentNdcg.toFixed(4)} |`);
    expect(text).toContain('- **teacher**: `npx pocketrec train --model sasrec');
    const share = (studentNdcg / teacherNdcg).toFixed(3);
    expect(text).toContain('## Against the teacher');
    expect(text).toMatch(new RegExp(`\\| student \\| teacher \\| [0-9.]+x \\| ${share} \\|`));
  }, 600_000);
});
