// `pocketrec train --item-table qr`: a SASRec with a quotient-remainder item table, end to
// end on the first 40 ML-1M users (fast, and too small for any accuracy claim). The default
// remainder rows are ⌈√(items + 1)⌉; 2 threads train the table 1 thread does; the package
// verifies, `info` counts it, `umec` keeps its table, `quantize` stores both factors in int8
// and `tune-repeats` rewrites it. A resumed run takes the factors its checkpoint saved, and a
// checkpoint of another partition is refused. Usage errors name the option.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingData } from '../../../src/cli/training-data.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { qrItemTable } from '../../../src/model/item-table.ts';
import { qrFactorStd } from '../../../src/model/qr-partition.ts';
import { initEncoderWeights } from '../../../src/model/sasrec.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../../src/model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { DEFAULT_TRAIN, trainSasrec } from '../../../src/train/train-sasrec.ts';
import { useGeneratedDataAsDefault } from '../fixtures-gen/data-dir.ts';
import { runCli as run, tinyConfig } from './helpers.ts';

// The registry data sets named here are small generated files (test/unit/fixtures-gen), not
// ../shared/data: these tests are about the commands, and run on a clone without the data.
useGeneratedDataAsDefault();

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-train-qr-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeAll(async () => {
  await useWasmBackend();
});

const TRAIN = ['train', '--model', 'sasrec', '--dataset', 'ml-1m'];
const QUICK = ['--users', '40', '--epochs', '1', '--dim', '8', '--max-len', '6'];
/** ML-1M's 3,416 items and the padding row: ⌈√3417⌉ = 59 remainders, 58 quotient rows. */
const ROWS = 3417;
const BUCKETS = 59;
const QUOTIENTS = 58;

/** Exit 2, nothing on stdout, and stderr matching `message`. */
async function expectUsage(argv: string[], message: RegExp): Promise<void> {
  const { code, out, err } = await run(...argv);
  expect(err).toMatch(message);
  expect(out).toBe('');
  expect(code).toBe(2);
}

const factorsOf = (pkg: ModelPackage) => {
  const { qr } = sequentialFromPackage(pkg).items;
  if (!qr) throw new Error(`${pkg.manifest.name} has no quotient-remainder table`);
  return qr;
};

