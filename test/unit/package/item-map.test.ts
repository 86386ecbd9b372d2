// The item id map's two encodings (items.txt lines, items.bin integer deltas), the format
// version that tells them apart, the compact manifest, and readItemIds, which pages use to
// read a package's ids without its weights.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../../src/package/digest.ts';
import { ModelPackageError, type ModelPackageProblem } from '../../../src/package/errors.ts';
import {
  decodeItemIds,
  encodeItemIds,
  isCanonicalIntegerId,
  itemIdEncodingFor,
} from '../../../src/package/item-map.ts';
import {
  encodeManifest,
  MANIFEST_FILE,
  type Manifest,
  parseManifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../src/package/manifest.ts';
import { directorySource } from '../../../src/package/node-fs.ts';
import { readItemIds, readModelPackage } from '../../../src/package/reader.ts';
import { repackageSpec } from '../../../src/package/repackage.ts';
import { memorySource, type PackageSource } from '../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';

type Files = Map<string, Uint8Array>;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAX = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();

function spec(ids: readonly string[]): PackageSpec {
  return {
    kind: 'sequential-test',
    name: 'item-map',
    architecture: { dims: 2 },
    items: { count: ids.length, ids },
    training: { dataset: 'unit' },
    denseEquivalent: { params: 8, embeddingParams: 4 },
    createdAt: new Date('2026-01-01T00:00:00Z'),
    tensors: [{ name: 'w', dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
  };
}

async function built(ids: readonly string[]): Promise<Files> {
  return (await buildModelPackage(spec(ids))).files;
}

function manifestOf(files: Files): Manifest {
  return JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE))) as Manifest;
}

/** The manifest edited and sealed again, so only the edit can be wrong. */
async function edited(files: Files, edit: (m: Manifest) => void): Promise<Files> {
  const { manifestSha256: _, ...rest } = manifestOf(files);
  edit(rest as Manifest);
  const sealed = await sealManifest(rest as UnsealedManifest);
  return new Map([...files, [MANIFEST_FILE, encodeManifest(sealed)]]);
}

/** `path` holding `bytes`, its length and hash in the manifest updated to match. */
async function withFile(files: Files, path: string, bytes: Uint8Array): Promise<Files> {
  const digest = await sha256Hex(bytes);
  const next = await edited(files, (m) => {
    const entry = m.files.find((f) => f.path === path);
    if (!entry) throw new Error(`no file ${path}`);
    entry.bytes = bytes.byteLength;
    entry.sha256 = digest;
  });
  next.set(path, bytes);
  return next;
}

async function refusal(files: Files): Promise<ModelPackageError> {
  const error = await readModelPackage(memorySource(files, 'pkg')).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelPackageError);
  return error as ModelPackageError;
}

async function expectRefused(
  files: Files,
  code: ModelPackageProblem,
  file: string,
  message: RegExp,
): Promise<void> {
  const error = await refusal(files);
  expect({ code: error.code, file: error.file }).toEqual({ code, file: `pkg/${file}` });
  expect(error.message).toMatch(message);
}

/** A source that records every file asked for. */
function recording(files: Files): { source: PackageSource; reads: string[] } {
  const reads: string[] = [];
  const inner = memorySource(files, 'pkg');
  return {
    reads,
    source: {
      locate: inner.locate,
      read: (path, limit) => {
        reads.push(path);
        return inner.read(path, limit);
      },
    },
  };
}

