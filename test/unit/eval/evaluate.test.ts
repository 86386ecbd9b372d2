/** evaluate() on tiny cases whose ranks are worked out by hand in the comments. */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { NegativeSampler } from '../../../src/eval/negatives.ts';
import type { Scorer } from '../../../src/eval/scorer.ts';
import { cases, constantScorer, expectPocketrecError, gain, tableScorer } from './helpers.ts';

// Six items. Index 0 scores 99 everywhere: it is padding and must never count.
const scorer = tableScorer(6, {
  // Target 3 scores 0.5. Strictly above it: 1, 2, 4 (rank 3); item 5 ties and does not
  // count. Masking the history {1, 2} leaves only 4 above: rank 1.
  '1,2': [99, 0.9, 0.8, 0.5, 0.7, 0.5, 0.1],
  // Target 4 scores 0.3 and is also in the history; it must not be masked. Above it: 3, 5,
  // 6 (rank 3). Masking removes 3 (the target 4 stays): rank 2.
  '3,4,4': [99, 0.1, 0.2, 0.9, 0.3, 0.4, 0.5],
  // Everything ties: rank 0 either way.
  '5': [99, 0, 0, 0, 0, 0, 0],
});
const tiny = cases([
  [[1, 2], 3],
  [[3, 4, 4], 4],
  [[5], 6],
]);

