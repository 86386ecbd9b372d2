import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../src/model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyModel } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const ML1M_ITEMS = 3416;
const TMALL_ITEMS = 40727;

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-commands-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An untrained dense teacher package "trained" on `dataset`, written under scratch. */
async function tinyTeacher(name: string, dataset: string, numItems: number): Promise<string> {
  const model = tinyModel(numItems);
  const dir = join(scratch, name);
  const built = await buildModelPackage(await sequentialPackageSpec(model, { name, dataset }));
  await writePackageDirectory(dir, built.files);
  tf.dispose([...Object.values(model.encoder), model.items.materialise()]);
  return dir;
}

let teacher: string;
let beautyTeacher: string;
let smallTeacher: string;

beforeAll(async () => {
  await useWasmBackend();
  teacher = await tinyTeacher('teacher', 'ml-1m', ML1M_ITEMS);
  beautyTeacher = await tinyTeacher('beauty-teacher', 'beauty', ML1M_ITEMS);
  smallTeacher = await tinyTeacher('small-teacher', 'ml-1m', 37);
});

/** Exit 2, nothing on stdout, and stderr matching `message`. */
async function expectUsage(argv: string[], message: RegExp): Promise<string> {
  const { code, out, err } = await run(...argv);
  expect(err).toMatch(message);
  expect(out).toBe('');
  expect(code).toBe(2);
  expect(err).not.toMatch(/unexpected error/);
  return err;
}

describe('pocketrec train: usage errors name the option', () => {
  const train = (...options: string[]) => [
    'train',
    '--model',
    'sasrec',
    '--dataset',
    'ml-1m',
    '--out',
    join(scratch, 'never-written'),
    ...options,
  ];

  it.each([
    [['--model', 'foo'], /--model must be "sasrec" \(the teacher\), got "foo"/],
    [['--lr', 'abc'], /--lr must be a number >= 1e-7 <= 1, got "abc"/],
    [['--lr', '2'], /--lr must be a number >= 1e-7 <= 1, got "2"/],
    [['--dim', '10', '--heads', '3'], /--dim 10 is not divisible by --heads 3/],
    [['--windows', 'x'], /--windows must be "latest" or "all", got "x"/],
    [['--epochs', '1.5'], /--epochs must be an integer >= 1, got "1\.5"/],
    [['--loss', 'hinge'], /--loss must be "full" or "sampled", got "hinge"/],
    [['--dropout', '1'], /--dropout must be a number >= 0 <= 0\.95, got "1"/],
    [['--users', '2'], /--users must be an integer >= 3, got "2"/],
    [['--readout', 'mean'], /--readout must be one of last, attention, got "mean"/],
    [['--threads', '0'], /--threads must be an integer >= 1 <= 64, got "0"/],
  ])('%j', async (options, message) => {
    await expectUsage(train(...options), message);
  });

  it('a CTR data set', async () => {
    await expectUsage(
      ['train', '--model', 'sasrec', '--dataset', 'frappe', '--out', join(scratch, 'x')],
      /next-item models train on user or session data; frappe is a ctr data set/,
    );
  });

  it('an output that already holds a package, for train and distill alike', async () => {
    const before = readFileSync(join(teacher, 'manifest.json'));
    const message = /already holds a model package; remove it, or pass --force/;
    await expectUsage(
      ['train', '--model', 'sasrec', '--dataset', 'ml-1m', '--out', teacher, '--epochs', '1'],
      message,
    );
    await expectUsage(
      ['distill', '--teacher', teacher, '--out', smallTeacher, '--rank', '4'],
      message,
    );
    expect(readFileSync(join(teacher, 'manifest.json'))).toEqual(before);
  });

  it('a data set that does not exist', async () => {
    await expectUsage(
      ['train', '--model', 'sasrec', '--dataset', 'nosuch', '--out', join(scratch, 'x')],
      /unknown data set 'nosuch'; known data sets: ml-1m,/,
    );
  });

  it('a missing required option', async () => {
    await expectUsage(
      ['train', '--model', 'sasrec', '--dataset', 'ml-1m'],
      /required option '--out <dir>' not specified/,
    );
  });

  it('--init-from a package of another data set, item count or architecture', async () => {
    await expectUsage(
      train('--init-from', beautyTeacher),
      /--init-from .*beauty-teacher was trained on beauty, not ml-1m/,
    );
    await expectUsage(
      train('--init-from', smallTeacher),
      /--init-from .*small-teacher knows 37 items; ml-1m has 3416/,
    );
    await expectUsage(
      train('--init-from', teacher, '--dim', '16'),
      /--dim 16 contradicts --init-from .*teacher, which has 8/,
    );
    await expectUsage(
      train('--init-from', teacher, '--readout', 'attention'),
      /--readout attention contradicts --init-from .*teacher, which has last/,
    );
  });
});

