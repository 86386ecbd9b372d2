// `pocketrec umec` on sequential packages, end to end on the first 40 ML-1M users (fast, and
// too small for any accuracy claim): a dense teacher by UMEC and a tensor-train student by
// magnitude each end within the encoder budget, write a narrower package of their kind that
// `info` reports with the whole-request flopsRatio (below 1, above the encoder ratio, since
// the scoring against the item table is not cut), that records the encoder ratio in its
// notes, keeps the item table, verifies and evaluates.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainedLoss } from '../../../src/cli/umec-sequence.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable, ttItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape } from '../../../src/model/tt-matrix.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const ML1M_ITEMS = 3416;
const TT: TtShape = { rows: [51, 67], cols: [2, 4], rank: 4, stp: 1 };
const CONFIG: SasrecConfig = {
  numItems: ML1M_ITEMS,
  dim: 8,
  maxLen: 6,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-umec-seq-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** How the dense package says it was trained: what its cuts must search and fine-tune on. */
const DENSE_TRAINING = { loss: 'full', negatives: 64, windows: 'latest' };

async function writeModel(name: string, kind: 'dense' | 'tt'): Promise<string> {
  const model: SequentialModel = {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, 3),
    items:
      kind === 'tt'
        ? ttItemTable(initTtCores(TT, { seed: 4, std: 0.3 }), TT, ML1M_ITEMS + 1)
        : denseItemTable(tf.randomNormal([ML1M_ITEMS + 1, 8], 0, 0.1, 'float32', 5)),
  };
  const dir = join(scratch, name);
  const built = await buildModelPackage(
    await sequentialPackageSpec(model, {
      name,
      dataset: 'ml-1m',
      ...(kind === 'tt'
        ? { architecture: ttArchitecture(TT) }
        : { notes: JSON.stringify({ config: DENSE_TRAINING }) }),
    }),
  );
  await writePackageDirectory(dir, built.files);
  return dir;
}

let dense: string;
let student: string;
beforeAll(async () => {
  await useWasmBackend();
  dense = await writeModel('dense', 'dense');
  student = await writeModel('student', 'tt');
});

interface Summary {
  kind: string;
  encoderFlopsRatio: number;
  flopsRatio: number;
  kept: Record<string, string>;
  inner: { qk: number; v: number; ffn: number }[];
}

async function checkPackage(out: string, source: string, summary: Summary, budget: number) {
  expect(summary.encoderFlopsRatio).toBeLessThanOrEqual(budget);
  const info = JSON.parse((await run('info', out, '--json')).out);
  // info's flopsRatio is the whole request's: the encoder's cut and the scoring as it was.
  expect(info.flopsRatio).toBeCloseTo(summary.flopsRatio, 12);
  expect(info.flopsRatio).toBeLessThan(1);
  expect(info.flopsRatio).toBeGreaterThan(summary.encoderFlopsRatio);
  expect(JSON.parse((await run('info', source, '--json')).out).flopsRatio).toBe(1);
  const pkg = await readModelPackage(directorySource(out));
  const notes = JSON.parse(pkg.manifest.training.notes as string);
  expect(notes.umec.encoderFlopsRatio).toBe(summary.encoderFlopsRatio);
  expect(notes.umec.encoderFlopsRatio).toBeLessThanOrEqual(budget);
  expect(notes.command).toMatch(/^npx pocketrec umec /);
  expect(notes.inner).toEqual(summary.inner);
  const model = sequentialFromPackage(pkg);
  expect(model.config.inner).toEqual(summary.inner);
  // The item table is the input's: the search and fine-tuning train it, but its shape stays.
  const original = sequentialFromPackage(await readModelPackage(directorySource(source)));
  expect(model.items.kind).toBe(original.items.kind);
  for (const [name, t] of Object.entries(original.items.weights)) {
    expect(model.items.weights[name]?.shape).toEqual(t.shape);
  }
  expect((await run('verify', out)).code).toBe(0);
  const evaluated = await run('eval', out, '--dataset', 'ml-1m', '--users', '50', '--json');
  expect(evaluated.code).toBe(0);
}

/** `report` on the source and the cut: the cut's section counts its FLOPs from the two files. */
async function checkReport(out: string, source: string, summary: Summary) {
  const markdown = join(scratch, 'report.md');
  const { code, out: stdout } = await run(
    'report',
    ...['--dataset', 'ml-1m', '--users', '50', '--models', `${source},${out}`],
    ...['--out', markdown, '--json'],
  );
  expect(code).toBe(0);
  const rows = JSON.parse(stdout).rows as { model: string; cut: unknown; command: string }[];
  const [sourceRow, cutRow] = rows.slice(2);
  expect(sourceRow?.cut).toBeNull();
  expect(cutRow?.cut).toMatchObject({ from: 'dense', method: 'umec', budget: 0.5 });
  const cut = cutRow?.cut as { encoderFlopsRatio: number; flopsRatio: number; widths: string };
  expect(cut.encoderFlopsRatio).toBeCloseTo(summary.encoderFlopsRatio, 12);
  expect(cut.flopsRatio).toBeCloseTo(summary.flopsRatio, 12);
  expect(cut.widths.split('; ')).toEqual(
    summary.inner.map((w) => `qk ${w.qk}, v ${w.v}, ffn ${w.ffn}`),
  );
  // The cut's commands start with how its source was made, then the cut.
  expect(cutRow?.command).toMatch(
    /\(command not recorded\); npx pocketrec umec .*; npx pocketrec eval /,
  );
  const text = readFileSync(markdown, 'utf8');
  expect(text).toContain('## Encoders cut to a FLOPs budget');
  expect(text).toMatch(/\| umec-dense \| dense \| umec \| 0\.5 \| 0\.\d{3} \|/);
}

