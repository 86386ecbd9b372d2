/**
 * The item id map: the external id of internal item i, for i = 1..items.count, in one of
 * two encodings. `lines` (items.txt) holds any ids; `integer-deltas` (items.bin) holds ids
 * that are all canonical decimal integers, such as MovieLens's, in less than half the
 * bytes (ML-1M's 3,416 ids: 6,617 against 16,136). Both decode to the same strings, so
 * nothing above the reader knows which it was.
 */
import { PocketrecError } from '../errors.ts';
import { ModelPackageError } from './errors.ts';

export const ITEM_ID_ENCODINGS = ['lines', 'integer-deltas'] as const;
export type ItemIdEncoding = (typeof ITEM_ID_ENCODINGS)[number];

/** The file name the writer gives each encoding (the manifest may name any file). */
export const ITEM_MAP_FILES: Readonly<Record<ItemIdEncoding, string>> = {
  lines: 'items.txt',
  'integer-deltas': 'items.bin',
};

/**
 * 8 bytes carry 56 bits: enough for the zigzag of any difference of two safe integers
 * (under 2^54), so a longer varint can only be hostile and is refused before it grows.
 */
export const MAX_ID_VARINT_BYTES = 8;

const CANONICAL_INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Whether `id` is the string String(n) gives for a safe non-negative integer n: only then
 * does a binary map decode back to the very same string ("007" or "1.5" would not).
 */
export function isCanonicalIntegerId(id: string): boolean {
  return CANONICAL_INTEGER.test(id) && Number(id) <= Number.MAX_SAFE_INTEGER;
}

/**
 * The encoding the writer uses for `ids`: integer deltas when every id allows it. An empty
 * list stays `lines`, which costs nothing and keeps the package readable by version-1 readers.
 */
export function itemIdEncodingFor(ids: readonly string[]): ItemIdEncoding {
  return ids.length > 0 && ids.every(isCanonicalIntegerId) ? 'integer-deltas' : 'lines';
}

export function encodeItemIds(ids: readonly string[], encoding: ItemIdEncoding): Uint8Array {
  if (encoding === 'lines') {
    // One line per id, each ending in \n: no ids is an empty file, not a single empty line.
    return new TextEncoder().encode(ids.map((id) => `${id}\n`).join(''));
  }
  const out = new Uint8Array(ids.length * MAX_ID_VARINT_BYTES);
  let at = 0;
  let previous = 0;
  for (const id of ids) {
    if (!isCanonicalIntegerId(id)) {
      throw new PocketrecError(
        'bad-item-map',
        `item id ${JSON.stringify(id)} is not a canonical non-negative safe integer, so it cannot be an integer delta`,
      );
    }
    const value = Number(id);
    const delta = value - previous;
    previous = value;
    // Zigzag without forming 2·|delta| (which can pass 2^53 and lose its low bit): the sign
    // goes in the low bit of the first byte, |delta| (or |delta| - 1 when negative) above it.
    const negative = delta < 0;
    let rest = negative ? -delta - 1 : delta;
    let byte = (rest % 64) * 2 + (negative ? 1 : 0);
    rest = Math.floor(rest / 64);
    while (rest > 0) {
      out[at++] = byte | 0x80;
      byte = rest % 128;
      rest = Math.floor(rest / 128);
    }
    out[at++] = byte;
  }
  return out.slice(0, at);
}

/**
 * The ids of an id map, checked: exactly `count` of them, none empty or repeated, and for
 * integer deltas every varint whole, at most MAX_ID_VARINT_BYTES long, without a redundant
 * zero byte, and every id a non-negative safe integer, with no byte left over. Work is one
 * pass over the bytes and nothing is allocated beyond `count` ids, whatever the file says.
 * Anything else is a ModelPackageError ('bad-item-map') naming the id and byte.
 */
export function decodeItemIds(
  bytes: Uint8Array,
  count: number,
  encoding: ItemIdEncoding,
  where: string,
): string[] {
  return encoding === 'lines'
    ? decodeLines(bytes, count, where)
    : decodeIntegerDeltas(bytes, count, where);
}

function decodeLines(bytes: Uint8Array, count: number, where: string): string[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelPackageError('bad-item-map', where, 'item id map is not valid UTF-8');
  }
  const ids = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  if (text.length === 0) ids.length = 0;
  if (ids.length !== count) {
    throw new ModelPackageError(
      'bad-item-map',
      where,
      `item id map has ${ids.length} ids, the manifest says ${count} items`,
    );
  }
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (id.length === 0 || id.trim() !== id) {
      throw new ModelPackageError(
        'bad-item-map',
        where,
        `line ${i + 1}: item id ${JSON.stringify(id)} is empty or has surrounding spaces`,
      );
    }
    if (seen.has(id))
      throw new ModelPackageError(
        'bad-item-map',
        where,
        `line ${i + 1}: item id ${JSON.stringify(id)} is listed twice`,
      );
    seen.add(id);
  });
  return ids;
}

function decodeIntegerDeltas(bytes: Uint8Array, count: number, where: string): string[] {
  const fail = (problem: string) => new ModelPackageError('bad-item-map', where, problem);
  const ids: string[] = [];
  const seen = new Set<number>();
  let previous = 0;
  let at = 0;
  while (at < bytes.byteLength) {
    const which = `id ${ids.length + 1} (byte ${at})`;
    if (ids.length === count) {
      const left = bytes.byteLength - at;
      throw fail(
        `${left} byte${left === 1 ? '' : 's'} follow the ${count} ids the manifest states, from byte ${at}`,
      );
    }
    const start = at;
    let byte = bytes[at++] as number;
    const negative = (byte & 1) === 1;
    // The zigzag value halved, summed 7 bits at a time from the least significant: each
    // partial sum is exact until it passes 2^53, and then it is refused.
    let magnitude = (byte & 0x7f) >>> 1;
    let weight = 64;
    while (byte & 0x80) {
      if (at - start === MAX_ID_VARINT_BYTES) {
        throw fail(`${which}: varint is longer than ${MAX_ID_VARINT_BYTES} bytes`);
      }
      if (at === bytes.byteLength) {
        throw fail(`${which}: varint is cut off by the end of the file`);
      }
      byte = bytes[at++] as number;
      magnitude += (byte & 0x7f) * weight;
      weight *= 128;
    }
    if (byte === 0 && at - start > 1) {
      // The writer never makes one; refusing it keeps one byte string per list of ids.
      throw fail(`${which}: varint ends in a redundant zero byte`);
    }
    if (magnitude > Number.MAX_SAFE_INTEGER) {
      throw fail(`${which}: difference from the previous id is beyond the safe integer range`);
    }
    const id = negative ? previous - magnitude - 1 : previous + magnitude;
    if (id < 0) throw fail(`${which}: id is negative (${id})`);
    if (id > Number.MAX_SAFE_INTEGER) {
      throw fail(`${which}: id is beyond the safe integer range (${Number.MAX_SAFE_INTEGER})`);
    }
    if (seen.has(id)) throw fail(`${which}: item id "${id}" is listed twice`);
    seen.add(id);
    ids.push(String(id));
    previous = id;
  }
  if (ids.length !== count) {
    throw fail(`item id map has ${ids.length} ids, the manifest says ${count} items`);
  }
  return ids;
}
