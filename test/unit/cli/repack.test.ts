// `pocketrec repack`: a package written in the first format (indented manifest, items.txt)
// comes back in this version's (compact manifest, items.bin for integer ids), smaller by
// exactly its fixed costs: every tensor byte for byte, name, notes, metrics and creation
// time kept, and the ids in the same rows. Repacking in place replaces it whole.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { sha256Hex } from '../../../src/package/digest.ts';
import { sealManifest, type UnsealedManifest } from '../../../src/package/manifest.ts';
import { directorySource, writePackageDirectory } from '../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { runCli as run, tinyModel } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-repack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(async () => {
  await useWasmBackend();
});

/** A package as the first format wrote it: ids one per line, the manifest indented. */
async function firstFormatPackage(dir: string): Promise<void> {
  const spec = await sequentialPackageSpec(tinyModel(50, 8, 0.3), {
    name: 'old',
    dataset: 'ml-1m',
    notes: '{"command":"npx pocketrec train ..."}',
  });
  const ids = Array.from({ length: 50 }, (_, i) => `${(i * 37) % 101}`);
  const built = await buildModelPackage({
    ...spec,
    items: { count: 50, ids },
    training: { ...spec.training, metrics: { 'validation/NDCG@10': 0.25 } },
    createdAt: new Date('2026-06-01T00:00:00Z'),
  });
  const files = new Map(built.files);
  const { idMap, idEncoding, ...items } = built.manifest.items;
  const lines = new TextEncoder().encode(ids.map((id) => `${id}\n`).join(''));
  files.delete(idMap as string);
  files.set('items.txt', lines);
  const { manifestSha256, ...unsealed } = built.manifest;
  const manifest = await sealManifest({
    ...unsealed,
    formatVersion: 1,
    items: { ...items, idMap: 'items.txt' },
    files: [
      ...built.manifest.files.filter((f) => f.path !== idMap),
      { path: 'items.txt', bytes: lines.byteLength, sha256: await sha256Hex(lines) },
    ],
  } as UnsealedManifest);
  expect(idEncoding).toBe('integer-deltas');
  files.set('manifest.json', new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  await writePackageDirectory(dir, files);
}

const sizeOf = (dir: string) =>
  readdirSync(dir).reduce((n, f) => n + readFileSync(join(dir, f)).byteLength, 0);

describe('pocketrec repack', () => {
  it('rewrites a first-format package smaller, its tensors, ids and provenance unchanged', async () => {
    const old = join(scratch, 'old');
    await firstFormatPackage(old);
    expect((await run('verify', old)).code).toBe(0);
    const out = join(scratch, 'new');
    const result = await run('repack', old, '--out', out, '--json');
    expect(result.err).toBe('');
    const summary = JSON.parse(result.out) as { bytesBefore: number; bytesAfter: number };
    expect(summary.bytesBefore).toBe(sizeOf(old));
    expect(summary.bytesAfter).toBe(sizeOf(out));
    expect(summary.bytesAfter).toBeLessThan(summary.bytesBefore);
    expect(readdirSync(out).sort()).toEqual(['items.bin', 'manifest.json', 'weights-0.bin']);
    expect(
      readFileSync(join(out, 'weights-0.bin')).equals(readFileSync(join(old, 'weights-0.bin'))),
    ).toBe(true);
    const before = JSON.parse(readFileSync(join(old, 'manifest.json'), 'utf8'));
    const after = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    for (const key of [
      'name',
      'kind',
      'createdAt',
      'architecture',
      'training',
      'tensors',
      'size',
    ]) {
      expect(after[key], key).toEqual(before[key]);
    }
    expect(after.items).toEqual({ count: 50, idMap: 'items.bin', idEncoding: 'integer-deltas' });
    // The same ids in the same rows, so the same model over the same catalogue.
    const idsOf = async (dir: string) => (await readModelPackage(directorySource(dir))).itemIds;
    expect(await idsOf(out)).toEqual(await idsOf(old));
    expect(await idsOf(out)).toHaveLength(50);
  });

  it('replaces a package in place, never another one, and refuses one that does not verify', async () => {
    const dir = join(scratch, 'inplace');
    await firstFormatPackage(dir);
    const before = sizeOf(dir);
    expect((await run('repack', dir, '--out', dir)).code).toBe(0);
    expect(sizeOf(dir)).toBeLessThan(before);
    expect((await run('verify', dir)).code).toBe(0);
    const other = join(scratch, 'new');
    const taken = await run('repack', dir, '--out', other);
    expect(taken.code).not.toBe(0);
    expect(taken.err).toMatch(/already holds another model package/);
    writeFileSync(join(dir, 'weights-0.bin'), new Uint8Array(8));
    const broken = await run('repack', dir, '--out', join(scratch, 'never'));
    expect(broken.code).not.toBe(0);
    expect(broken.err).toMatch(/weights-0.bin/);
  });
});
