/**
 * One recommender (one worker, one model in memory) per model, ranker, backend and user, however
 * many <pocket-recs> elements show it. Leases are counted; the last one out disposes it.
 */
import { type BackendPreference, createRecommender, type Recommender } from '../index.ts';

export interface RecommenderLease {
  readonly key: string;
  readonly user: string;
  readonly recommender: Promise<Recommender>;
  release(): void;
}

interface Entry {
  user: string;
  recommender: Promise<Recommender>;
  leases: number;
}

const entries = new Map<string, Entry>();

export function leaseRecommender(options: {
  model: string;
  ranker: string | null;
  backend: BackendPreference;
  user: string;
}): RecommenderLease {
  const model = new URL(options.model, document.baseURI).href;
  const ranker = options.ranker === null ? null : new URL(options.ranker, document.baseURI).href;
  const key = JSON.stringify([model, ranker, options.backend, options.user]);
  let entry = entries.get(key);
  if (!entry) {
    const created: Entry = {
      user: options.user,
      recommender: createRecommender({
        model,
        ...(ranker === null ? {} : { ranker }),
        backend: options.backend,
        user: options.user,
      }),
      leases: 0,
    };
    // A model that failed to open is not kept: the next lease tries again.
    created.recommender.catch(() => {
      if (entries.get(key) === created) entries.delete(key);
    });
    entries.set(key, created);
    entry = created;
  }
  const leased = entry;
  leased.leases++;
  let released = false;
  return {
    key,
    user: leased.user,
    recommender: leased.recommender,
    release() {
      if (released) return;
      released = true;
      leased.leases--;
      if (leased.leases > 0) return;
      if (entries.get(key) === leased) entries.delete(key);
      leased.recommender.then(
        (recommender) => recommender.dispose(),
        () => {},
      );
    },
  };
}
