// `pocketrec import` on the fixtures of test/fixtures/import (scripts/torch/make_fixtures.py):
// a RecBole SASRec, a pmixer SASRec.pytorch and a teacher trained by
// scripts/torch/train_sasrec.py under torchrun (2 ranks, DDP). Each imports, verifies, and on
// 32 sessions (lengths 1, short, exactly maxLen, longer) gives the source's hidden states
// within 1e-4 and its top 10, in the toolkit (a batch) and in the browser runtime's engine
// (events appended one at a time, through the incremental path where the model allows it).
// Then each is imported against a generated event log with its items in another order, and
// a 1-epoch `distill --teacher` runs on it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { padHistories } from '../../../src/model/sasrec.ts';
import { encodeLatest, type SequentialModel } from '../../../src/model/sequential.ts';
import { sequentialFromPackage } from '../../../src/model/sequential-package.ts';
import type { Manifest } from '../../../src/package/manifest.ts';
import { directorySource } from '../../../src/package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { Engine } from '../../../src/runtime/engine/engine.ts';
import { runCli as run } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/import');
const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-import-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(async () => {
  await useWasmBackend();
});

interface Expected {
  layout: string;
  maxLen: number;
  sessions: string[][];
  hidden: number[][];
  top10: string[][];
  minGap: number;
}

const expectedOf = (layout: string): Expected =>
  JSON.parse(readFileSync(join(FIXTURES, `${layout}.expected.json`), 'utf8'));

/** Each fixture, and what its import needs beside the file. */
const CASES = [
  { layout: 'recbole', extra: [], incremental: true, variant: { norm: 'post', ffnDim: 48 } },
  {
    layout: 'pmixer',
    extra: ['--config', join(FIXTURES, 'pmixer.config.json')],
    incremental: false,
    variant: { norm: 'post', paddingKeys: 'visible', layerNormEps: 1e-8 },
  },
  { layout: 'pocketrec', extra: [], incremental: true, variant: {} },
] as const;

async function json(...argv: string[]): Promise<Record<string, unknown>> {
  const result = await run(...argv, '--json');
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.out);
}

const internalIds = (pkg: ModelPackage) =>
  new Map((pkg.itemIds ?? []).map((id, i) => [id, i + 1] as const));

/** Largest |a - b| over the sessions' last hidden states. */
const maxDifference = (got: number[][], want: number[][]): number =>
  Math.max(
    0,
    ...got.flatMap((row, i) => row.map((v, j) => Math.abs(v - (want[i]?.[j] as number)))),
  );

/** The top 10 external ids of each history, from the model's own scores (padding row out). */
function top10(model: SequentialModel, hidden: number[][], ids: readonly string[]): string[][] {
  const scores = tf.tidy(() =>
    tf.matMul(tf.tensor2d(hidden), model.items.materialise(), false, true).arraySync(),
  ) as number[][];
  return scores.map((row) =>
    row
      .map((s, r) => ({ s, r }))
      .filter(({ r }) => r > 0)
      .sort((a, b) => b.s - a.s)
      .slice(0, 10)
      .map(({ r }) => ids[r - 1] as string),
  );
}

describe.each(CASES)('import --layout $layout', ({ layout, extra, incremental, variant }) => {
  const out = join(scratch, layout);
  const expected = expectedOf(layout);
  let pkg: ModelPackage;
  let model: SequentialModel;
  let histories: number[][];

  beforeAll(async () => {
    const summary = await json(
      'import',
      '--from',
      'safetensors',
      '--layout',
      layout,
      join(FIXTURES, `${layout}.safetensors`),
      '--out',
      out,
      ...extra,
    );
    expect(summary.variant).toMatchObject(variant);
    pkg = await readModelPackage(directorySource(out));
    model = sequentialFromPackage(pkg);
    const internal = internalIds(pkg);
    histories = expected.sessions.map((s) => s.map((id) => internal.get(id) as number));
  });

  it('writes a sequential-dense package that verifies, with the source item ids', async () => {
    expect(pkg.manifest.kind).toBe('sequential-dense');
    expect((await run('verify', out)).code).toBe(0);
    expect(histories.flat().every((i) => Number.isInteger(i) && i > 0)).toBe(true);
    expect(expected.sessions.map((s) => s.length)).toEqual(
      expect.arrayContaining([1, expected.maxLen, expected.maxLen + 1]),
    );
  });

  it('gives the source hidden states within 1e-4 and its top 10 on 32 sessions', () => {
    const ids = pkg.itemIds as string[];
    const hidden = tf.tidy(() =>
      encodeLatest(model, padHistories(histories, model.config.maxLen)).arraySync(),
    );
    const diff = maxDifference(hidden, expected.hidden);
    console.info(`${layout}: max |hidden - source| ${diff.toExponential(2)} over 32 sessions`);
    expect(diff).toBeLessThan(1e-4);
    expect(top10(model, hidden, ids)).toEqual(expected.top10);
  });

  it("in the runtime's engine too, events appended one at a time", async () => {
    const engine = await Engine.create(pkg, {
      backend: 'wasm',
      incremental: true,
      materialiseRows: 1_000,
    });
    try {
      expect(engine.info().incremental).toBe(incremental);
      let agree = 0;
      for (const [s, history] of histories.entries()) {
        let got: Awaited<ReturnType<Engine['recommend']>> | null = null;
        for (let n = 1; n <= history.length; n++) {
          got = await engine.recommend({
            history: Int32Array.from(history.slice(0, n)),
            k: 10,
            exclude: new Int32Array(0),
            candidates: null,
            excludeSeen: false,
          });
        }
        const rows = Array.from(got?.rows ?? [], (r) => (pkg.itemIds as string[])[r - 1]);
        if (JSON.stringify(rows) === JSON.stringify(expected.top10[s])) agree++;
      }
      expect(agree).toBe(32);
    } finally {
      engine.dispose();
    }
  });
});

