/**
 * Shapley estimates on disk (Node only), and the running sums of an estimation in progress.
 *
 * A finished estimate is a directory:
 *   shapley.json          format "pocketrec-shapley", version 1, the scalar fields of
 *                         ShapleyEstimate (samples, passes, fill, seconds, dim, converged,
 *                         source), `elements` and `fields`, and under `files` each array's
 *                         file name, element count and SHA-256
 *   values.f32            Float32 [elements]            mean credit per element (row * dim + k)
 *   standard-errors.f32   Float32 [elements]            standard error of each mean
 *   counts.i32            Int32   [elements]            samples that looked each element up
 *   codebook.f32          Float32 [fields * dim]        each field's codebook vector
 * all raw little-endian, no header. The arrays are written first and shapley.json last, each
 * to a temporary name renamed into place, so shapley.json only ever names complete files;
 * the digests catch a file changed or cut short since.
 *
 * An estimation in progress is one file, progress.bin, replaced atomically after each
 * checkpoint: the 8 bytes "PRSHAPv1", a uint32 LE header length, the JSON header (the
 * position and the caller's identity of the run, padded with spaces to a multiple of 8),
 * then Float64 Σ [elements], Float64 Σ² [elements] and Int32 counts [elements], LE.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PocketrecError } from '../../errors.ts';
import { sha256Hex } from '../../package/digest.ts';
import type { ShapleySums } from './estimator.ts';
import type { FillMode, ShapleyEstimate, ShapleySource } from './values.ts';

export const SHAPLEY_FILE = 'shapley.json';
export const PROGRESS_FILE = 'progress.bin';
const FORMAT = 'pocketrec-shapley';
const VERSION = 1;
const PROGRESS_MAGIC = 'PRSHAPv1';

export type ShapleyStoreProblem = 'shapley-missing' | 'shapley-corrupt';

/** A stored estimate (or progress file) that is not there, or not what it says it is. */
export class ShapleyStoreError extends PocketrecError {
  readonly file: string;

  constructor(code: ShapleyStoreProblem, file: string, problem: string) {
    super(code, `${file}: ${problem}`);
    this.file = file;
  }
}

type Typed = Float32Array | Int32Array | Float64Array;
type TypedConstructor = Float32ArrayConstructor | Int32ArrayConstructor | Float64ArrayConstructor;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The array's bytes in little-endian order (a view on little-endian hosts, else a copy). */
function littleEndian(array: Typed): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  return HOST_LITTLE_ENDIAN ? bytes : swapped(bytes, array.BYTES_PER_ELEMENT);
}

function swapped(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j] as number;
  }
  return out;
}

/** A copy of little-endian bytes as a typed array (copied: file buffers are not aligned). */
function fromLittleEndian<T extends TypedConstructor>(bytes: Uint8Array, type: T): InstanceType<T> {
  const own = new Uint8Array(new ArrayBuffer(bytes.length));
  own.set(HOST_LITTLE_ENDIAN ? bytes : swapped(bytes, type.BYTES_PER_ELEMENT));
  return new type(own.buffer, 0, own.length / type.BYTES_PER_ELEMENT) as InstanceType<T>;
}

async function writeAtomically(
  dir: string,
  name: string,
  bytes: Uint8Array | string,
): Promise<void> {
  const temp = join(dir, `.${name}.tmp-${process.pid}`);
  await writeFile(temp, bytes);
  await rename(temp, join(dir, name));
}

async function readOrMissing(path: string, what: ShapleyStoreProblem): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ShapleyStoreError(what, path, 'file is missing');
    }
    throw error;
  }
}

interface ArrayEntry {
  file: string;
  length: number;
  sha256: string;
}

const ARRAYS = {
  values: { file: 'values.f32', type: Float32Array },
  standardErrors: { file: 'standard-errors.f32', type: Float32Array },
  counts: { file: 'counts.i32', type: Int32Array },
  codebook: { file: 'codebook.f32', type: Float32Array },
} as const;
type ArrayName = keyof typeof ARRAYS;
const ARRAY_NAMES = Object.keys(ARRAYS) as ArrayName[];

