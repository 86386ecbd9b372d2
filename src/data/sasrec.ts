import { DataFormatError } from '../errors.ts';
import { expectFieldCount, parseItemId, parseNonNegative, splitWhitespace } from './fields.ts';
import { GrowableInt32Array } from './growable.ts';
import { readDataLines } from './lines.ts';
import { groupUserBlocks, type UserItemEvent, type UserSequence } from './sequences.ts';

/**
 * SASRec input (`ml-1m.sasrec_format.txt`, `Video.txt`): one `user item` pair per line,
 * each user's lines contiguous and in time order.
 */
export async function* readSasrecPairs(file: string): AsyncGenerator<UserItemEvent> {
  for await (const { text, number } of readDataLines(file)) {
    const at = { file, line: number };
    const fields = splitWhitespace(text);
    expectFieldCount(fields, 2, 'user item', at);
    yield {
      userId: parseNonNegative(fields[0] as string, 'user id', at),
      itemId: parseItemId(fields[1] as string, at),
      line: number,
    };
  }
}

/** The same file grouped into one sequence per user while streaming. */
export async function* readSasrecSequences(file: string): AsyncGenerator<UserSequence> {
  yield* groupUserBlocks(readSasrecPairs(file), file);
}

export const ITEM_MAP_HEADER = 'item_id\tmovie_id';

/**
 * Reads `ml-1m.sasrec_format.itemmap.tsv` into `sourceIds[itemId] = movieId` (index 0 is 0).
 * Item ids must be listed as 1, 2, 3, … so every item is known to have a mapping.
 */
export async function loadItemMap(file: string): Promise<Int32Array> {
  const sourceIds = new GrowableInt32Array(4 * 1024);
  sourceIds.push(0);
  for await (const { text, number } of readDataLines(file, { header: ITEM_MAP_HEADER })) {
    const at = { file, line: number };
    const fields = text.split('\t');
    expectFieldCount(fields, 2, 'item_id, movie_id separated by a tab', at);
    const itemId = parseItemId(fields[0] as string, at);
    if (itemId !== sourceIds.length) {
      throw new DataFormatError(
        file,
        number,
        `item id ${itemId} out of order; expected ${sourceIds.length} (ids must be listed 1, 2, 3, …)`,
      );
    }
    sourceIds.push(parseItemId(fields[1] as string, at, 'movie id'));
  }
  return sourceIds.toArray();
}
