// Seeded mutation fuzzing of the shipped model package, part of the hostile-package suite
// (test/fixtures/hostile): every mutant must be rejected with a ModelPackageError or read back
// exactly and then load in every path (the structural check of verify and info, the Markov
// loader, the runtime engine); nothing may crash with another error, hang, or pass the
// corpus's time and memory budget.
// Each failure prints the mutant's seed and the base seed; FUZZ_SEED=<base> reruns the same set.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { markovFromPackage } from '../../../src/model/markov.ts';
import { checkModelStructure } from '../../../src/model/package-structure.ts';
import { canonicalJson, sha256Hex } from '../../../src/package/digest.ts';
import { asBytes, DTYPES } from '../../../src/package/dtypes.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import {
  MANIFEST_FILE,
  type Manifest,
  sealManifest,
  type UnsealedManifest,
} from '../../../src/package/manifest.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { seededRandom } from '../../../src/random.ts';
import { Engine } from '../../../src/runtime/engine/engine.ts';
import { HOSTILE_BUDGET, peakBytesOf } from '../../fixtures/hostile/budget.ts';

type Files = Map<string, Uint8Array>;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const modelDir = join(root, 'models/storefront-markov');
const LABEL = 'fuzz';
const BASE_SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026) >>> 0;
const PER_CLASS = 200;
const TIMEOUT_MS = 2000;

const original: Files = new Map(
  ['manifest.json', 'weights-0.bin', 'items.txt'].map((name) => [
    name,
    new Uint8Array(readFileSync(join(modelDir, name))),
  ]),
);
const originalManifest = JSON.parse(
  new TextDecoder().decode(original.get(MANIFEST_FILE)),
) as Manifest;
const HASHED = originalManifest.files.map((f) => f.path);
const ALL = [...original.keys()];
const encoder = new TextEncoder();

class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

interface Mutant {
  files: Files;
  description: string;
  /** The manifest was re-sealed after an edit, so it may describe a different valid package. */
  resealed: boolean;
  /** Nothing the package lists changed (unlisted extra files): it must still be read. */
  mustAccept?: boolean;
}

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;

function copy(files: Files): Files {
  return new Map([...files].map(([k, v]) => [k, v.slice()]));
}

function manifestJson(): Manifest {
  return structuredClone(originalManifest);
}

function set(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

async function withManifest(value: unknown, seal: boolean): Promise<Files> {
  const written = seal ? await sealManifest(value as UnsealedManifest) : value;
  return new Map(original).set(
    MANIFEST_FILE,
    encoder.encode(`${JSON.stringify(written, null, 2)}\n`),
  );
}

function flipBits(bytes: Uint8Array, rng: Rng, count: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < count; i++) {
    const at = rng.int(out.length);
    out[at] = (out[at] as number) ^ (1 << rng.int(8));
  }
  return out;
}

// ---- manifest edits: each returns a description and edits the JSON in place --------------

type Edit = (m: Manifest, rng: Rng) => string;

const tensorAt = (m: Manifest, rng: Rng) => {
  const i = rng.int(m.tensors.length);
  return { i, t: m.tensors[i] as Manifest['tensors'][number] };
};
const fileAt = (m: Manifest, rng: Rng) => {
  const i = rng.int(m.files.length);
  return { i, f: m.files[i] as Manifest['files'][number] };
};
const WEIRD_NUMBERS = [-1, 0.5, '8', null, 2 ** 53, 2 ** 31, -(2 ** 31), 1e300, true];
const BAD_PATHS = [
  '../x',
  '../items.txt',
  '/etc/passwd',
  'a/b.bin',
  'sub\\weights-0.bin',
  '.hidden',
  '',
  '..',
  'manifest.json',
  'x'.repeat(200),
  'weights-0.bin\u0000',
  'C:\\x',
];