describe('pocketrec distill: usage errors name the option', () => {
  const distill = (...options: string[]) => [
    'distill',
    '--teacher',
    teacher,
    '--out',
    join(scratch, 'never-written'),
    ...options,
  ];

  it('--tt-shape rows that cannot hold the teacher items', async () => {
    await expectUsage(
      distill('--tt-shape', '3x3:4x4', '--rank', '4'),
      /--tt-shape: tensor-train rows 3x3 = 9 cannot hold 3417 table rows/,
    );
  });

  it('--tt-shape rows that pad the teacher items far more than needed', async () => {
    // 100 x 100 rows for 3,417: 58 x 59 would do; readers refuse such a package, so distill does too.
    await expectUsage(
      distill('--tt-shape', '100x100:2x4', '--rank', '4'),
      /--tt-shape: tensor-train rows 100x100 = 10000 pad 3417 table rows with 6583 more/,
    );
  });

  it("--tt-shape columns that do not multiply to the teacher's dim", async () => {
    await expectUsage(
      distill('--tt-shape', '59x58:4x4', '--rank', '4'),
      /--tt-shape columns 4x4 must multiply to the teacher's dim 8/,
    );
  });

  it('a --tt-shape that is not a shape', async () => {
    await expectUsage(
      distill('--tt-shape', '60by60', '--rank', '4'),
      /--tt-shape 60by60 --rank 4 --stp 1: '60by60' is not a TT shape/,
    );
  });

  it('--stp that does not divide the rank', async () => {
    await expectUsage(
      distill('--tt-shape', '60x60:2x4', '--rank', '4', '--stp', '3'),
      /--tt-shape 60x60:2x4 --rank 4 --stp 3: STP factor 3 must divide core 2's rank 4/,
    );
    await expectUsage(
      distill('--cores', '3', '--rank', '4', '--stp', '3'),
      /--tt-shape auto --rank 4 --stp 3: STP factor 3 must divide core 2's rank 4/,
    );
  });

  it.each([
    [['--rank', '0'], /--rank must be an integer >= 1, got "0"/],
    [['--rank', '4', '--cores', '4'], /--cores must be an integer >= 2 <= 3, got "4"/],
    [['--rank', '4', '--alpha', '2'], /--alpha must be a number >= 0 <= 1, got "2"/],
    [['--rank', '4', '--init-cores', 'zeros'], /--init-cores must be "teacher-fit" or "gaussian"/],
    [['--rank', '4', '--windows', 'x'], /--windows must be "latest" or "all", got "x"/],
  ])('%j', async (options, message) => {
    await expectUsage(distill(...options), message);
  });

  it('a teacher that does not know the data set items', async () => {
    await expectUsage(
      ['distill', '--teacher', smallTeacher, '--out', join(scratch, 'x'), '--rank', '2'],
      /the teacher knows 37 items; ml-1m has 3416/,
    );
  });
});

describe('pocketrec eval and report: usage errors', () => {
  it('a package trained on another data set', async () => {
    await expectUsage(
      ['eval', beautyTeacher, '--dataset', 'ml-1m', '--users', '50'],
      new RegExp(`${beautyTeacher} was trained on beauty, not ml-1m`),
    );
  });

  it('a package with another item count', async () => {
    await expectUsage(
      ['eval', smallTeacher, '--dataset', 'ml-1m', '--users', '50'],
      new RegExp(`${smallTeacher} knows 37 items; ml-1m has 3416`),
    );
  });

  it('--protocol foo', async () => {
    await expectUsage(
      ['eval', 'mostpop', '--dataset', 'ml-1m', '--protocol', 'foo'],
      /argument 'foo' is invalid\. Allowed choices are full, sampled100/,
    );
  });

  it('a next-item baseline on a CTR data set', async () => {
    await expectUsage(
      ['eval', 'mostpop', '--dataset', 'frappe'],
      /mostpop is a next-item baseline; frappe is a CTR data set: give a CTR package/,
    );
  });

  it('--users 0', async () => {
    await expectUsage(
      ['eval', 'mostpop', '--dataset', 'ml-1m', '--users', '0'],
      /--users must be an integer >= 1, got "0"/,
    );
  });

  it('report --out x.txt', async () => {
    await expectUsage(
      ['report', '--dataset', 'ml-1m', '--out', join(scratch, 'x.txt')],
      /--out must name a \.md file, got .*x\.txt/,
    );
  });
});