describe('integer ids are written as items.bin', () => {
  const cases: [string, string[]][] = [
    ['ascending from 0', ['0', '1', '2', '10', '1000']],
    ['in no order (deltas of both signs)', ['3186', '1721', '1022', '1270', '2340', '1']],
    ['the largest safe integers, both ways', [String(MAX), '0', String(MAX - 1), '5']],
    ['one id', ['42']],
  ];
  for (const [what, ids] of cases) {
    it(`round trips ${what}`, async () => {
      const files = await built(ids);
      expect([...files.keys()].sort()).toEqual(['items.bin', MANIFEST_FILE, 'weights-0.bin']);
      const pkg = await readModelPackage(memorySource(files));
      expect(pkg.manifest.formatVersion).toBe(2);
      expect(pkg.manifest.items).toEqual({
        count: ids.length,
        idMap: 'items.bin',
        idEncoding: 'integer-deltas',
      });
      expect(pkg.itemIds).toEqual(ids);
      expect((await readItemIds(memorySource(files))).itemIds).toEqual(ids);
    });
  }

  it('stores zigzag LEB128 deltas from the previous id, the first from 0', () => {
    // 5: +5 (zigzag 10); 3: -2 (zigzag 3); 1000: +997 (zigzag 1994 = 0x4a + 15·128).
    expect([...encodeItemIds(['5', '3', '1000'], 'integer-deltas')]).toEqual([
      0x0a, 0x03, 0xca, 0x0f,
    ]);
    expect([...encodeItemIds(['0'], 'integer-deltas')]).toEqual([0]);
    // The widest deltas, ±(2^53 - 1), take the full 8 bytes.
    expect(encodeItemIds(['0', String(MAX)], 'integer-deltas').byteLength).toBe(1 + 8);
    expect(encodeItemIds([String(MAX), '0'], 'integer-deltas').byteLength).toBe(8 + 8);
  });

  it('takes about a third of the bytes of items.txt for the ML-1M ids of a shipped model', async () => {
    const text = readFileSync(join(root, 'models/ml-1m-tt-r12/items.txt'), 'utf8');
    const ids = text.trimEnd().split('\n');
    const binary = encodeItemIds(ids, 'integer-deltas');
    expect(binary.byteLength).toBeLessThan(text.length / 2);
    expect(decodeItemIds(binary, ids.length, 'integer-deltas', 'items.bin')).toEqual(ids);
  });
});

describe('other ids stay in items.txt', () => {
  for (const odd of ['a1', '007', '1.5', ' 3', '-1', '1e3', '+4', '00', String(MAX + 1)]) {
    it(`when one of them is ${JSON.stringify(odd)}`, async () => {
      expect(isCanonicalIntegerId(odd)).toBe(false);
      const ids = ['1', '2', odd];
      expect(itemIdEncodingFor(ids)).toBe('lines');
      const files = await built(ids);
      expect(files.has('items.bin')).toBe(false);
      expect(new TextDecoder().decode(files.get('items.txt'))).toBe(`1\n2\n${odd}\n`);
      const manifest = manifestOf(files);
      // Nothing a version-1 reader cannot read: such packages stay version 1.
      expect(manifest.formatVersion).toBe(1);
      expect(manifest.items).toEqual({ count: 3, idMap: 'items.txt', idEncoding: 'lines' });
    });
  }

  it('reads them back as written (and still refuses an id with surrounding spaces)', async () => {
    const pkg = await readModelPackage(memorySource(await built(['a1', '007', '1.5', '7'])));
    expect(pkg.itemIds).toEqual(['a1', '007', '1.5', '7']);
    await expectRefused(await built(['1', ' 3']), 'bad-item-map', 'items.txt', /surrounding/);
  });

  it('as does an empty id list, which needs no new format version', async () => {
    const files = await built([]);
    expect(files.get('items.txt')?.byteLength).toBe(0);
    expect(manifestOf(files).formatVersion).toBe(1);
    expect((await readModelPackage(memorySource(files))).itemIds).toEqual([]);
  });
});