const EDITS: Record<string, Edit> = {
  shape(m, rng) {
    const { i, t } = tensorAt(m, rng);
    const n = t.shape[0] as number;
    const shape = rng.pick<unknown>([
      [n + 1],
      [n - 1],
      [n, 2],
      [Math.max(1, n >> 1), 2],
      [],
      [0],
      [-n],
      [n + 0.5],
      [String(n)],
      [2 ** 53],
      [2 ** 30, 2 ** 30],
      [0, 2 ** 53 - 1],
      [n, 1, 1, 1],
      'n',
    ]);
    set(t, 'shape', shape);
    return `tensors[${i}].shape = ${JSON.stringify(shape)}`;
  },
  offset(m, rng) {
    const { i, t } = tensorAt(m, rng);
    const other = m.tensors[rng.int(m.tensors.length)] as Manifest['tensors'][number];
    const offset = rng.pick<unknown>([
      t.offset + 1,
      t.offset + 2,
      t.offset + 4,
      t.offset + 8,
      t.offset - 4,
      other.offset,
      598636,
      598632,
      2 ** 53 - 4,
      -8,
      '0',
      ...WEIRD_NUMBERS,
    ]);
    if (rng.chance(0.2)) {
      // Swap two tensors' places.
      const a = t.offset;
      t.offset = other.offset;
      other.offset = a;
      return `swap offsets of tensors[${i}] and "${other.name}"`;
    }
    set(t, 'offset', offset);
    return `tensors[${i}].offset = ${JSON.stringify(offset)}`;
  },
  dtype(m, rng) {
    const { i, t } = tensorAt(m, rng);
    const dtype = rng.pick<unknown>([
      ...DTYPES,
      'bfloat16',
      'float64',
      'int64',
      'FLOAT32',
      '',
      null,
      4,
    ]);
    set(t, 'dtype', dtype);
    if (dtype === 'int8' && rng.chance(0.5)) set(t, 'scale', rng.pick([1, 0.01, 0, -1, null]));
    return `tensors[${i}].dtype = ${JSON.stringify(dtype)} scale=${JSON.stringify(t.scale)}`;
  },
  size(m, rng) {
    const key = rng.pick(Object.keys(m.size)) as keyof Manifest['size'];
    const v = m.size[key];
    const value = rng.pick<unknown>([
      v + 1,
      v - 1,
      v * 2,
      0,
      -v,
      String(v),
      null,
      v + 1e-12,
      1e308,
    ]);
    set(m.size, key, value);
    return `size.${key} = ${JSON.stringify(value)}`;
  },
  fileBytes(m, rng) {
    const { i, f } = fileAt(m, rng);
    const value = rng.pick<unknown>([f.bytes + 1, f.bytes - 1, 0, f.bytes * 2, ...WEIRD_NUMBERS]);
    set(f, 'bytes', value);
    return `files[${i}].bytes = ${JSON.stringify(value)}`;
  },
  hash(m, rng) {
    const { i, f } = fileAt(m, rng);
    const other = m.files[(i + 1) % m.files.length] as Manifest['files'][number];
    const value = rng.pick<unknown>([
      other.sha256,
      '0'.repeat(64),
      f.sha256.toUpperCase(),
      f.sha256.slice(1),
      `${f.sha256}0`,
      f.sha256.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')),
      null,
    ]);
    set(f, 'sha256', value);
    return `files[${i}].sha256 = ${JSON.stringify(value)}`;
  },
  version(m, rng) {
    if (rng.chance(0.25)) {
      const format = rng.pick(['pocketrec', 'tfjs-layers-model', '', 'POCKETREC-MODEL']);
      set(m, 'format', format);
      return `format = ${JSON.stringify(format)}`;
    }
    const version = rng.pick<unknown>([0, 3, 1.5, '1', null, -1, 1e9]);
    set(m, 'formatVersion', version);
    return `formatVersion = ${JSON.stringify(version)}`;
  },
  path(m, rng) {
    const path = rng.pick(BAD_PATHS);
    const where = rng.int(3);
    if (where === 0) {
      const { i, f } = fileAt(m, rng);
      for (const t of m.tensors) if (t.file === f.path) t.file = path;
      if (m.items.idMap === f.path) m.items.idMap = path;
      f.path = path;
      return `files[${i}].path = ${JSON.stringify(path)} (references follow)`;
    }
    if (where === 1) {
      const { i, t } = tensorAt(m, rng);
      t.file = path;
      return `tensors[${i}].file = ${JSON.stringify(path)}`;
    }
    m.items.idMap = path;
    return `items.idMap = ${JSON.stringify(path)}`;
  },
  items(m, rng) {
    const value = rng.pick<unknown>([
      m.items.count + 1,
      m.items.count - 1,
      0,
      2 ** 53 - 1,
      -1,
      'weights-0.bin',
      null,
    ]);
    if (typeof value === 'string' || value === null) {
      m.items.idMap = value;
      return `items.idMap = ${JSON.stringify(value)}`;
    }
    set(m.items, 'count', value);
    return `items.count = ${JSON.stringify(value)}`;
  },
  structure(m, rng) {
    switch (rng.int(9)) {
      case 0: {
        const { i } = tensorAt(m, rng);
        m.tensors.splice(i, 1);
        return `remove tensors[${i}]`;
      }
      case 1: {
        const { t } = tensorAt(m, rng);
        m.tensors.push({ ...t });
        return `duplicate tensor "${t.name}"`;
      }
      case 2: {
        const { t } = tensorAt(m, rng);
        m.tensors.push({ ...t, name: `${t.name}/alias` });
        return `alias tensor "${t.name}" (overlaps)`;
      }
      case 3: {
        const { i } = fileAt(m, rng);
        m.files.splice(i, 1);
        return `remove files[${i}]`;
      }
      case 4: {
        const { f } = fileAt(m, rng);
        m.files.push({ ...f });
        return `duplicate file "${f.path}"`;
      }
      case 5: {
        const key = rng.pick([
          'kind',
          'name',
          'createdAt',
          'architecture',
          'items',
          'training',
          'size',
          'files',
          'tensors',
          'manifestSha256',
        ]);
        set(m, key, undefined);
        return `remove "${key}"`;
      }
      case 6: {
        const kind = rng.pick(['Sequential', '', 'a b', '-x', 'sequential-markov-2']);
        set(m, 'kind', kind);
        return `kind = ${JSON.stringify(kind)}`;
      }
      case 7: {
        const { i, t } = tensorAt(m, rng);
        set(t, rng.pick(['scale', 'role']), rng.pick<unknown>([0.5, 'item-embedding', 'bias']));
        return `tensors[${i}] scale/role = ${JSON.stringify([t.scale, t.role])}`;
      }
      default: {
        // Fields a reader does not know: fine when sealed, an unsealed edit otherwise.
        set(m, 'license', 'none');
        set(m.tensors[0] as object, 'comment', 'x');
        return 'add unknown fields';
      }
    }
  },
};