/** Writes `estimate` into `dir` (created if needed), replacing an estimate already there. */
export async function writeShapleyEstimate(dir: string, estimate: ShapleyEstimate): Promise<void> {
  const elements = estimate.values.length;
  if (estimate.standardErrors.length !== elements || estimate.counts.length !== elements) {
    throw new Error('values, standard errors and counts must have one entry per element');
  }
  if (!(estimate.dim >= 1 && estimate.codebook.length % estimate.dim === 0)) {
    throw new Error(
      `the codebook's ${estimate.codebook.length} values are not fields x ${estimate.dim}`,
    );
  }
  await mkdir(dir, { recursive: true });
  const files = {} as Record<ArrayName, ArrayEntry>;
  for (const name of ARRAY_NAMES) {
    const bytes = littleEndian(estimate[name]);
    await writeAtomically(dir, ARRAYS[name].file, bytes);
    files[name] = {
      file: ARRAYS[name].file,
      length: estimate[name].length,
      sha256: await sha256Hex(bytes),
    };
  }
  const { samples, passes, fill, seconds, dim, converged, source } = estimate;
  const header = {
    format: FORMAT,
    version: VERSION,
    elements,
    fields: estimate.codebook.length / dim,
    dim,
    samples,
    passes,
    fill,
    seconds,
    converged,
    ...(source ? { source } : {}),
    files,
  };
  await writeAtomically(dir, SHAPLEY_FILE, `${JSON.stringify(header, null, 2)}\n`);
}

/**
 * Reads an estimate written by writeShapleyEstimate. A missing shapley.json is
 * 'shapley-missing'; anything else wrong (bad JSON, a missing, short or altered array
 * file) is 'shapley-corrupt'.
 */
export async function readShapleyEstimate(dir: string): Promise<ShapleyEstimate> {
  const path = join(dir, SHAPLEY_FILE);
  const header = parseHeader(path, await readOrMissing(path, 'shapley-missing'));
  const arrays = {} as { [K in ArrayName]: InstanceType<(typeof ARRAYS)[K]['type']> };
  for (const name of ARRAY_NAMES) {
    const entry = header.files[name];
    const file = join(dir, ARRAYS[name].file);
    const bytes = await readOrMissing(file, 'shapley-corrupt');
    const expected = entry.length * ARRAYS[name].type.BYTES_PER_ELEMENT;
    if (bytes.length !== expected) {
      throw new ShapleyStoreError(
        'shapley-corrupt',
        file,
        `${bytes.length} bytes, ${SHAPLEY_FILE} says ${expected}`,
      );
    }
    if ((await sha256Hex(bytes)) !== entry.sha256) {
      throw new ShapleyStoreError(
        'shapley-corrupt',
        file,
        `SHA-256 differs from ${SHAPLEY_FILE}'s`,
      );
    }
    (arrays as Record<ArrayName, Typed>)[name] = fromLittleEndian(bytes, ARRAYS[name].type);
  }
  const { samples, passes, fill, seconds, dim, converged, source } = header;
  return {
    ...arrays,
    samples,
    passes,
    fill,
    seconds,
    dim,
    converged,
    ...(source ? { source } : {}),
  };
}

interface StoredHeader {
  elements: number;
  dim: number;
  fields: number;
  samples: number;
  passes: number;
  fill: FillMode;
  seconds: number;
  converged: boolean;
  source?: ShapleySource;
  files: Record<ArrayName, ArrayEntry>;
}