describe('pocketrec train --init-from', () => {
  it('starts from the package, keeps its architecture, and the report names both commands', async () => {
    const out = join(scratch, 'fine-tuned');
    const { code, err } = await run(
      ...['train', '--model', 'sasrec', '--dataset', 'ml-1m', '--out', out],
      ...['--init-from', teacher, '--users', '40', '--epochs', '1', '--lr', '1e-7', '--json'],
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const pkg = await readModelPackage(directorySource(out));
    const start = await readModelPackage(directorySource(teacher));
    // The network's architecture; the run adds the popularity prior of its training split.
    const { priorMaxCount, ...architecture } = pkg.manifest.architecture;
    expect(architecture).toEqual(start.manifest.architecture);
    expect(priorMaxCount).toBeGreaterThan(0);
    const notes = JSON.parse(pkg.manifest.training.notes as string) as {
      initFrom: { package: string };
    };
    expect(notes.initFrom.package).toBe(teacher);
    // At lr 1e-7 one epoch leaves the weights where the package had them: Adam moves each
    // weight by about lr per step, and 40 users make a handful of steps.
    const tuned = sequentialFromPackage(pkg).items.materialise();
    const original = sequentialFromPackage(start).items.materialise();
    expect(tf.max(tf.abs(tuned.sub(original))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(original)).dataSync()[0]).toBeGreaterThan(0.1);
    // The report names the commands of both runs, the start first.
    const report = await run(
      ...['report', '--dataset', 'ml-1m', '--users', '40', '--models', out, '--json'],
    );
    expect(report.code).toBe(0);
    const rows = (JSON.parse(report.out) as { rows: { model: string; command: string }[] }).rows;
    const command = rows.find((r) => r.model === 'fine-tuned')?.command ?? '';
    expect(command).toMatch(
      /^\(command not recorded\); npx pocketrec train .*--init-from \S*teacher.*; npx pocketrec eval /,
    );
  });
});

describe('pocketrec eval', () => {
  it('mostpop on 200 ML-1M users, as JSON', async () => {
    const { code, out, err } = await run(
      'eval',
      'mostpop',
      '--dataset',
      'ml-1m',
      '--users',
      '200',
      '--json',
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out) as {
      model: string;
      dataset: string;
      split: string;
      items: number;
      protocol: string;
      masked: boolean;
      cases: number;
      metrics: Record<string, number>;
      tail: { cases: number; metrics: Record<string, number> } | null;
    };
    expect(report).toMatchObject({
      model: 'MostPop',
      dataset: 'ml-1m',
      split: 'test',
      items: ML1M_ITEMS,
      protocol: 'full',
      masked: true,
      cases: 200,
    });
    for (const k of [5, 10, 20]) {
      for (const metric of ['HR', 'NDCG', 'MRR']) {
        const value = report.metrics[`${metric}@${k}`];
        expect(value, `${metric}@${k}`).toBeGreaterThanOrEqual(0);
        expect(value, `${metric}@${k}`).toBeLessThanOrEqual(1);
      }
      expect(report.metrics[`NDCG@${k}`]).toBeLessThanOrEqual(report.metrics[`HR@${k}`] as number);
      expect(report.metrics[`MRR@${k}`]).toBeLessThanOrEqual(report.metrics[`NDCG@${k}`] as number);
    }
    expect(report.metrics['HR@10']).toBeLessThanOrEqual(report.metrics['HR@20'] as number);
    // Popularity finds something among 3,416 items, far above chance (10 / 3,416).
    expect(report.metrics['HR@10']).toBeGreaterThan(0.01);
    expect(report.tail).not.toBeNull();
    const tail = report.tail as NonNullable<typeof report.tail>;
    expect(tail.cases).toBeGreaterThan(0);
    expect(tail.cases).toBeLessThan(200);
    expect(Object.keys(tail.metrics).sort()).toEqual(Object.keys(report.metrics).sort());
    // MostPop ranks the popular items first, so it does worse on the tail.
    expect(tail.metrics['HR@10']).toBeLessThanOrEqual(report.metrics['HR@10'] as number);
  });
});

describe('pocketrec tune-repeats', () => {
  it('refuses a user data set, whose ranking masks the history', async () => {
    await expectUsage(
      ['tune-repeats', teacher, '--dataset', 'ml-1m', '--out', join(scratch, 'never-written')],
      /tune-repeats is for session data sets; ml-1m ranks with the user's history masked/,
    );
  });

  it('writes the package again with the bonus that validates best, weights unchanged', async () => {
    const source = await tinyTeacher('tmall-teacher', 'tmall', TMALL_ITEMS);
    const out = join(scratch, 'tmall-tuned');
    const { code, out: printed } = await run(
      'tune-repeats',
      source,
      '--dataset',
      'tmall',
      '--users',
      '300',
      '--out',
      out,
      '--json',
    );
    expect(code).toBe(0);
    const result = JSON.parse(printed) as {
      chosen: { bonus: number; 'HR@20': number };
      sweep: { bonus: number; 'HR@20': number }[];
    };
    const bestHr = Math.max(...result.sweep.map((s) => s['HR@20']));
    expect(result.chosen['HR@20']).toBe(bestHr);
    // Untrained scores rank the session's items nowhere in particular: lifting them helps.
    expect(bestHr).toBeGreaterThan(result.sweep[0]?.['HR@20'] as number);

    const tuned = await readModelPackage(directorySource(out));
    expect(tuned.manifest.architecture.repeatBonus).toBe(result.chosen.bonus);
    expect(JSON.parse(tuned.manifest.training.notes ?? '{}').tunedFrom).toEqual({
      package: source,
    });
    const before = sequentialFromPackage(await readModelPackage(directorySource(source)));
    const after = sequentialFromPackage(tuned);
    expect(after.repeatBonus).toBe(result.chosen.bonus);
    expect(before.repeatBonus).toBeUndefined();
    for (const [name, t] of Object.entries(before.encoder)) {
      expect(after.encoder[name]?.dataSync()).toEqual(t.dataSync());
    }
    expect(after.items.materialise().dataSync()).toEqual(before.items.materialise().dataSync());
  });
});