/** An edit that really changes the manifest's content (a no-op, like swapping a tensor with itself, is redrawn). */
function realEdit(rng: Rng): { m: Manifest; what: string } {
  for (;;) {
    const m = manifestJson();
    const key = rng.pick(Object.keys(EDITS));
    const what = (EDITS[key] as Edit)(m, rng);
    if (canonicalJson(m) !== canonicalJson(originalManifest)) return { m, what: `${key}: ${what}` };
  }
}

// ---- mutation classes ---------------------------------------------------------------------

type MutationClass = (rng: Rng) => Promise<Mutant>;

const CLASSES: Record<string, MutationClass> = {
  async truncate(rng) {
    const files = copy(original);
    const name = rng.pick(ALL);
    const bytes = files.get(name) as Uint8Array;
    const keep = rng.pick([0, 1, bytes.length - 1, rng.int(bytes.length)]);
    files.set(name, bytes.slice(0, keep));
    return {
      files,
      description: `truncate ${name} to ${keep} of ${bytes.length}`,
      resealed: false,
    };
  },
  async 'bit-flip'(rng) {
    const files = copy(original);
    const name = rng.pick(ALL);
    files.set(name, flipBits(files.get(name) as Uint8Array, rng, 1));
    return { files, description: `flip 1 bit in ${name}`, resealed: false };
  },
  async 'multi-bit-flip'(rng) {
    const files = copy(original);
    const names = rng.chance(0.3) ? ALL : [rng.pick(ALL)];
    const count = 2 + rng.int(15);
    for (const name of names) files.set(name, flipBits(files.get(name) as Uint8Array, rng, count));
    return { files, description: `flip ${count} bits in ${names.join('+')}`, resealed: false };
  },
  async insert(rng) {
    const files = copy(original);
    const name = rng.pick(ALL);
    const bytes = files.get(name) as Uint8Array;
    const at = rng.pick([0, bytes.length, rng.int(bytes.length + 1)]);
    const insert = rng.chance(0.3)
      ? encoder.encode(rng.pick([' ', '\n', '0', ',', '\n\n', '\t']))
      : Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256));
    const out = new Uint8Array(bytes.length + insert.length);
    out.set(bytes.subarray(0, at));
    out.set(insert, at);
    out.set(bytes.subarray(at), at + insert.length);
    files.set(name, out);
    return { files, description: `insert [${insert}] into ${name} at ${at}`, resealed: false };
  },
  async delete(rng) {
    const files = copy(original);
    const name = rng.pick(ALL);
    const bytes = files.get(name) as Uint8Array;
    const count = 1 + rng.int(8);
    const at = rng.int(bytes.length - count);
    const out = new Uint8Array(bytes.length - count);
    out.set(bytes.subarray(0, at));
    out.set(bytes.subarray(at + count), at);
    files.set(name, out);
    return { files, description: `delete ${count} bytes of ${name} at ${at}`, resealed: false };
  },
  async 'manifest-sealed'(rng) {
    const { m, what } = realEdit(rng);
    return { files: await withManifest(m, true), description: `sealed ${what}`, resealed: true };
  },
  async 'manifest-unsealed'(rng) {
    const { m, what } = realEdit(rng);
    return {
      files: await withManifest(m, false),
      description: `unsealed ${what}`,
      resealed: false,
    };
  },
  async rehashed(rng) {
    // A data file changed and its manifest entry updated and re-sealed, as a careless tool
    // might: the hashes pass, so the content checks (item map, finite weights, model) must hold.
    const m = manifestJson();
    const files = copy(original);
    const name = rng.pick(HASHED);
    const bytes = files.get(name) as Uint8Array;
    let out: Uint8Array;
    let what: string;
    if (name === 'items.txt' && rng.chance(0.6)) {
      const lines = new TextDecoder().decode(bytes).split('\n');
      const i = rng.int(lines.length - 1);
      const j = rng.int(lines.length - 1);
      const choice = rng.int(5);
      if (choice === 0) lines[i] = lines[j] as string;
      else if (choice === 1) lines.splice(i, 1);
      else if (choice === 2) lines[i] = ` ${lines[i]}`;
      else if (choice === 3) lines[i] = '';
      else lines.splice(i, 0, `new-${i}`);
      out = encoder.encode(lines.join('\n'));
      what = `items.txt line edit ${choice} at ${i}/${j}`;
    } else if (name === 'weights-0.bin' && rng.chance(0.3)) {
      // A NaN or an infinity in a float32 tensor (counts or popularity, which follow the ints).
      const { t } = tensorAt(m, rng);
      const at = t.offset + 4 * rng.int(t.shape[0] as number);
      out = bytes.slice();
      const word = rng.pick([0x7fc00000, 0x7f800000, 0xff800000, 0x7f800001]);
      new DataView(out.buffer).setUint32(at, word, true);
      what = `word 0x${word.toString(16)} into "${t.name}" at byte ${at}`;
    } else if (rng.chance(0.5)) {
      out = flipBits(bytes, rng, 1 + rng.int(3));
      what = `bit flips in ${name}`;
    } else {
      out = bytes.slice(0, rng.int(bytes.length));
      what = `truncate ${name} to ${out.length}`;
    }
    files.set(name, out);
    const entry = m.files.find((f) => f.path === name) as Manifest['files'][number];
    entry.bytes = out.length;
    entry.sha256 = await sha256Hex(out);
    const sealed = await sealManifest(m);
    files.set(MANIFEST_FILE, encoder.encode(JSON.stringify(sealed)));
    return { files, description: `rehashed ${what}`, resealed: true };
  },
  async 'missing-file'(rng) {
    const files = copy(original);
    const gone = ALL.filter(() => rng.chance(0.4));
    if (gone.length === 0) gone.push(rng.pick(ALL));
    for (const name of gone) files.delete(name);
    return { files, description: `remove ${gone.join('+')}`, resealed: false };
  },
  async 'extra-file'(rng) {
    const files = copy(original);
    const junk = Uint8Array.from({ length: rng.int(64) }, () => rng.int(256));
    const name = rng.pick(['weights-1.bin', 'junk', 'items.txt.bak', '.DS_Store', 'README']);
    files.set(name, junk);
    if (!rng.chance(0.6)) {
      return {
        files,
        description: `unlisted junk ${name} (${junk.length} B)`,
        resealed: false,
        mustAccept: true,
      };
    }
    // Listed in the manifest too, with a right or a wrong entry.
    const m = manifestJson();
    const variant = rng.int(3);
    const sha256 = variant === 1 ? originalManifest.files[0]?.sha256 : await sha256Hex(junk);
    const bytes = variant === 2 ? junk.length + 1 : junk.length;
    m.files.push({ path: name, bytes, sha256: sha256 as string });
    files.set(MANIFEST_FILE, encoder.encode(JSON.stringify(await sealManifest(m))));
    return {
      files,
      description: `listed junk ${name} (${junk.length} B, ${['right', 'wrong hash', 'wrong size'][variant]})`,
      resealed: true,
    };
  },
  async swap(rng) {
    const files = copy(original);
    const a = rng.pick(ALL);
    const b = rng.pick(ALL.filter((n) => n !== a));
    const bytesA = files.get(a) as Uint8Array;
    files.set(a, files.get(b) as Uint8Array);
    files.set(b, bytesA);
    return { files, description: `swap ${a} and ${b}`, resealed: false };
  },
};