function parseHeader(path: string, bytes: Uint8Array): StoredHeader {
  const bad = (problem: string): never => {
    throw new ShapleyStoreError('shapley-corrupt', path, problem);
  };
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return bad('is not JSON');
  }
  if (h === null || typeof h !== 'object') return bad('is not a JSON object');
  if (h.format !== FORMAT || h.version !== VERSION) {
    bad(`is not a ${FORMAT} version ${VERSION} file`);
  }
  const count = (key: string) => {
    const v = h[key];
    return typeof v === 'number' && Number.isInteger(v) && v >= 0
      ? v
      : bad(`"${key}" is not a count`);
  };
  const [elements, dim, fields] = [count('elements'), count('dim'), count('fields')];
  if (dim < 1) bad('"dim" is 0');
  if (h.fill !== 'codebook' && h.fill !== 'zero') bad('"fill" is neither codebook nor zero');
  if (typeof h.converged !== 'boolean' || typeof h.seconds !== 'number')
    bad('"converged" or "seconds" is missing');
  const files = (h.files ?? {}) as Record<string, Partial<ArrayEntry>>;
  const lengths: Record<ArrayName, number> = {
    values: elements,
    standardErrors: elements,
    counts: elements,
    codebook: fields * dim,
  };
  for (const name of ARRAY_NAMES) {
    const e = files[name];
    if (
      !e ||
      e.file !== ARRAYS[name].file ||
      e.length !== lengths[name] ||
      typeof e.sha256 !== 'string'
    ) {
      bad(`files.${name} does not describe ${ARRAYS[name].file} of ${lengths[name]} elements`);
    }
  }
  return { ...(h as unknown as StoredHeader), samples: count('samples'), passes: count('passes') };
}

/** The header of progress.bin: where the run is, and the caller's record of which run. */
export interface ProgressHeader {
  elements: number;
  samples: number;
  passes: number;
  nextOffset: number;
  seconds: number;
  /** What must match for the same command to continue (package, data, fill, seed...). */
  run: Record<string, string | number>;
  /** SHA-256 of the arrays after the header. */
  sha256?: string;
}

/** Saves the running sums of an estimation and what it is an estimation of. */
export async function writeShapleyProgress(
  dir: string,
  run: ProgressHeader['run'],
  sums: ShapleySums,
): Promise<void> {
  const payload = concat([
    littleEndian(sums.sum),
    littleEndian(sums.sumSquares),
    littleEndian(sums.counts),
  ]);
  const { samples, passes, nextOffset, seconds } = sums;
  const header: ProgressHeader = {
    elements: sums.sum.length,
    samples,
    passes,
    nextOffset,
    seconds,
    run,
    sha256: await sha256Hex(payload),
  };
  const text = new TextEncoder().encode(JSON.stringify(header));
  // Spaces after the JSON keep the arrays 8-byte aligned in the file.
  const json = new Uint8Array(text.length + ((8 - ((12 + text.length) % 8)) % 8)).fill(0x20);
  json.set(text);
  const head = new Uint8Array(12);
  head.set(new TextEncoder().encode(PROGRESS_MAGIC));
  new DataView(head.buffer).setUint32(8, json.length, true);
  await mkdir(dir, { recursive: true });
  await writeAtomically(dir, PROGRESS_FILE, concat([head, json, payload]));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The saved progress in `dir`, or null when there is none; a damaged file throws. */
export async function readShapleyProgress(
  dir: string,
): Promise<{ run: ProgressHeader['run']; sums: ShapleySums } | null> {
  const path = join(dir, PROGRESS_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readOrMissing(path, 'shapley-missing');
  } catch (error) {
    if (error instanceof ShapleyStoreError) return null;
    throw error;
  }
  const bad = (problem: string): never => {
    throw new ShapleyStoreError('shapley-corrupt', path, problem);
  };
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== PROGRESS_MAGIC) {
    bad('is not a progress file');
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  let header: ProgressHeader;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + length)),
    );
  } catch {
    return bad('has no readable header');
  }
  const E = header.elements;
  const payload = bytes.subarray(12 + length);
  if (!(Number.isInteger(E) && E >= 0) || payload.length !== E * 20)
    bad(`is cut short or too long`);
  if ((await sha256Hex(payload)) !== header.sha256) bad('its sums do not match their SHA-256');
  const { samples, passes, nextOffset, seconds } = header;
  return {
    run: header.run,
    sums: {
      sum: fromLittleEndian(payload.subarray(0, 8 * E), Float64Array),
      sumSquares: fromLittleEndian(payload.subarray(8 * E, 16 * E), Float64Array),
      counts: fromLittleEndian(payload.subarray(16 * E), Int32Array),
      samples,
      passes,
      nextOffset,
      seconds,
    },
  };
}