/** `umec` on the first 40 ML-1M users, succeeding with nothing on stderr: its JSON summary. */
async function cut(
  source: string,
  out: string,
  budget: string,
  ...options: string[]
): Promise<Summary> {
  const {
    code,
    out: stdout,
    err,
  } = await run(
    'umec',
    source,
    ...['--dataset', 'ml-1m', '--flops-budget', budget, '--out', out, '--users', '40'],
    ...options,
  );
  expect(err).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as Summary;
}

describe('trainedLoss: how a package was trained, from its notes', () => {
  it('reads the recorded loss, negatives and windows, and falls back on the defaults', () => {
    expect(trainedLoss(JSON.stringify({ config: DENSE_TRAINING }))).toEqual(DENSE_TRAINING);
    const defaults = { loss: 'sampled', negatives: 512, windows: 'all' };
    expect(trainedLoss(undefined)).toEqual(defaults);
    expect(trainedLoss('not json')).toEqual(defaults);
    expect(
      trainedLoss(JSON.stringify({ config: { loss: 'softmax', negatives: -3, windows: 7 } })),
    ).toEqual(defaults);
  });
});

describe('pocketrec umec on sequential packages', () => {
  it('UMEC on a dense teacher: within the encoder budget, a narrower sequential-dense package', async () => {
    const out = join(scratch, 'umec-dense');
    const summary = await cut(
      dense,
      out,
      '0.5',
      '--method',
      'umec',
      '--search-epochs',
      '1',
      '--batch',
      '256',
      '--s-lr',
      '1',
      '--finetune',
      '1',
      '--json',
    );
    expect(summary.kind).toBe('sequential-dense');
    await checkPackage(out, dense, summary, 0.5);
    const notes = JSON.parse(
      (await readModelPackage(directorySource(out))).manifest.training.notes as string,
    );
    expect(notes.config).toEqual(DENSE_TRAINING);
    await checkReport(out, dense, summary);
  }, 240_000);

  it('magnitude on a tensor-train student: a sequential-tt package, cores untouched in shape', async () => {
    const out = join(scratch, 'magnitude-tt');
    const summary = await cut(
      student,
      out,
      '0.6',
      '--method',
      'magnitude',
      '--batch',
      '256',
      '--finetune',
      '1',
      '--json',
    );
    expect(summary.kind).toBe('sequential-tt');
    await checkPackage(out, student, summary, 0.6);
    // Notes that record no training config: the teacher trainer's defaults.
    const notes = JSON.parse(
      (await readModelPackage(directorySource(out))).manifest.training.notes as string,
    );
    expect(notes.config).toEqual({ loss: 'sampled', negatives: 512, windows: 'all' });
  }, 240_000);

  it('UMEC on a tensor-train student over 2 threads: the cores train in the workers too', async () => {
    const out = join(scratch, 'umec-tt');
    const summary = await cut(
      student,
      out,
      '0.5',
      '--search-epochs',
      '1',
      '--batch',
      '256',
      '--s-lr',
      '1',
      '--threads',
      '2',
      '--finetune',
      '1',
      '--json',
    );
    expect(summary.kind).toBe('sequential-tt');
    await checkPackage(out, student, summary, 0.5);
  }, 240_000);

  it('magnitude on a dense teacher, fine-tuned distilled from the uncut model over 2 threads', async () => {
    const out = join(scratch, 'magnitude-kd');
    const summary = await cut(
      dense,
      out,
      '0.5',
      ...['--method', 'magnitude', '--batch', '256', '--finetune', '1'],
      ...['--kd-alpha', '0.8', '--threads', '2', '--json'],
    );
    await checkPackage(out, dense, summary, 0.5);
    const notes = JSON.parse(
      (await readModelPackage(directorySource(out))).manifest.training.notes as string,
    );
    expect(notes.finetune.distilledFromUncut).toEqual({ alpha: 0.8, temperature: 1 });
    expect(notes.command).toMatch(/--kd-alpha 0\.8/);
  }, 240_000);

  it('refuses --kd-alpha for a package trained on sampled negatives', async () => {
    const { code, err } = await run(
      'umec',
      student,
      ...['--dataset', 'ml-1m', '--flops-budget', '0.5', '--out', join(scratch, 'never-kd')],
      ...['--method', 'magnitude', '--kd-alpha', '0.5', '--users', '40'],
    );
    expect(code).toBe(2);
    expect(err).toMatch(/--kd-alpha needs a package trained on the full softmax/);
  });

  it('refuses group-lasso for a sequential package', async () => {
    const { code, err } = await run(
      'umec',
      dense,
      ...['--dataset', 'ml-1m', '--flops-budget', '0.5', '--out', join(scratch, 'never')],
      ...['--method', 'group-lasso'],
    );
    expect(code).toBe(2);
    expect(err).toMatch(/--method must be one of umec, magnitude for a sequential package/);
  });
});