// ---- the oracle -----------------------------------------------------------------------------

const reference = await readModelPackage(memorySource(original, LABEL));
const canonicalOriginal = canonicalJson({ ...originalManifest, manifestSha256: undefined });

function withTimeout<T>(run: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${TIMEOUT_MS} ms: ${what}`)),
      TIMEOUT_MS,
    );
  });
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

/** Tensors and ids exactly as the reference package has them. */
function identicalToOriginal(pkg: ModelPackage): string | null {
  if (pkg.tensors.size !== reference.tensors.size) return 'tensor count differs';
  for (const [name, ref] of reference.tensors) {
    const t = pkg.tensors.get(name);
    if (!t) return `tensor ${name} missing`;
    if (t.dtype !== ref.dtype || JSON.stringify(t.shape) !== JSON.stringify(ref.shape))
      return `tensor ${name} is ${t.dtype}[${t.shape}]`;
    if (!same(asBytes(t.data), asBytes(ref.data))) return `tensor ${name} bytes differ`;
  }
  if (JSON.stringify(pkg.itemIds) !== JSON.stringify(reference.itemIds)) return 'item ids differ';
  return null;
}

/** For a re-sealed manifest: whatever was accepted is what its own manifest and files say. */
function consistentWithItself(pkg: ModelPackage, files: Files): string | null {
  const { manifest } = pkg;
  if (pkg.tensors.size !== manifest.tensors.length) return 'tensor count differs from manifest';
  for (const entry of manifest.tensors) {
    const t = pkg.tensors.get(entry.name);
    if (!t) return `tensor ${entry.name} missing`;
    const file = files.get(entry.file);
    const length = t.data.byteLength;
    if (!file || entry.offset + length > file.length)
      return `tensor ${entry.name} outside its file`;
    if (t.dtype !== entry.dtype || JSON.stringify(t.shape) !== JSON.stringify(entry.shape))
      return `tensor ${entry.name} does not match its entry`;
    if (length !== entry.shape.reduce((a, b) => a * b, 1) * t.data.BYTES_PER_ELEMENT)
      return `tensor ${entry.name} has ${length} bytes for shape [${entry.shape}]`;
    if (!same(asBytes(t.data), file.subarray(entry.offset, entry.offset + length)))
      return `tensor ${entry.name} bytes differ from its file`;
  }
  for (const f of manifest.files) {
    if (!same(files.get(f.path)?.subarray(0, f.bytes), files.get(f.path)))
      return `${f.path} length`;
  }
  if (manifest.items.idMap === null) return pkg.itemIds === null ? null : 'ids without a map';
  const text = new TextDecoder().decode(files.get(manifest.items.idMap));
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  if (JSON.stringify(pkg.itemIds) !== JSON.stringify(text === '' ? [] : lines)) return 'ids differ';
  return null;
}

interface Tally {
  mutants: number;
  accepted: number;
  rejected: Record<string, number>;
  /** Mutants that changed the bytes of a hashed file without updating the manifest. */
  hashedChanged: number;
  modelRejected: number;
}

/**
 * Reads the mutant and, when it is accepted, loads it in every path that takes a package:
 * the structural check `verify` and `info` run, the toolkit's Markov loader, and the
 * runtime engine with one request. The first thing wrong, or null.
 */
async function checkMutant(
  mutant: Mutant,
  where: string,
  changesHashed: boolean,
  tally: Tally,
): Promise<string | null> {
  let pkg: ModelPackage;
  try {
    pkg = await withTimeout(readModelPackage(memorySource(mutant.files, LABEL)), where);
  } catch (error) {
    if (!(error instanceof ModelPackageError)) {
      return `${where}: threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    }
    tally.rejected[error.code] = (tally.rejected[error.code] ?? 0) + 1;
    if (!error.file.startsWith(`${LABEL}/`) || !error.message.startsWith(`${error.file}: `)) {
      return `${where}: error does not name the file: ${error.message}`;
    }
    if (mutant.mustAccept) return `${where}: rejected: ${error.message}`;
    return null;
  }

  tally.accepted++;
  if (changesHashed) return `${where}: accepted although a hashed file changed`;
  if (!mutant.resealed) {
    const problem = identicalToOriginal(pkg);
    if (problem) return `${where}: accepted with different content: ${problem}`;
    // Without a new seal, only changes the digest cannot see (whitespace, key order) may pass.
    const text = new TextDecoder().decode(mutant.files.get(MANIFEST_FILE));
    const parsed = JSON.parse(text) as Manifest;
    if (canonicalJson({ ...parsed, manifestSha256: undefined }) !== canonicalOriginal) {
      return `${where}: accepted an unsealed manifest edit`;
    }
  } else {
    const problem = consistentWithItself(pkg, mutant.files);
    if (problem) return `${where}: accepted inconsistently: ${problem}`;
  }
  try {
    checkModelStructure(pkg);
    const model = markovFromPackage(pkg);
    if (model.indptr.length !== model.numItems + 2) return `${where}: model inconsistent`;
    const engine = await Engine.create(pkg, ENGINE_OPTIONS);
    try {
      await engine.recommend(QUERY);
    } finally {
      engine.dispose();
    }
  } catch (error) {
    if (!(error instanceof ModelPackageError)) return `${where}: a loader threw ${String(error)}`;
    tally.modelRejected++;
    if (!mutant.resealed) return `${where}: the original content no longer loads as a model`;
  }
  return null;
}