describe('a hostile items.bin is refused with bad-item-map, naming the id and byte', () => {
  const ids = ['1', '2', '3'];
  const cases: [string, number[], RegExp][] = [
    ['a varint cut off by the end of the file', [0x02, 0x02, 0x82], /id 3 \(byte 2\).*cut off/],
    ['a varint over 8 bytes', [0x02, ...Array(8).fill(0xff), 0x01], /id 2.*longer than 8 bytes/],
    [
      'a delta beyond the safe integers',
      [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x02, 0x02],
      /id 1 \(byte 0\).*beyond the safe integer range/,
    ],
    [
      'an id beyond the safe integers',
      [...encodeItemIds([String(MAX)], 'integer-deltas'), 0x02, 0x02],
      /id 2 \(byte 8\): id is beyond the safe integer range/,
    ],
    ['a negative id', [0x02, 0x05, 0x02], /id 2 \(byte 1\): id is negative \(-2\)/],
    ['a duplicate id', [0x02, 0x02, 0x00], /id 3 \(byte 2\): item id "2" is listed twice/],
    ['a duplicate after a detour', [0x02, 0x02, 0x01], /id 3.*item id "1" is listed twice/],
    ['a redundant zero byte (overlong varint)', [0x82, 0x00, 0x02, 0x02], /redundant zero/],
    [
      'bytes after the stated count',
      [0x02, 0x02, 0x02, 0x02],
      /1 byte follow the 3 ids the manifest states, from byte 3/,
    ],
    ['fewer ids than the stated count', [0x02, 0x02], /has 2 ids, the manifest says 3 items/],
    ['no ids at all', [], /has 0 ids, the manifest says 3 items/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, async () => {
      const files = await withFile(await built(ids), 'items.bin', Uint8Array.from(bytes));
      await expectRefused(files, 'bad-item-map', 'items.bin', message);
      // The page-side reader refuses it alike.
      await expect(readItemIds(memorySource(files, 'pkg'))).rejects.toMatchObject({
        code: 'bad-item-map',
      });
    });
  }

  it('decodes no more than the stated count, however many ids the file holds', async () => {
    // A million one-byte ids for 3 items: refused at the fourth, not after building a million.
    const files = await withFile(await built(ids), 'items.bin', new Uint8Array(1e6).fill(2));
    await expectRefused(files, 'bad-item-map', 'items.bin', /999997 bytes follow the 3 ids/);
  });

  it('checks length and hash before decoding', async () => {
    const files = await built(ids);
    files.set('items.bin', Uint8Array.of(0x02, 0x02, 0x04));
    await expectRefused(files, 'hash-mismatch', 'items.bin', /SHA-256/);
    const { source, reads } = recording(files);
    await expect(readItemIds(source)).rejects.toMatchObject({ code: 'hash-mismatch' });
    expect(reads).toEqual([MANIFEST_FILE, 'items.bin']);
  });

  it('holds under random byte edits: refused, or decoded to ids that encode to the same bytes', () => {
    const random = seededRandom(0x1d_ba5e);
    const base = encodeItemIds(
      Array.from({ length: 60 }, (_, i) => String((i * 104_729 + 7) % 1_000_003)),
      'integer-deltas',
    );
    let accepted = 0;
    for (let round = 0; round < 2000; round++) {
      const bytes = base.slice(0, base.byteLength - Math.floor(random() * 3));
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        // Half the edits write a byte varints treat specially: zero, a lone continuation, all ones.
        const special = [0x00, 0x80, 0xff, 0x7f, 0x01][Math.floor(random() * 10)];
        bytes[Math.floor(random() * bytes.byteLength)] = special ?? Math.floor(random() * 256);
      }
      const count = 58 + Math.floor(random() * 3);
      let decoded: string[];
      try {
        decoded = decodeItemIds(bytes, count, 'integer-deltas', 'items.bin');
      } catch (error) {
        expect(error).toBeInstanceOf(ModelPackageError);
        expect((error as ModelPackageError).code).toBe('bad-item-map');
        continue;
      }
      accepted++;
      expect(decoded).toHaveLength(count);
      expect(new Set(decoded).size).toBe(count);
      expect(decoded.every(isCanonicalIntegerId)).toBe(true);
      // One list of ids, one byte string: nothing else decodes to the same ids.
      expect(Buffer.compare(encodeItemIds(decoded, 'integer-deltas'), bytes)).toBe(0);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('items.idEncoding and the format version', () => {
  it('refuses an encoding it does not know, naming it', async () => {
    for (const value of ['base64', 'Lines', 7, null]) {
      const files = await edited(await built(['1', '2']), (m) => {
        (m.items as Record<string, unknown>).idEncoding = value;
      });
      const error = await refusal(files);
      expect(error.code).toBe('bad-manifest');
      expect(error.message).toContain(
        `"items.idEncoding" ${JSON.stringify(value)} is not an id map encoding this reader knows`,
      );
    }
  });

  it('refuses integer deltas in a version-1 manifest, which a version-1 reader would read as text', async () => {
    const files = await edited(await built(['1', '2']), (m) => {
      (m as { formatVersion: number }).formatVersion = 1;
    });
    await expectRefused(
      files,
      'bad-manifest',
      MANIFEST_FILE,
      /"items.idEncoding" "integer-deltas" needs format version 2, the manifest says 1/,
    );
  });

  it('reads an absent encoding as lines, and a version-2 manifest with lines', async () => {
    const withoutEncoding = await edited(await built(['a', 'b']), (m) => {
      delete m.items.idEncoding;
    });
    expect((await readModelPackage(memorySource(withoutEncoding))).itemIds).toEqual(['a', 'b']);
    const version2 = await edited(await built(['a', 'b']), (m) => {
      (m as { formatVersion: number }).formatVersion = 2;
    });
    expect((await readModelPackage(memorySource(version2))).itemIds).toEqual(['a', 'b']);
  });

  it('reads items.bin by its stated encoding, not by its name', async () => {
    const files = await built(['1', '2']);
    const misread = await edited(files, (m) => {
      m.items.idEncoding = 'lines';
    });
    await expectRefused(misread, 'bad-item-map', 'items.bin', /has 1 ids, the manifest says 2/);
  });
});

describe('packages written before items.bin', () => {
  it('load as they are: a pretty-printed version-1 manifest and items.txt of integer ids', async () => {
    const dir = join(root, 'models/ml-1m-tt-r12');
    const manifestText = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
    expect(manifestText).toContain('\n  "formatVersion": 1,\n');
    const pkg = await readModelPackage(directorySource(dir));
    expect(pkg.manifest.items.idMap).toBe('items.txt');
    expect(pkg.manifest.items.idEncoding).toBeUndefined();
    const lines = readFileSync(join(dir, 'items.txt'), 'utf8').trimEnd().split('\n');
    expect(pkg.itemIds).toEqual(lines);
    const { itemIds } = await readItemIds(directorySource(dir));
    expect(itemIds).toEqual(lines);

    // Written again (as quantize does), the same ids go to items.bin and nothing else changes.
    const again = await buildModelPackage(
      repackageSpec(pkg, { name: 'again', notes: 'item-map.test.ts', metrics: {} }),
    );
    expect([...again.files.keys()].sort()).toEqual(['items.bin', MANIFEST_FILE, 'weights-0.bin']);
    const weights = readFileSync(join(dir, 'weights-0.bin'));
    expect(Buffer.compare(again.files.get('weights-0.bin') as Uint8Array, weights)).toBe(0);
    const reread = await readModelPackage(memorySource(again.files));
    expect(reread.itemIds).toEqual(lines);
    expect(reread.manifest.formatVersion).toBe(2);
  });

  it('load from the shipped storefront model, whose ids are not integers', async () => {
    const pkg = await readModelPackage(directorySource(join(root, 'models/storefront-markov')));
    expect(pkg.manifest.formatVersion).toBe(1);
    expect(pkg.itemIds?.slice(0, 2)).toEqual(['p0001', 'p0002']);
  });
});

describe('the compact manifest', () => {
  it('is JSON on one line, and its digest is still that of the canonical form', async () => {
    const { files, manifest } = await buildModelPackage(spec(['1', '2']));
    const text = new TextDecoder().decode(files.get(MANIFEST_FILE));
    expect(text).toBe(`${JSON.stringify(manifest)}\n`);
    expect(text.trimEnd()).not.toMatch(/\n|": |, "/);
    const { manifestSha256, ...rest } = manifest;
    expect(manifestSha256).toBe(await sha256Hex(encoder.encode(canonicalJson(rest))));
    expect(await parseManifest(files.get(MANIFEST_FILE) as Uint8Array)).toEqual(manifest);
  });

  it('verifies the same pretty-printed, so whitespace was never part of the digest', async () => {
    const { manifest } = await buildModelPackage(spec(['1', '2']));
    const pretty = encoder.encode(`${JSON.stringify(manifest, null, 2)}\n`);
    expect(await parseManifest(pretty)).toEqual(manifest);
  });

  it('is smaller by a third for a shipped model written again', async () => {
    const dir = join(root, 'models/ml-1m-tt-r12');
    const pkg = await readModelPackage(directorySource(dir));
    const before = readFileSync(join(dir, MANIFEST_FILE)).byteLength;
    const after = encodeManifest(pkg.manifest).byteLength;
    expect(after).toBeLessThan(before * 0.8);
  });
});

describe('readItemIds', () => {
  it('reads the manifest and the id map, never the weights', async () => {
    const { source, reads } = recording(await built(['10', '20']));
    const { manifest, itemIds } = await readItemIds(source);
    expect(itemIds).toEqual(['10', '20']);
    expect(manifest.items.count).toBe(2);
    expect(reads).toEqual([MANIFEST_FILE, 'items.bin']);
  });

  it('answers null for a package without an id map, reading only the manifest', async () => {
    const files = (await buildModelPackage({ ...spec([]), items: { count: 3 } })).files;
    const { source, reads } = recording(files);
    expect((await readItemIds(source)).itemIds).toBeNull();
    expect(reads).toEqual([MANIFEST_FILE]);
  });

  it('refuses an edited manifest like the full reader', async () => {
    const files = await built(['1', '2']);
    const text = new TextDecoder().decode(files.get(MANIFEST_FILE)).replace('"item-map"', '"x"');
    files.set(MANIFEST_FILE, encoder.encode(text));
    await expect(readItemIds(memorySource(files))).rejects.toMatchObject({
      code: 'manifest-digest',
    });
  });
});
