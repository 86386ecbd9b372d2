import { DataFormatError } from '../errors.ts';
import type { EventLogReport } from './event-log/index.ts';
import { GrowableInt32Array, SequencePacker } from './growable.ts';

/** One user's items in time order, as read from a file. */
export interface UserSequence {
  readonly userId: number;
  readonly items: Int32Array;
}

/** One `user item` interaction with the line it came from. */
export interface UserItemEvent {
  readonly userId: number;
  readonly itemId: number;
  readonly line: number;
}

/**
 * Per-user item sequences held in memory for training.
 * Item ids run 1..numItems; 0 is never an item, so models can use it for padding.
 */
export interface UserSequences {
  readonly dataset: string;
  readonly numItems: number;
  readonly numInteractions: number;
  /** `users[k]` is the file's id for the user of `sequences[k]`, in file order. */
  readonly users: Int32Array;
  /** Time-ordered item ids; views into one shared buffer, so treat them as read-only. */
  readonly sequences: Int32Array[];
  /**
   * `sourceItemIds[item]` is the item's id in the original data (the ML-1M MovieID) where
   * the loader renumbered items; null when the file's item ids are the only ids there are.
   * Index 0 holds 0.
   */
  readonly sourceItemIds: Int32Array | null;
  /** `itemIds[item - 1]` is the item's external id where it is text (the storefront's "p0001"). */
  readonly itemIds?: readonly string[];
  /** For a shop's event log: what loading it read, dropped and counted. */
  readonly log?: EventLogReport;
}

/**
 * Groups a stream of interactions into per-user sequences, relying on each user's lines
 * being one contiguous block (true of every SASRec-format file). Only the current block is
 * buffered. A user who shows up again after their block ended is an error: silently
 * starting a second sequence for them would split their history in two.
 */
export async function* groupUserBlocks(
  events: AsyncIterable<UserItemEvent>,
  file: string,
): AsyncGenerator<UserSequence> {
  const finishedUsers = new Set<number>();
  const block = new GrowableInt32Array(256);
  let currentUser = -1;
  for await (const event of events) {
    if (event.userId !== currentUser) {
      if (currentUser !== -1) {
        yield { userId: currentUser, items: block.toArray() };
        finishedUsers.add(currentUser);
        block.clear();
      }
      if (finishedUsers.has(event.userId)) {
        throw new DataFormatError(
          file,
          event.line,
          `user ${event.userId} appears again after their block ended; each user's lines must be contiguous`,
        );
      }
      currentUser = event.userId;
    }
    block.push(event.itemId);
  }
  if (currentUser !== -1) {
    yield { userId: currentUser, items: block.toArray() };
  }
}

/**
 * Drains a sequence stream into the compact in-memory form. numItems is the largest item
 * id seen: the files number items densely from 1, and a gap would only cost unused
 * embedding rows, never a wrong lookup.
 */
export async function collectUserSequences(
  dataset: string,
  source: AsyncIterable<UserSequence>,
): Promise<UserSequences> {
  const users = new GrowableInt32Array(8 * 1024);
  const packer = new SequencePacker();
  let maxItem = 0;
  for await (const { userId, items } of source) {
    users.push(userId);
    packer.add(items);
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as number;
      if (item > maxItem) maxItem = item;
    }
  }
  const { items, sequences } = packer.finish();
  return {
    dataset,
    numItems: maxItem,
    numInteractions: items.length,
    users: users.toArray(),
    sequences,
    sourceItemIds: null,
  };
}

/**
 * Renumbers items 1..n in order of first appearance, scanning users in file order (what
 * SASRec's preprocessing does), in place. Returns the map from new id to old id.
 */
export function renumberByFirstAppearance(sequences: readonly Int32Array[]): Int32Array {
  const newIdOf = new Map<number, number>();
  const oldIds = new GrowableInt32Array(4 * 1024);
  oldIds.push(0);
  for (const sequence of sequences) {
    for (let i = 0; i < sequence.length; i++) {
      const oldId = sequence[i] as number;
      let newId = newIdOf.get(oldId);
      if (newId === undefined) {
        newId = oldIds.length;
        newIdOf.set(oldId, newId);
        oldIds.push(oldId);
      }
      sequence[i] = newId;
    }
  }
  return oldIds.toArray();
}