const ENGINE_OPTIONS = { backend: 'wasm', incremental: true, materialiseRows: 100_000 } as const;
const QUERY = {
  history: Int32Array.of(1, 2),
  k: 5,
  exclude: new Int32Array(0),
  candidates: null,
  excludeSeen: true,
};

const tallies = new Map<string, Tally>();

async function runClass(
  name: string,
  make: MutationClass,
): Promise<{ tally: Tally; failures: string[] }> {
  const tally: Tally = {
    mutants: 0,
    accepted: 0,
    rejected: {},
    hashedChanged: 0,
    modelRejected: 0,
  };
  const failures: string[] = [];
  const classIndex = Object.keys(CLASSES).indexOf(name);
  for (let i = 0; i < PER_CLASS; i++) {
    const seed = (BASE_SEED + Math.imul(classIndex + 1, 0x9e3779b1) + i * 7919) >>> 0;
    const mutant = await make(new Rng(seed));
    const where = `[${name} seed=${seed} (FUZZ_SEED=${BASE_SEED})] ${mutant.description}`;
    tally.mutants++;
    const changesHashed =
      !mutant.resealed && HASHED.some((p) => !same(mutant.files.get(p), original.get(p)));
    if (changesHashed) tally.hashedChanged++;

    const declaredBytes = [...mutant.files.values()].reduce((n, b) => n + b.byteLength, 0);
    const started = performance.now();
    const { value: failure, peakBytes } = await peakBytesOf(() =>
      checkMutant(mutant, where, changesHashed, tally),
    );
    const ms = performance.now() - started;
    if (failure) failures.push(failure);
    // The hostile corpus's budget (test/fixtures/hostile/budget.ts) holds for every mutant too.
    if (ms > HOSTILE_BUDGET.ms || peakBytes > declaredBytes + HOSTILE_BUDGET.extraBytes) {
      failures.push(`${where}: ${Math.round(ms)} ms, peak ${peakBytes} bytes: over budget`);
    }
  }
  tallies.set(name, tally);
  return { tally, failures };
}

