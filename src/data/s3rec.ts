import { DataFormatError } from '../errors.ts';
import { parseItemId, parseNonNegative, splitWhitespace } from './fields.ts';
import { readDataLines } from './lines.ts';
import type { UserSequence } from './sequences.ts';

/**
 * S3-Rec input (`Beauty.txt`): one user per line, `user item item …`, items in time order.
 * A user id seen twice is an error, as it would give one user two histories.
 */
export async function* readS3recSequences(file: string): AsyncGenerator<UserSequence> {
  const seenUsers = new Set<number>();
  for await (const { text, number } of readDataLines(file)) {
    const at = { file, line: number };
    const fields = splitWhitespace(text);
    if (fields.length < 2) {
      throw new DataFormatError(
        file,
        number,
        'expected a user id followed by at least one item id',
      );
    }
    const userId = parseNonNegative(fields[0] as string, 'user id', at);
    if (seenUsers.has(userId)) {
      throw new DataFormatError(file, number, `user ${userId} appears on more than one line`);
    }
    seenUsers.add(userId);
    const items = new Int32Array(fields.length - 1);
    for (let i = 1; i < fields.length; i++) items[i - 1] = parseItemId(fields[i] as string, at);
    yield { userId, items };
  }
}
