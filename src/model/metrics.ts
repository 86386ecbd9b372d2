/**
 * Ranking metrics for next-item evaluation. The rank of the target is the number of
 * candidates scored strictly higher (0 = top), so ties count in the target's favour,
 * as in the reference baselines (../shared/reference/baselines.md).
 */

export const CUTOFFS = [5, 10, 20] as const;

export type MetricName = `${'HR' | 'NDCG' | 'MRR'}@${number}`;

/** Rank of `target` among the items whose score is not -Infinity (masked items are skipped). */
export function rankOf(scores: Float32Array, target: number): number {
  const t = scores[target] as number;
  let rank = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i] as number) > t) rank++;
  return rank;
}

/** Accumulates HR, NDCG and MRR at each cutoff over many test cases. */
export class RankingMetrics {
  private readonly sums = new Map<MetricName, number>();
  count = 0;

  constructor(readonly cutoffs: readonly number[] = CUTOFFS) {
    for (const k of cutoffs)
      for (const m of ['HR', 'NDCG', 'MRR'] as const) this.sums.set(`${m}@${k}`, 0);
  }

  add(rank: number): void {
    this.count++;
    for (const k of this.cutoffs) {
      if (rank >= k) continue;
      this.bump(`HR@${k}`, 1);
      this.bump(`NDCG@${k}`, 1 / Math.log2(rank + 2));
      this.bump(`MRR@${k}`, 1 / (rank + 1));
    }
  }

  private bump(name: MetricName, value: number): void {
    this.sums.set(name, (this.sums.get(name) as number) + value);
  }

  result(): Record<MetricName, number> {
    const out = {} as Record<MetricName, number>;
    for (const [name, sum] of this.sums) out[name] = this.count > 0 ? sum / this.count : 0;
    return out;
  }
}
