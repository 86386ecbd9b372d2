/**
 * Top-k over a score row, on the CPU, skipping excluded rows.
 *
 * A request's k is small (≤ a few hundred) and the excluded set is the user's history
 * plus the page's own list, so one pass that keeps a sorted run of the best k beats
 * sorting the catalogue, and needs no copy of the scores to mask them.
 */
/** What a request asks of a score row (the engine's RecommendQuery satisfies it). */
export interface ScoreRowQuery {
  /** Internal item ids, oldest first. */
  history: Int32Array;
  k: number;
  /** Rows never to return. */
  exclude: Int32Array;
  /** Only these rows may be returned (null: every item). */
  candidates: Int32Array | null;
  /** Leave out the items of `history`. */
  excludeSeen: boolean;
}

/** No items; fresh arrays each time, as the worker transfers (detaches) what it returns. */
export const nothing = (): Ranked => ({ rows: new Int32Array(0), scores: new Float32Array(0) });

export interface Ranked {
  /** Row indices, best first; ties go to the lower row. */
  rows: Int32Array;
  scores: Float32Array;
}

/**
 * The best `k` of `scores[rows]` (every row from `from` on when `rows` is null), skipping
 * rows in `excluded` and non-finite scores.
 */
export function topK(
  scores: ArrayLike<number>,
  k: number,
  excluded: ReadonlySet<number>,
  options: { rows?: ArrayLike<number> | null; from?: number } = {},
): Ranked {
  const bestRows = new Int32Array(k);
  const bestScores = new Float32Array(k).fill(Number.NEGATIVE_INFINITY);
  let filled = 0;
  const consider = (row: number, score: number) => {
    // Strictly better only: an equal score keeps the lower row (seen first) ahead. The
    // cut-off comes first: on a large catalogue it rejects nearly every row in one compare.
    if (filled === k && !(score > (bestScores[k - 1] as number))) return;
    if (!Number.isFinite(score) || excluded.has(row)) return;
    let at = filled === k ? k - 1 : filled++;
    while (at > 0 && score > (bestScores[at - 1] as number)) {
      bestScores[at] = bestScores[at - 1] as number;
      bestRows[at] = bestRows[at - 1] as number;
      at--;
    }
    bestScores[at] = score;
    bestRows[at] = row;
  };
  const { rows } = options;
  if (rows) {
    for (let i = 0; i < rows.length; i++) consider(rows[i] as number, scores[i] as number);
  } else {
    for (let row = options.from ?? 0; row < scores.length; row++) {
      consider(row, scores[row] as number);
    }
  }
  return { rows: bestRows.slice(0, filled), scores: bestScores.slice(0, filled) };
}

/**
 * The best k of a score row computed in plain TypeScript (a Markov model's, a prior's), with
 * the request's candidates, exclusions and seen items applied.
 */
export function rankScoreRow(scores: Float32Array, query: ScoreRowQuery): Ranked {
  const excluded = new Set<number>(query.exclude);
  if (query.excludeSeen) for (const item of query.history) excluded.add(item);
  return query.candidates
    ? topK(
        Array.from(query.candidates, (row) => scores[row] as number),
        query.k,
        excluded,
        { rows: query.candidates },
      )
    : topK(scores, query.k, excluded, { from: 1 });
}
