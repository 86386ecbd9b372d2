import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PROGRESS_FILE,
  readShapleyEstimate,
  readShapleyProgress,
  SHAPLEY_FILE,
  ShapleyStoreError,
  writeShapleyEstimate,
  writeShapleyProgress,
} from '../../../../src/compression/shaver/estimate-store.ts';
import { emptySums } from '../../../../src/compression/shaver/estimator.ts';
import type { ShapleyEstimate } from '../../../../src/compression/shaver/values.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-shapley-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let next = 0;
const freshDir = () => join(scratch, `d${next++}`);

const estimate: ShapleyEstimate = {
  values: Float32Array.from([0.5, -0.25, 0, 1e-7, 3, 0]),
  standardErrors: Float32Array.from([0.01, 0.02, 0, 0, 0.5, 0]),
  counts: Int32Array.from([4, 4, 0, 1, 2, 0]),
  samples: 4,
  passes: 1,
  fill: 'codebook',
  codebook: Float32Array.from([0.1, 0.2, 0.3, 0.4]),
  seconds: 1.5,
  dim: 2,
  converged: true,
  source: { packageSha256: 'ab'.repeat(32), dataset: 'frappe', split: 'train', seed: 7 },
};

async function problem(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ShapleyStoreError);
  return (error as ShapleyStoreError).code;
}

describe('writeShapleyEstimate / readShapleyEstimate', () => {
  it('round-trips every field, the arrays as raw little-endian files', async () => {
    const dir = freshDir();
    await writeShapleyEstimate(dir, estimate);
    expect(await readShapleyEstimate(dir)).toEqual(estimate);
    const raw = readFileSync(join(dir, 'values.f32'));
    expect(raw.length).toBe(24);
    expect(raw.readFloatLE(4)).toBe(-0.25);
    expect(readFileSync(join(dir, 'counts.i32')).readInt32LE(16)).toBe(2);
    const header = JSON.parse(readFileSync(join(dir, SHAPLEY_FILE), 'utf8'));
    expect(header).toMatchObject({ format: 'pocketrec-shapley', elements: 6, fields: 2, dim: 2 });
  });

  it('says missing for a directory without an estimate', async () => {
    expect(await problem(readShapleyEstimate(freshDir()))).toBe('shapley-missing');
  });

  const damage: [string, (dir: string) => void][] = [
    ['a changed byte', (d) => writeFileSync(join(d, 'values.f32'), Buffer.alloc(24, 1))],
    ['a cut-short file', (d) => truncateSync(join(d, 'standard-errors.f32'), 20)],
    ['a missing array file', (d) => rmSync(join(d, 'codebook.f32'))],
    ['a header that is not JSON', (d) => writeFileSync(join(d, SHAPLEY_FILE), '{"format":')],
    [
      'a header with a wrong length',
      (d) => {
        const h = JSON.parse(readFileSync(join(d, SHAPLEY_FILE), 'utf8'));
        h.elements = 7;
        writeFileSync(join(d, SHAPLEY_FILE), JSON.stringify(h));
      },
    ],
  ];
  for (const [what, harm] of damage) {
    it(`says corrupt for ${what}`, async () => {
      const dir = freshDir();
      await writeShapleyEstimate(dir, estimate);
      harm(dir);
      expect(await problem(readShapleyEstimate(dir))).toBe('shapley-corrupt');
    });
  }
});

describe('writeShapleyProgress / readShapleyProgress', () => {
  const sums = () => {
    const s = emptySums(5);
    s.sum.set([1.25, -2, 0, 1e-12, 3]);
    s.sumSquares.set([2, 4, 0, 1e-24, 9]);
    s.counts.set([3, 2, 0, 1, 1]);
    Object.assign(s, { samples: 3, passes: 1, nextOffset: 2, seconds: 0.75 });
    return s;
  };
  const run = { dataset: 'frappe', fill: 'codebook', seed: 1, rows: 10 };

  it('round-trips the running sums, the position and the run', async () => {
    const dir = freshDir();
    await writeShapleyProgress(dir, run, sums());
    expect(await readShapleyProgress(dir)).toEqual({ run, sums: sums() });
  });

  it('is null where there is none, and corrupt when damaged', async () => {
    expect(await readShapleyProgress(freshDir())).toBeNull();
    const dir = freshDir();
    await writeShapleyProgress(dir, run, sums());
    const bytes = readFileSync(join(dir, PROGRESS_FILE));
    bytes[bytes.length - 3]! ^= 0xff;
    writeFileSync(join(dir, PROGRESS_FILE), bytes);
    expect(await problem(readShapleyProgress(dir))).toBe('shapley-corrupt');
    truncateSync(join(dir, PROGRESS_FILE), 30);
    expect(await problem(readShapleyProgress(dir))).toBe('shapley-corrupt');
  });
});
