/** Latency statistics of one measurement: percentiles of the samples and the throughput. */

export interface LatencyStats {
  runs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
  /** Requests per second, one at a time: runs over the sum of their times. */
  throughputPerS: number;
}

/** The q-quantile (0..1) with linear interpolation between the closest ranks. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new RangeError('quantile of no samples');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const low = sorted[lo] as number;
  return low + ((sorted[hi] as number) - low) * (at - lo);
}

export function summarize(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) throw new RangeError('no samples to summarize');
  const totalMs = samples.reduce((a, b) => a + b, 0);
  return {
    runs: samples.length,
    p50Ms: quantile(samples, 0.5),
    p95Ms: quantile(samples, 0.95),
    p99Ms: quantile(samples, 0.99),
    meanMs: totalMs / samples.length,
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    throughputPerS: totalMs > 0 ? (samples.length * 1000) / totalMs : 0,
  };
}

/** How many times slower the baseline is (baseline / ours); null when either is missing. */
export function ratio(baselineMs: number | null | undefined, oursMs: number | null | undefined) {
  if (baselineMs == null || oursMs == null || !(oursMs > 0)) return null;
  return baselineMs / oursMs;
}