/**
 * An event log over the fixture's items in a scrambled order (so the data set numbers them
 * otherwise than the source): 60 shoppers of 14 events each, walking the items cyclically,
 * every item at least 5 times.
 */
function eventLog(layout: string, ids: readonly string[]): string {
  const order = ids
    .map((id, i) => ({ id, key: (i * 37 + 11) % ids.length }))
    .sort((a, b) => a.key - b.key);
  const rows = ['user_id,item_id,timestamp,event'];
  for (let u = 0; u < 60; u++) {
    for (let k = 0; k < 14; k++) {
      const item = order[(u * 14 + k) % order.length]?.id;
      rows.push(
        `u${u},${item},2024-05-${String(1 + (u % 28)).padStart(2, '0')}T10:${String(k).padStart(2, '0')}:00Z,view`,
      );
    }
  }
  const file = join(scratch, `${layout}-log.csv`);
  writeFileSync(file, `${rows.join('\n')}\n`);
  return file;
}

describe.each(CASES)(
  'import --layout $layout --dataset <log>, then distill',
  ({ layout, extra }) => {
    it('renumbers the items to the data set, keeps the top 10, and distils for an epoch', async () => {
      const expected = expectedOf(layout);
      const source = await readModelPackage(directorySource(join(scratch, layout)));
      const log = eventLog(layout, source.itemIds as string[]);
      const teacher = join(scratch, `${layout}-on-log`);
      const summary = await json(
        'import',
        '--layout',
        layout,
        join(FIXTURES, `${layout}.safetensors`),
        ...extra,
        '--dataset',
        log,
        '--out',
        teacher,
      );
      expect(summary.dataset).toMatch(new RegExp(`^${layout}-log\\.csv@[0-9a-f]{12}$`));
      const pkg = await readModelPackage(directorySource(teacher));
      expect(pkg.itemIds).not.toEqual(source.itemIds);
      expect([...(pkg.itemIds ?? [])].sort()).toEqual([...(source.itemIds ?? [])].sort());
      const model = sequentialFromPackage(pkg);
      const internal = internalIds(pkg);
      const histories = expected.sessions.map((s) => s.map((id) => internal.get(id) as number));
      const hidden = tf.tidy(() =>
        encodeLatest(model, padHistories(histories, model.config.maxLen)).arraySync(),
      );
      expect(top10(model, hidden, pkg.itemIds as string[])).toEqual(expected.top10);

      const student = join(scratch, `${layout}-student`);
      const quick = '--rank 2 --cores 2 --epochs 1'.split(' ');
      await json('distill', '--teacher', teacher, '--dataset', log, ...quick, '--out', student);
      expect((await run('verify', student)).code).toBe(0);
      const manifest: Manifest = JSON.parse(readFileSync(join(student, 'manifest.json'), 'utf8'));
      expect(manifest.kind).toBe('sequential-tt');
      // The student keeps the teacher's encoder, variant and all.
      for (const [key, value] of Object.entries(pkg.manifest.architecture)) {
        if (!key.startsWith('prior')) expect(manifest.architecture[key]).toEqual(value);
      }

      // Fine-tuning the imported teacher here keeps its encoder too (train --init-from).
      const tuned = join(scratch, `${layout}-tuned`);
      await json(
        'train',
        '--model',
        'sasrec',
        '--init-from',
        teacher,
        '--dataset',
        log,
        '--epochs',
        '1',
        '--dim',
        String(model.config.dim),
        '--max-len',
        String(model.config.maxLen),
        '--blocks',
        String(model.config.blocks),
        '--heads',
        String(model.config.heads),
        '--out',
        tuned,
      );
      const tunedManifest: Manifest = JSON.parse(
        readFileSync(join(tuned, 'manifest.json'), 'utf8'),
      );
      for (const [key, value] of Object.entries(pkg.manifest.architecture)) {
        if (!key.startsWith('prior')) expect(tunedManifest.architecture[key], key).toEqual(value);
      }
    }, 120_000);
  },
);

describe('import refuses what it cannot reproduce, by name', () => {
  const file = join(FIXTURES, 'recbole.safetensors');
  const failure = async (...argv: string[]) => {
    const result = await run('import', file, '--out', join(scratch, 'refused'), ...argv);
    expect(result.code).not.toBe(0);
    return result.err;
  };

  it('an activation the encoder has not, a layout the file does not say, items that do not fit', async () => {
    const swish = join(scratch, 'swish.json');
    writeFileSync(swish, JSON.stringify({ n_heads: 2, hidden_act: 'swish' }));
    expect(await failure('--layout', 'recbole', '--config', swish)).toMatch(
      /hidden_act "swish" is not supported/,
    );
    expect(await failure('--layout', 'pmixer')).toMatch(/says layout "recbole", not "pmixer"/);
    const items = join(scratch, 'items.txt');
    writeFileSync(items, 'a\nb\n');
    expect(await failure('--layout', 'recbole', '--items', items)).toMatch(
      /2 item ids for 120 items/,
    );
    expect(await failure('--layout', 'recbole', '--from', 'onnx')).toMatch(/--from/);
  });
});
