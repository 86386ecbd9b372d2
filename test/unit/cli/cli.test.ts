import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/package/manifest.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { runCli as run } from './helpers.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const modelDir = join(root, 'models/storefront-markov');
const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as Manifest;

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the shipped package whose `file` is changed by `edit`. */
function damagedCopy(name: string, file: string, edit: (bytes: Buffer) => Buffer): string {
  const dir = join(scratch, name);
  cpSync(modelDir, dir, { recursive: true });
  writeFileSync(join(dir, file), edit(readFileSync(join(dir, file))));
  return dir;
}

describe('pocketrec info', () => {
  it('prints the manifest size figures as JSON', async () => {
    const { code, out, err } = await run('info', modelDir, '--json');
    expect(err).toBe('');
    expect(code).toBe(0);
    const info = JSON.parse(out) as Record<string, unknown>;
    expect(info).toMatchObject({
      name: 'storefront-markov',
      kind: 'sequential-markov',
      formatVersion: 1,
      items: manifest.items.count,
      dataset: manifest.training.dataset,
      metrics: manifest.training.metrics,
      files: manifest.files,
    });
    expect(info.size).toEqual(manifest.size);
    const size = info.size as Manifest['size'];
    expect(size.params).toBe(149657);
    expect(size.bytes).toBe(598628);
    expect(size.denseEquivalentBytes).toBe(36036008);
    expect(size.modelCompression).toBeCloseTo(size.denseEquivalentBytes / size.bytes, 12);
    expect(size.embeddingCompression).toBe(1);
  });

  it('prints a table for people', async () => {
    const { code, out } = await run('info', modelDir);
    expect(code).toBe(0);
    expect(out).toMatch(/^name +storefront-markov$/m);
    expect(out).toMatch(/^params +149,657$/m);
    expect(out).toMatch(/^bytes +598,628 \(584\.6 KiB\)$/m);
    expect(out).toMatch(/^model compression +60\.20x$/m);
    expect(out).toMatch(/^created +2026-11-22T00:00:00\.000Z$/m);
    expect(out).toMatch(/^item ids +items\.txt \(lines encoding\)$/m);
    expect(out).toMatch(/^architecture +order=1 transitions=71827$/m);
  });

  it('prints the whole verified manifest indented with --manifest (the file is compact)', async () => {
    const { code, out } = await run('info', modelDir, '--manifest');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual(manifest);
    expect(out).toContain('\n  "formatVersion": 1,\n');
    const both = await run('info', modelDir, '--manifest', '--json');
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/'--manifest' cannot be used with option '--json'/);
  });

  it('names the id map and its encoding, in the table and the JSON', async () => {
    const dir = join(scratch, 'integer-ids');
    const built = await buildModelPackage({
      kind: 'sequential-markov',
      name: 'integer-ids',
      architecture: { order: 1, transitions: 1 },
      items: { count: 2, ids: ['1193', '661'] },
      training: { dataset: 'unit' },
      denseEquivalent: { params: 12, embeddingParams: 0 },
      tensors: [
        { name: 'transitions/indptr', dtype: 'int32', shape: [4], data: Int32Array.of(0, 0, 1, 1) },
        { name: 'transitions/indices', dtype: 'int32', shape: [1], data: Int32Array.of(1) },
        { name: 'transitions/counts', dtype: 'float32', shape: [1], data: Float32Array.of(1) },
        { name: 'popularity', dtype: 'float32', shape: [3], data: Float32Array.of(0, 1, 1) },
      ],
    });
    await writePackageDirectory(dir, built.files);
    const table = await run('info', dir);
    expect(table.err).toBe('');
    expect(table.out).toMatch(/^format version +2$/m);
    expect(table.out).toMatch(/^item ids +items\.bin \(integer-deltas encoding\)$/m);
    const json = JSON.parse((await run('info', dir, '--json')).out) as Record<string, unknown>;
    expect(json).toMatchObject({
      formatVersion: 2,
      idMap: 'items.bin',
      idEncoding: 'integer-deltas',
    });
  });

  it('refuses a damaged package instead of describing it', async () => {
    const dir = damagedCopy('info-flipped', 'items.txt', (b) => {
      b[0] = (b[0] as number) ^ 1;
      return b;
    });
    const { code, out, err } = await run('info', dir, '--json');
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain(join(dir, 'items.txt'));
  });
});

