import { DataFormatError, PocketrecError } from '../errors.ts';
import type { EventLogReport } from './event-log/index.ts';
import { type Position, parseItemId, splitWhitespace } from './fields.ts';
import { SequencePacker } from './growable.ts';
import { readDataLines } from './lines.ts';

/** One test case of a session dataset: predict `target` after `prefix`. */
export interface PrefixTarget {
  readonly prefix: Int32Array;
  readonly target: number;
}

/** A session dataset held in memory, item ids 1..numItems (0 is padding). */
export interface SessionDataset {
  readonly dataset: string;
  /** Largest item id in the training and test files. */
  readonly numItems: number;
  /** Shortest prefix the published training set keeps; pass it to augmentSessions. */
  readonly minTrainPrefixLength: number;
  /** Whole sessions in click order; views into one shared buffer. */
  readonly trainSessions: Int32Array[];
  /** Test inputs in file order; views into one shared buffer. */
  readonly testPrefixes: Int32Array[];
  readonly testTargets: Int32Array;
  /** `itemIds[item - 1]` is the item's own id where the data has them (a shop's log). */
  readonly itemIds?: readonly string[];
  /** For a shop's event log: what loading it read, dropped and counted. */
  readonly log?: EventLogReport;
}

/** Training samples derived from whole sessions. */
export interface AugmentedSamples {
  /** Views into the sessions passed in (no copies). */
  readonly prefixes: Int32Array[];
  readonly targets: Int32Array;
}

/** `train_sessions.txt`: one session per line, item ids in click order. */
export async function* readSessions(file: string): AsyncGenerator<Int32Array> {
  for await (const { text, number } of readDataLines(file)) {
    yield parseItems(splitWhitespace(text), { file, line: number });
  }
}

/** `test_prefix_target.txt`: `item item … <TAB> target`. */
export async function* readPrefixTargets(file: string): AsyncGenerator<PrefixTarget> {
  for await (const { text, number } of readDataLines(file)) {
    const at = { file, line: number };
    const parts = text.split('\t');
    if (parts.length !== 2) {
      throw new DataFormatError(
        file,
        number,
        `expected "item item … <TAB> target" (one tab), found ${parts.length - 1} tabs`,
      );
    }
    const prefixText = (parts[0] as string).trim();
    if (prefixText.length === 0)
      throw new DataFormatError(file, number, 'empty prefix before the tab');
    const targetText = (parts[1] as string).trim();
    yield {
      prefix: parseItems(splitWhitespace(prefixText), at),
      target: parseItemId(targetText, at, 'target item id'),
    };
  }
}

/**
 * The DHCN/SR-GNN training-set expansion: for each session `s` and i = 1..len(s)-1 the input
 * is `s[:-i]` and the target `s[-i]`, longest prefix first. Prefixes shorter than
 * `minPrefixLength` are dropped: Tmall's published 351,268 samples keep every prefix (1),
 * RetailRocket's 433,648 keep prefixes of at least 2 items.
 */
export function augmentSessions(
  sessions: readonly Int32Array[],
  minPrefixLength = 1,
): AugmentedSamples {
  if (!Number.isInteger(minPrefixLength) || minPrefixLength < 1) {
    throw new PocketrecError(
      'invalid-argument',
      `minPrefixLength must be an integer >= 1, got ${minPrefixLength}`,
    );
  }
  let count = 0;
  for (const session of sessions) count += Math.max(0, session.length - minPrefixLength);
  const prefixes = new Array<Int32Array>(count);
  const targets = new Int32Array(count);
  let k = 0;
  for (const session of sessions) {
    for (let prefixLength = session.length - 1; prefixLength >= minPrefixLength; prefixLength--) {
      prefixes[k] = session.subarray(0, prefixLength);
      targets[k] = session[prefixLength] as number;
      k++;
    }
  }
  return { prefixes, targets };
}

/** Share of cases whose target already occurs in its input: re-clicks within a session. */
export function repeatShare(
  inputs: readonly ArrayLike<number>[],
  targets: ArrayLike<number>,
): number {
  let repeats = 0;
  for (let k = 0; k < inputs.length; k++) {
    if (Array.prototype.includes.call(inputs[k], targets[k])) repeats++;
  }
  return inputs.length === 0 ? 0 : repeats / inputs.length;
}

/** Loads a training-session file and a prefix/target test file into memory. */
export async function loadSessionFiles(
  dataset: string,
  trainFile: string,
  testFile: string,
  minTrainPrefixLength: number,
): Promise<SessionDataset> {
  let maxItem = 0;
  const train = new SequencePacker();
  for await (const session of readSessions(trainFile)) {
    train.add(session);
    maxItem = Math.max(maxItem, maxOf(session));
  }
  const test = new SequencePacker();
  const targets: number[] = [];
  for await (const { prefix, target } of readPrefixTargets(testFile)) {
    test.add(prefix);
    targets.push(target);
    maxItem = Math.max(maxItem, maxOf(prefix), target);
  }
  return {
    dataset,
    numItems: maxItem,
    minTrainPrefixLength,
    trainSessions: train.finish().sequences,
    testPrefixes: test.finish().sequences,
    testTargets: Int32Array.from(targets),
  };
}

function parseItems(tokens: readonly string[], at: Position): Int32Array {
  const items = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) items[i] = parseItemId(tokens[i] as string, at);
  return items;
}

function maxOf(items: Int32Array): number {
  let max = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as number;
    if (item > max) max = item;
  }
  return max;
}