describe('full protocol', () => {
  it('masks the history but never the target (ranks 1, 2, 0), metrics at each cutoff', async () => {
    const r = await evaluate(scorer, tiny, {
      protocol: 'full',
      maskHistory: true,
      cutoffs: [1, 2, 3],
    });
    expect(r.protocol).toBe('full');
    expect(r.masked).toBe(true);
    expect(r.cases).toBe(3);
    expect(r.tail).toBeNull();
    const m = r.metrics;
    // HR@k: share of ranks < k.
    expect(m['HR@1']).toBeCloseTo(1 / 3, 12);
    expect(m['HR@2']).toBeCloseTo(2 / 3, 12);
    expect(m['HR@3']).toBeCloseTo(1, 12);
    // NDCG@k: mean of 1/log2(rank + 2) over ranks < k: 1, 0.6309, 0.5.
    expect(m['NDCG@1']).toBeCloseTo(1 / 3, 12);
    expect(m['NDCG@2']).toBeCloseTo((1 + 1 / Math.log2(3)) / 3, 12);
    expect(m['NDCG@3']).toBeCloseTo((1 + 1 / Math.log2(3) + 0.5) / 3, 12);
    // MRR@k: mean of 1/(rank + 1) over ranks < k.
    expect(m['MRR@1']).toBeCloseTo(1 / 3, 12);
    expect(m['MRR@2']).toBeCloseTo((1 + 1 / 2) / 3, 12);
    expect(m['MRR@3']).toBeCloseTo((1 + 1 / 2 + 1 / 3) / 3, 12);
  });

  it('without masking ranks 3, 3, 0', async () => {
    const r = await evaluate(scorer, tiny, {
      protocol: 'full',
      maskHistory: false,
      cutoffs: [3, 4],
    });
    expect(r.masked).toBe(false);
    expect(r.metrics['HR@3']).toBeCloseTo(1 / 3, 12);
    expect(r.metrics['HR@4']).toBeCloseTo(1, 12);
    expect(r.metrics['NDCG@4']).toBeCloseTo((1 + 2 / Math.log2(5)) / 3, 12);
    expect(r.metrics['MRR@4']).toBeCloseTo((1 + 2 / 4) / 3, 12);
  });

  it('without masking splits re-clicks (case 2, rank 3) from new items (ranks 3 and 0)', async () => {
    const r = await evaluate(scorer, tiny, {
      protocol: 'full',
      maskHistory: false,
      cutoffs: [1, 4],
    });
    const split = r.byRepeat as NonNullable<typeof r.byRepeat>;
    expect(split.repeat.cases).toBe(1);
    expect(split.repeat.metrics['HR@1']).toBe(0);
    expect(split.repeat.metrics['MRR@4']).toBeCloseTo(1 / 4, 12);
    expect(split.fresh.cases).toBe(2);
    expect(split.fresh.metrics['HR@1']).toBeCloseTo(1 / 2, 12);
    expect(split.fresh.metrics['MRR@4']).toBeCloseTo((1 / 4 + 1) / 2, 12);
    // Masked ranking has no split: a masked history has nothing left to re-click but the target.
    const masked = await evaluate(scorer, tiny, { protocol: 'full', maskHistory: true });
    expect(masked.byRepeat).toBeNull();
  });

  it('reports HR, NDCG and MRR at 5, 10 and 20 by default', async () => {
    const r = await evaluate(scorer, tiny, { protocol: 'full', maskHistory: true });
    expect(Object.keys(r.metrics).sort()).toEqual(
      ['HR', 'NDCG', 'MRR'].flatMap((m) => [5, 10, 20].map((k) => `${m}@${k}`)).sort(),
    );
    expect(r.metrics['HR@5']).toBe(1);
    expect(r.metrics['NDCG@20']).toBeCloseTo((gain(1) + gain(2) + gain(0)) / 3, 12);
  });

  it('counts a repeated history item once when masking', async () => {
    // Target 1 scores 0; items 2 and 3 (both in the history, 2 three times) score above it,
    // 4 too. Masked: only 4 is left above, rank 1 (not -1 from subtracting 2 thrice).
    const s = constantScorer([0, 0, 1, 1, 1]);
    const r = await evaluate(s, cases([[[2, 2, 3, 2], 1]]), {
      protocol: 'full',
      maskHistory: true,
      cutoffs: [1, 2],
    });
    expect(r.metrics['HR@1']).toBe(0);
    expect(r.metrics['HR@2']).toBe(1);
    expect(r.metrics['MRR@2']).toBe(0.5);
  });

  it('ranks a -Infinity target below every finite score, and -Infinity items below it', async () => {
    // Items 1..4: target 2 at -Infinity, 3 at -Infinity (tie, not above), 1 and 4 finite.
    const s = constantScorer([0, 5, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e30]);
    const r = await evaluate(s, cases([[[1], 2]]), {
      protocol: 'full',
      maskHistory: false,
      cutoffs: [2, 3],
    });
    expect(r.metrics['HR@2']).toBe(0);
    expect(r.metrics['MRR@3']).toBeCloseTo(1 / 3, 12);
  });

  it('splits off the long tail: cases whose target is not hot', async () => {
    for (const hotItems of [new Set([3, 4]), Uint8Array.from([0, 0, 0, 1, 1, 0, 0])]) {
      const r = await evaluate(scorer, tiny, {
        protocol: 'full',
        maskHistory: true,
        hotItems,
        cutoffs: [1, 2],
      });
      // Only the third case (target 6, rank 0) has a tail target.
      expect(r.tail).toEqual({
        cases: 1,
        metrics: {
          'HR@1': 1,
          'NDCG@1': 1,
          'MRR@1': 1,
          'HR@2': 1,
          'NDCG@2': 1,
          'MRR@2': 1,
        },
      });
      expect(r.metrics['HR@1']).toBeCloseTo(1 / 3, 12);
    }
  });

  it('does not depend on the batch size, and reports progress per batch', async () => {
    const results = [];
    for (const batchSize of [1, 2, 3, 100]) {
      const progress: [number, number][] = [];
      results.push(
        await evaluate(scorer, tiny, {
          protocol: 'full',
          maskHistory: true,
          batchSize,
          onProgress: (done, total) => progress.push([done, total]),
        }),
      );
      expect(progress.at(-1)).toEqual([3, 3]);
      expect(progress).toHaveLength(Math.ceil(3 / batchSize));
    }
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('evaluates no cases to zeros', async () => {
    const r = await evaluate(scorer, cases([]), { protocol: 'full', maskHistory: true });
    expect(r.cases).toBe(0);
    expect(r.metrics['HR@10']).toBe(0);
  });
});

describe('bad scores and arguments', () => {
  const one = cases([[[1], 2]]);
  const full = { protocol: 'full', maskHistory: false } as const;

  it('fails on NaN anywhere in the catalogue, on the target or on another item', async () => {
    for (const at of [2, 3]) {
      const row = [0, 1, 0.5, 0.2, 0.1];
      row[at] = Number.NaN;
      const error = await expectPocketrecError(
        () => evaluate(constantScorer(row), one, full),
        'non-finite-scores',
      );
      expect(error.message).toContain(`item ${at} scored NaN`);
    }
  });

  it('fails on NaN under sampled100 too, even on an item not drawn', async () => {
    const row = Array.from({ length: 201 }, (_, i) => i / 1000);
    row[150] = Number.NaN;
    await expectPocketrecError(
      () => evaluate(constantScorer(row), one, { protocol: 'sampled100', maskHistory: false }),
      'non-finite-scores',
    );
  });

  it('fails on +Infinity but accepts -Infinity and ignores index 0', async () => {
    await expectPocketrecError(
      () => evaluate(constantScorer([0, 1, 0, Number.POSITIVE_INFINITY]), one, full),
      'non-finite-scores',
    );
    const r = await evaluate(constantScorer([Number.NaN, 1, 2, Number.NEGATIVE_INFINITY]), one, {
      ...full,
      cutoffs: [1],
    });
    expect(r.metrics['HR@1']).toBe(1);
  });

  it('rejects score arrays of the wrong length or count', async () => {
    const short: Scorer = { numItems: 3, score: async (h) => h.map(() => new Float32Array(3)) };
    await expectPocketrecError(() => evaluate(short, one, full), 'scorer-mismatch');
    const none: Scorer = { numItems: 3, score: async () => [] };
    await expectPocketrecError(() => evaluate(none, one, full), 'scorer-mismatch');
  });

  it('rejects targets outside the catalogue and malformed options', async () => {
    const s = constantScorer([0, 1, 2, 3]);
    await expectPocketrecError(() => evaluate(s, cases([[[1], 4]]), full), 'invalid-argument');
    await expectPocketrecError(() => evaluate(s, cases([[[1], 0]]), full), 'invalid-argument');
    await expectPocketrecError(
      () => evaluate(s, { inputs: [Int32Array.of(1)], targets: Int32Array.of() }, full),
      'invalid-argument',
    );
    await expectPocketrecError(
      () => evaluate(s, one, { ...full, batchSize: 0 }),
      'invalid-argument',
    );
    await expectPocketrecError(
      () => evaluate(s, one, { ...full, cutoffs: [0] }),
      'invalid-argument',
    );
  });
});

describe('sampled100 protocol', () => {
  const numItems = 300;
  // History items score 10, the target 0.5, other items i / 1000 (all below 0.5). Only
  // history items outrank the target, so any rank above 0 means one was drawn as a negative.
  const history = Array.from({ length: 150 }, (_, i) => 2 * i + 1); // the odd items 1..299
  const target = 2;
  const row = Array.from({ length: numItems + 1 }, (_, i) => i / 1000);
  for (const h of history) row[h] = 10;
  row[target] = 0.5;

  it('never draws history items or the target as negatives', async () => {
    const r = await evaluate(constantScorer(row), cases([[history, target]]), {
      protocol: 'sampled100',
      maskHistory: false,
      cutoffs: [1],
    });
    expect(r.masked).toBe(true);
    expect(r.metrics['HR@1']).toBe(1);
  });

  it('ranks among the 101 candidates the sampler draws for the seed', async () => {
    // The free items are the even ones but the target: 4..300, 149 of them. With the target
    // at 0.15, the 75 from 152 up score above it and 4..150 do not (150 ties), so the rank
    // is the number of negatives >= 151; drawing 100 of 149 takes at least 26 of those.
    const middle = [...row];
    middle[target] = 0.15;
    const many = cases(Array.from({ length: 20 }, () => [history, target] as [number[], number]));
    for (const seed of [1, 2]) {
      const sampler = new NegativeSampler(numItems, seed);
      const expected = Array.from(
        many.inputs,
        (h) => Array.from(sampler.sample(h, target)).filter((item) => item >= 151).length,
      );
      for (const rank of expected) expect(rank).toBeGreaterThanOrEqual(26);
      const meanMrr = expected.reduce((sum, rank) => sum + 1 / (rank + 1), 0) / expected.length;
      for (const batchSize of [1, 7, 256]) {
        const r = await evaluate(constantScorer(middle), many, {
          protocol: 'sampled100',
          maskHistory: true,
          seed,
          batchSize,
          cutoffs: [101],
        });
        expect(r.metrics['HR@101']).toBe(1);
        expect(r.metrics['MRR@101']).toBeCloseTo(meanMrr, 12);
      }
    }
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const s = constantScorer(Array.from({ length: numItems + 1 }, (_, i) => Math.sin(i)));
    const many = cases(Array.from({ length: 30 }, (_, k) => [[k + 1, k + 2], k + 3]));
    const run = (seed: number) =>
      evaluate(s, many, { protocol: 'sampled100', maskHistory: false, seed, cutoffs: [101] });
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect((await run(8)).metrics['MRR@101']).not.toBe(a.metrics['MRR@101']);
  });

  it('needs 100 items outside the history and the target', async () => {
    const s = constantScorer(Array.from({ length: 101 }, (_, i) => i));
    await expectPocketrecError(
      () => evaluate(s, cases([[[1], 2]]), { protocol: 'sampled100', maskHistory: false }),
      'too-few-items',
    );
  });
});