describe('pocketrec verify', () => {
  it('passes the shipped package', async () => {
    const { code, out, err } = await run('verify', modelDir);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^ok: .*storefront-markov: 2 files, 4 tensors verified/);
    const json = await run('verify', modelDir, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, files: 2, tensors: 4, itemIds: 3000 });
  });

  it('fails a truncated copy, naming the file', async () => {
    const dir = damagedCopy('truncated', 'weights-0.bin', (b) => b.subarray(0, b.length - 100));
    const { code, out, err } = await run('verify', dir);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(
      `pocketrec: ${join(dir, 'weights-0.bin')}: file is truncated: 598536 bytes, the manifest says 598636`,
    );
  });

  it('fails a bit-flipped copy, naming the file and the hash', async () => {
    const dir = damagedCopy('flipped', 'weights-0.bin', (b) => {
      b[50_000] = (b[50_000] as number) ^ 0x04;
      return b;
    });
    const { code, err } = await run('verify', dir, '--json');
    expect(code).toBe(1);
    expect(err).toContain(`pocketrec: ${join(dir, 'weights-0.bin')}: SHA-256 is `);
    expect(err).toContain(`the manifest says ${manifest.files[0]?.sha256}: the file is corrupt`);
  });

  it('fails a directory that is not a package', async () => {
    const { code, err } = await run('verify', join(scratch, 'nothing-here'));
    expect(code).toBe(1);
    expect(err).toContain(`${join(scratch, 'nothing-here', 'manifest.json')}: file is missing`);
  });
});

describe('usage', () => {
  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['info'], /missing required argument 'model-dir'/],
    [['verify', modelDir, '--bogus'], /unknown option '--bogus'/],
    [
      ['data', 'stats', 'nosuchset'],
      /value 'nosuchset' is invalid for argument 'dataset'\. Allowed choices are ml-1m,/,
    ],
  ])('%j exits 2 with a message', async (argv, message) => {
    const { code, out, err } = await run(...argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(message);
    expect(err).toContain('(run with --help for usage)');
  });

  it('prints help and exits 2 when called with nothing', async () => {
    const { code, out } = await run();
    expect(code).toBe(2);
    expect(out).toContain('Usage: pocketrec');
  });

  it('--help exits 0', async () => {
    const { code, out, err } = await run('--help');
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toContain('Usage: pocketrec');
    for (const command of ['info', 'verify', 'data'])
      expect(out).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const sub = await run('verify', '--help');
    expect(sub.code).toBe(0);
    expect(sub.out).toContain('Usage: pocketrec verify [options] <model-dir>');
  });
});

describe('pocketrec data list', () => {
  it('lists the data sets as JSON', async () => {
    const { code, out } = await run('data', 'list', '--json');
    expect(code).toBe(0);
    const rows = JSON.parse(out) as { name: string; kind: string; description: string }[];
    expect(rows.find((r) => r.name === 'ml-1m')).toMatchObject({ kind: 'sequential' });
    expect(rows.map((r) => r.name)).toEqual(
      expect.arrayContaining(['ml-1m', 'beauty', 'tmall', 'frappe']),
    );
  });
});

describe('bin/pocketrec.js', () => {
  it('runs as a real process', async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolvePromise) => {
        execFile(
          process.execPath,
          ['bin/pocketrec.js', 'info', 'models/storefront-markov', '--json'],
          { cwd: root, timeout: 30_000 },
          (error, stdout, stderr) => {
            resolvePromise({ code: error ? (error.code as number | null) : 0, stdout, stderr });
          },
        );
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout) as { name: string; size: Manifest['size'] };
    expect(info.name).toBe('storefront-markov');
    expect(info.size).toEqual(manifest.size);
  });
});
