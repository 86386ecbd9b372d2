/**
 * The histories a bench run replays. `npm run bench:browsers` passes real ML-1M user
 * sequences (read from the data directory by the runner, never served); a page opened by
 * hand has no data directory, so it generates seeded sessions of uniformly drawn items of
 * the model's catalogue. Latency depends on the history's length, not on which items
 * it holds, so both time the same work; the report says which were used.
 */
import { seededRandom } from '../../random.ts';

export interface Sessions {
  source: string;
  /** External item ids, oldest first. */
  sessions: string[][];
}

/** `count` sessions of `length` items, drawn uniformly from `ids` (or "1".."numItems"). */
export function generatedSessions(
  ids: readonly string[] | null,
  numItems: number,
  options: { seed: number; count: number; length: number },
): Sessions {
  const random = seededRandom(options.seed);
  const pick = () => {
    const row = 1 + Math.floor(random() * numItems);
    return ids ? (ids[row - 1] as string) : String(row);
  };
  return {
    source: `generated (seed ${options.seed}, ${options.count} sessions of ${options.length} items drawn uniformly from ${numItems})`,
    sessions: Array.from({ length: options.count }, () =>
      Array.from({ length: options.length }, pick),
    ),
  };
}

/** Only the items a model knows (ML-1M sequences hold items a model may have dropped). */
export function knownOnly(sessions: readonly string[][], known: (id: string) => boolean) {
  return sessions.map((s) => s.filter(known)).filter((s) => s.length > 0);
}

/** Histories of several lengths, up to past the model's window, for the correctness check. */
export function checkHistories(sessions: readonly string[][], maxLen: number): string[][] {
  return [1, 7, 30, maxLen, maxLen + 20].map((length) => {
    const session = sessions.find((s) => s.length >= length) ?? (sessions[0] as string[]);
    return session.slice(0, length);
  });
}

/** The history of the warm requests: a full window (the most work a request does). */
export function warmHistory(sessions: readonly string[][], maxLen: number): string[] {
  const session = sessions.find((s) => s.length >= maxLen) ?? (sessions[0] as string[]);
  return session.slice(0, maxLen);
}

/** One timed step of the shopper's pattern. */
export interface AppendStep {
  /** Start a new history first (untimed). */
  newSession: boolean;
  /** The event appended just before the request. */
  item: string;
}

/**
 * `runs` steps: each session's events one at a time, up to `maxLen` (past that the window
 * slides and a from-oldest model encodes it whole), then the next session.
 */
export function appendSteps(
  sessions: readonly string[][],
  maxLen: number,
  runs: number,
): AppendStep[] {
  const steps: AppendStep[] = [];
  if (!sessions.some((s) => s.length > 0)) throw new Error('no session to replay');
  while (steps.length < runs) {
    for (const session of sessions) {
      const end = Math.min(session.length, maxLen);
      for (let i = 0; i < end && steps.length < runs; i++) {
        steps.push({ newSession: i === 0, item: session[i] as string });
      }
      if (steps.length >= runs) break;
    }
  }
  return steps;
}

/** Mean length of the sessions (for the report). */
export function meanLength(sessions: readonly string[][]): number {
  return sessions.length ? sessions.reduce((a, s) => a + s.length, 0) / sessions.length : 0;
}
