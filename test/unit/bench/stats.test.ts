// Percentiles, throughput and the ratio to the baseline of bench.html (src/pages/bench/stats.ts).
import { describe, expect, it } from 'vitest';
import { quantile, ratio, summarize } from '../../../src/pages/bench/stats.ts';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('quantile', () => {
  it('interpolates between the closest ranks, whatever the order of the samples', () => {
    const shuffled = [...oneToHundred].reverse();
    expect(quantile(shuffled, 0.5)).toBeCloseTo(50.5, 10);
    expect(quantile(shuffled, 0.95)).toBeCloseTo(95.05, 10);
    expect(quantile(shuffled, 0.99)).toBeCloseTo(99.01, 10);
    expect(quantile(shuffled, 0)).toBe(1);
    expect(quantile(shuffled, 1)).toBe(100);
  });

  it('is the sample itself for one sample, and refuses none or a q outside [0, 1]', () => {
    expect(quantile([7], 0.99)).toBe(7);
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow(/\[0, 1\]/);
  });
});

describe('summarize', () => {
  it('gives the percentiles, mean, extremes and requests per second of one-at-a-time requests', () => {
    const stats = summarize([4, 1, 3, 2]);
    expect(stats).toEqual({
      runs: 4,
      p50Ms: 2.5,
      p95Ms: expect.closeTo(3.85, 10),
      p99Ms: expect.closeTo(3.97, 10),
      meanMs: 2.5,
      minMs: 1,
      maxMs: 4,
      throughputPerS: 400,
    });
    expect(() => summarize([])).toThrow(RangeError);
  });
});

describe('ratio', () => {
  it('is the baseline over ours, null when either is missing', () => {
    expect(ratio(30, 10)).toBe(3);
    expect(ratio(5, 10)).toBe(0.5);
    expect(ratio(null, 10)).toBeNull();
    expect(ratio(10, undefined)).toBeNull();
    expect(ratio(10, 0)).toBeNull();
  });
});