describe('fuzzing models/storefront-markov', () => {
  it('reads the unmutated package', () => {
    expect(reference.tensors.size).toBe(4);
    expect(reference.itemIds?.length).toBe(3000);
    expect(markovFromPackage(reference).numItems).toBe(3000);
  });

  for (const [name, make] of Object.entries(CLASSES)) {
    it(`${name}: rejects with a ModelPackageError or reads the package unchanged`, async () => {
      const { tally, failures } = await runClass(name, make);
      expect(failures.slice(0, 10), `${failures.length} failures`).toEqual([]);
      expect(tally.mutants).toBe(PER_CLASS);
      const rejected = Object.values(tally.rejected).reduce((a, b) => a + b, 0);
      expect(rejected, 'every mutation class must produce rejections').toBeGreaterThan(0);
      expect(rejected + tally.accepted).toBe(tally.mutants);
      // A real manifest edit without a new seal never passes (whitespace-only changes are other classes).
      if (name === 'manifest-unsealed') expect(tally.accepted).toBe(0);
    });
  }

  it('ran at least 1,000 mutants and rejected every change to a hashed file', () => {
    const all = [...tallies.values()];
    expect(tallies.size).toBe(Object.keys(CLASSES).length);
    const mutants = all.reduce((n, t) => n + t.mutants, 0);
    expect(mutants).toBeGreaterThanOrEqual(1000);
    // Every mutant that changed a hashed file was rejected (checked per mutant above); there were many.
    expect(all.reduce((n, t) => n + t.hashedChanged, 0)).toBeGreaterThan(300);
    const byCode: Record<string, number> = {};
    for (const t of all)
      for (const [code, n] of Object.entries(t.rejected)) byCode[code] = (byCode[code] ?? 0) + n;
    // The fuzzer reaches the deeper checks, not just the hashes.
    for (const code of [
      'non-finite',
      'missing-file',
      'truncated',
      'oversized',
      'hash-mismatch',
      'bad-manifest',
      'manifest-digest',
      'bad-path',
      'unknown-dtype',
      'bad-shape',
      'offset-out-of-range',
      'size-figures',
      'bad-item-map',
      'unsupported-version',
    ]) {
      expect(byCode[code] ?? 0, code).toBeGreaterThan(0);
    }
    const rows = [...tallies].map(([name, t]) => ({
      class: name,
      mutants: t.mutants,
      accepted: t.accepted,
      modelRejected: t.modelRejected,
      ...t.rejected,
    }));
    console.log(`fuzz seed ${BASE_SEED}: ${mutants} mutants`);
    console.table(rows);
    console.log('rejections by code', byCode);
  });
});
