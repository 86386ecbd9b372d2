import { describe, expect, it } from 'vitest';
import { prefixChunkCounts } from '../../../src/cli/report-ctr.ts';
import { compactBytes, type PlotSeries, plotSvg } from '../../../src/cli/report-plot.ts';

const line = (name: string, points: [number, number][], dashed = false): PlotSeries => ({
  name,
  kind: 'line',
  color: '#0072B2',
  dashed,
  points: points.map(([x, y]) => ({ x, y })),
});

describe('plotSvg', () => {
  const svg = plotSvg({
    title: 'AUC <against> bytes',
    xLabel: 'bytes',
    yLabel: 'AUC',
    xLogBase: 2,
    formatX: compactBytes,
    series: [
      { ...line('dense & co', [[900_000, 0.98]]), kind: 'points', marker: 'square' },
      line('magnitude', [
        [600_000, 0.97],
        [300_000, 0.95],
      ]),
      line('magnitude + fine-tune', [[310_000, 0.96]], true),
    ],
  });

  it('draws a polyline per line series, its points in order of x, and escapes names', () => {
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('data-series="dense &amp; co"');
    expect(svg).toContain('<title>AUC &lt;against&gt; bytes</title>');
    expect(svg).not.toContain('<against>');
    const first = svg.match(/<polyline points="([^"]*)"/)?.[1] ?? '';
    const xs = first.split(' ').map((p) => Number(p.split(',')[0]));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(svg).toContain('stroke-dasharray');
  });

  it('labels a narrow log axis between the powers of two', () => {
    const labels = [...svg.matchAll(/text-anchor="middle">([^<]*)</g)].map((m) => m[1]);
    expect(labels).toEqual(expect.arrayContaining(['384 KiB', '512 KiB', '768 KiB']));
    expect(labels.filter((l) => l?.endsWith('iB')).length).toBeGreaterThanOrEqual(4);
  });
});

describe('plotSvg on a range narrower than one power of two', () => {
  it('labels round steps of the unit instead', () => {
    const svg = plotSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      xLogBase: 2,
      formatX: compactBytes,
      yBounds: [0, 1],
      series: [
        line('a', [
          [1.43 * 2 ** 20, 0.9],
          [1.71 * 2 ** 20, 0.99],
        ]),
      ],
    });
    const labels = [...svg.matchAll(/text-anchor="middle">([^<]*)</g)].map((m) => m[1]);
    expect(labels).toEqual(expect.arrayContaining(['1.5 MiB', '1.6 MiB', '1.7 MiB']));
    // AUC never reads past 1, however the axis is padded.
    const yLabels = [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => Number(m[1]));
    expect(Math.max(...yLabels)).toBeLessThanOrEqual(1);
  });
});

describe('prefixChunkCounts', () => {
  const chunks = (sizes: number[]) => sizes.map((elements) => ({ elements, sha256: '' }));

  it('takes the chunk count nearest each target sparsity, and the whole package', () => {
    // 10 chunks of 100 kept of a 2,000-element table (50% sparsity when whole).
    const ten = chunks(Array(10).fill(100));
    expect(prefixChunkCounts(ten, 2000, [0.5, 0.8, 0.95, 0.99])).toEqual([0, 1, 4, 10]);
  });

  it('never asks for more chunks than there are', () => {
    expect(prefixChunkCounts(chunks([100, 20]), 1000, [0.5])).toEqual([2]);
  });
});