describe('pocketrec train --item-table qr: usage errors name the option', () => {
  const never = ['--out', join(scratch, 'never-written')];
  it.each([
    [
      ['--qr-buckets', '16'],
      /--qr-buckets shapes a quotient-remainder table: it needs --item-table qr/,
    ],
    [
      ['--item-table', 'jpq', '--qr-operation', 'add'],
      /--qr-operation shapes a quotient-remainder table: it needs --item-table qr/,
    ],
    [
      ['--item-table', 'qr', '--jpq-splits', '2'],
      /--jpq-splits shapes a RecJPQ table: it needs --item-table jpq/,
    ],
    [
      ['--item-table', 'qr', '--qr-buckets', '0'],
      /--qr-buckets must be sqrt or an integer in 1\.\.3417 \(the 3416 items and the padding row\), got "0"/,
    ],
    [
      ['--item-table', 'qr', '--qr-buckets', '3418'],
      /--qr-buckets must be sqrt or an integer in 1\.\.3417 .*got "3418"/,
    ],
    [['--item-table', 'qr', '--qr-buckets', 'half'], /--qr-buckets must be sqrt or .*got "half"/],
    [
      ['--item-table', 'qr', '--qr-operation', 'concat'],
      /--qr-operation must be one of mult, add, got "concat"/,
    ],
    [
      ['--item-table', 'qr', '--init-from', join(scratch, 'any')],
      /--init-from starts from a dense package's table; --item-table qr is trained from scratch/,
    ],
  ])('%j', async (options, message) => {
    await expectUsage([...TRAIN, ...never, '--dim', '8', ...options], message);
  });

  it('a CTR model', async () => {
    await expectUsage(
      ['train', '--model', 'fm', '--dataset', 'frappe', ...never, '--qr-buckets', '8'],
      /--qr-buckets is for the next-item models, not fm/,
    );
  });

  it('--help shows the options and their defaults', async () => {
    const { out } = await run('train', '--help');
    expect(out).toMatch(
      /--item-table <kind>[\s\S]*or qr \(quotient-remainder[\s\S]*\(default dense\)/,
    );
    expect(out).toMatch(/--qr-buckets <m>[\s\S]*\(default sqrt:\s+⌈√\(items \+ 1\)⌉/);
    expect(out).toMatch(
      /--qr-operation <op>[\s\S]*mult\s+\(element-wise\s+product\)[\s\S]*\(default mult\)/,
    );
  });
});

describe('pocketrec train --item-table qr, end to end', () => {
  const one = join(scratch, 'qr-1');
  const two = join(scratch, 'qr-2');
  let pkg: ModelPackage;

  beforeAll(async () => {
    for (const [out, threads] of [
      [one, '1'],
      [two, '2'],
    ] as const) {
      const args = [...TRAIN, '--out', out, ...QUICK, '--item-table', 'qr'];
      const { code, err } = await run(...args, '--threads', threads, '--json');
      expect(err).toBe('');
      expect(code).toBe(0);
    }
    pkg = await readModelPackage(directorySource(one));
  }, 240_000);

  it('writes a sequential-qr package of ⌈√(items + 1)⌉ remainders that records its command, verifies and is counted', async () => {
    expect(pkg.manifest.kind).toBe('sequential-qr');
    expect(pkg.manifest.architecture).toMatchObject({
      dim: 8,
      maxLen: 6,
      qrBuckets: BUCKETS,
      qrOperation: 'mult',
    });
    const notes = JSON.parse(pkg.manifest.training.notes as string);
    expect(notes.command).toMatch(/^npx pocketrec train .*--item-table qr/);
    expect(notes.config.qr).toEqual({ buckets: BUCKETS, operation: 'mult' });
    expect((await run('verify', one)).code).toBe(0);
    const info = JSON.parse((await run('info', one, '--json')).out);
    expect(info.kind).toBe('sequential-qr');
    expect(info.flops).toBeGreaterThan(0);
    expect(info.size.embeddingBytes).toBe(4 * (QUOTIENTS + BUCKETS) * 8);
    expect(info.size.denseEmbeddingBytes).toBe(4 * ROWS * 8);
  });

  it('both factors trained from their draw, alike over 2 threads', async () => {
    const std = qrFactorStd(8, 'mult');
    const drawn = {
      quotient: tf.randomNormal([QUOTIENTS, 8], 0, std, 'float32', 42 + 1000),
      remainder: tf.randomNormal([BUCKETS, 8], 0, std, 'float32', 42 + 1001),
    };
    const mine = factorsOf(pkg);
    const theirs = factorsOf(await readModelPackage(directorySource(two)));
    for (const name of ['quotient', 'remainder'] as const) {
      const moved = tf.max(tf.abs(mine[name].sub(drawn[name]))).dataSync()[0] as number;
      expect(moved).toBeGreaterThan(1e-4);
      // From the seeded draw at qrFactorStd (0.59 for d = 8): one epoch moves it about 0.03,
      // where another draw would differ by over 1 somewhere.
      expect(moved).toBeLessThan(0.2);
      const apart = tf.max(tf.abs(mine[name].sub(theirs[name]))).dataSync()[0] as number;
      expect(apart).toBeLessThan(0.05);
    }
  });

  it('evaluates, and umec narrows its encoder but keeps its table', async () => {
    const evaluated = await run('eval', one, '--dataset', 'ml-1m', '--users', '40', '--json');
    expect(evaluated.code).toBe(0);
    const out = join(scratch, 'qr-umec');
    const {
      code,
      err,
      out: printed,
    } = await run(
      ...['umec', one, '--dataset', 'ml-1m', '--flops-budget', '0.6', '--out', out],
      ...['--users', '40', '--method', 'magnitude', '--batch', '256', '--finetune', '1', '--json'],
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(printed).kind).toBe('sequential-qr');
    const cut = await readModelPackage(directorySource(out));
    expect(cut.manifest.architecture).toMatchObject({ qrBuckets: BUCKETS, qrOperation: 'mult' });
    expect(cut.tensors.get('items.qr.quotient')?.shape).toEqual([QUOTIENTS, 8]);
    expect(cut.tensors.get('items.qr.remainder')?.shape).toEqual([BUCKETS, 8]);
    expect(sequentialFromPackage(cut).config.inner).toBeDefined();
    expect((await run('verify', out)).code).toBe(0);
    expect(JSON.parse((await run('info', out, '--json')).out).flopsRatio).toBeLessThan(1);
  }, 240_000);

  it('quantize stores both factors in int8', async () => {
    const out = join(scratch, 'qr-int8');
    const {
      code,
      err,
      out: printed,
    } = await run(...['quantize', one, '--dtype', 'int8', '--out', out, '--users', '40', '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(printed);
    expect(summary.kind).toBe('sequential-qr');
    const schemes = Object.fromEntries(
      (summary.tensors as { name: string; scheme: string }[]).map((t) => [t.name, t.scheme]),
    );
    expect(schemes['items.qr.quotient']).toMatch(/^int8-/);
    expect(schemes['items.qr.remainder']).toMatch(/^int8-/);
    const stored = await readModelPackage(directorySource(out));
    expect(stored.tensors.get('items.qr.quotient')?.dtype).toBe('int8');
    expect(stored.tensors.get('items.qr.remainder')?.dtype).toBe('int8');
    expect((await run('verify', out)).code).toBe(0);
  }, 240_000);

  it('a resumed run trains on from the checkpoint; one of another partition is refused', async () => {
    const data = await trainingData('ml-1m', { users: '40' });
    const shape = { buckets: 16, operation: 'add' } as const;
    const dir = join(scratch, 'qr-resume.checkpoint');
    const config = { ...DEFAULT_TRAIN, dim: 8, maxLen: 6, batchSize: 256, epochs: 1, qr: shape };
    const hooks = { checkpointDir: dir, validate: async () => 0 };
    const first = await trainSasrec(data.train, data.numItems, config, hooks);
    expect(first.model.items.qr).toMatchObject(shape);
    // 3417 rows in 16 remainders: 214 quotient rows.
    expect(first.model.items.qr?.quotient.shape).toEqual([214, 8]);
    const checkpoint = await readModelPackage(directorySource(dir));
    const saved = checkpoint.tensors.get('current/items.qr.quotient')?.data as Float32Array;
    expect(Array.from(saved)).toEqual(Array.from(first.model.items.qr?.quotient.dataSync() ?? []));
    const resumed = await trainSasrec(data.train, data.numItems, { ...config, epochs: 2 }, hooks);
    expect(resumed.resumed).toBe(true);
    expect(resumed.state.epoch).toBe(2);
    expect(resumed.model.items.qr).toMatchObject(shape);
    await expect(
      trainSasrec(
        data.train,
        data.numItems,
        { ...config, epochs: 3, qr: { buckets: 17, operation: 'add' } },
        hooks,
      ),
    ).rejects.toThrow(/does not match this model \(variable "items\.qr\.(quotient|remainder)"\)/);
  }, 120_000);
});

describe('pocketrec tune-repeats on a quotient-remainder package', () => {
  it('writes it again as sequential-qr with the bonus, factors unchanged', async () => {
    const numItems = 40727;
    const config = tinyConfig(numItems);
    const model = {
      config,
      encoder: initEncoderWeights(config, 1),
      items: qrItemTable(
        tf.randomNormal([202, 8], 0, 0.4, 'float32', 2),
        tf.randomNormal([202, 8], 0, 0.4, 'float32', 3),
        numItems + 1,
        'mult',
      ),
    };
    const source = join(scratch, 'tmall-qr');
    const built = await buildModelPackage(
      await sequentialPackageSpec(model, { name: 'tmall-qr', dataset: 'tmall' }),
    );
    await writePackageDirectory(source, built.files);
    const out = join(scratch, 'tmall-qr-tuned');
    const { code, err } = await run(
      ...['tune-repeats', source, '--dataset', 'tmall', '--users', '300', '--out', out, '--json'],
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const before = await readModelPackage(directorySource(source));
    const after = await readModelPackage(directorySource(out));
    expect(after.manifest.kind).toBe('sequential-qr');
    expect(after.manifest.architecture.repeatBonus).toBeGreaterThan(0);
    expect(after.manifest.architecture).toMatchObject({ qrBuckets: 202, qrOperation: 'mult' });
    for (const name of ['items.qr.quotient', 'items.qr.remainder']) {
      expect(after.tensors.get(name)?.data).toEqual(before.tensors.get(name)?.data);
    }
  }, 120_000);
});
