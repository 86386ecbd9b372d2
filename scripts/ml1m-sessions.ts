/**
 * ML-1M user sequences to replay in the browser benchmarks (`npm run bench:engine`,
 * `npm run bench:browsers`): a seeded sample of users, each as the external item ids of
 * the packages' id maps, oldest first. Read from the data directory, never written
 * anywhere: the data's terms forbid redistribution.
 */
import { loadUserSequences, resolveDataDir } from '../src/data/index.ts';
import { seededRandom, shuffleInPlace } from '../src/random.ts';

export type Ml1mSessions = { sequences: string[][]; dataDir: string } | { error: string };

/**
 * `users` sequences in a seeded order. A missing default data directory is not an error
 * (the caller falls back to generated sessions and says why); a directory named on
 * purpose (`dataDir`) must exist.
 */
export async function loadMl1mSessions(options: {
  dataDir?: string | undefined;
  seed: number;
  users: number;
}): Promise<Ml1mSessions> {
  let dataDir: string;
  try {
    dataDir = resolveDataDir(options.dataDir);
  } catch (error) {
    if (options.dataDir !== undefined) throw error;
    return { error: (error as Error).message };
  }
  try {
    const data = await loadUserSequences('ml-1m', { dataDir });
    const source = data.sourceItemIds;
    const order = shuffleInPlace(
      Array.from(data.sequences, (_, i) => i),
      seededRandom(options.seed),
    ).slice(0, options.users);
    return {
      dataDir,
      sequences: order.map((u) =>
        Array.from(data.sequences[u] as Int32Array, (item) => String(source ? source[item] : item)),
      ),
    };
  } catch (error) {
    return { error: `ml-1m could not be loaded from ${dataDir}: ${(error as Error).message}` };
  }
}
