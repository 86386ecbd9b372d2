import { describe, expect, it } from 'vitest';
import { markovScorer, mostPopScorer } from '../../../src/eval/baselines.ts';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { fitMarkov, scoreMarkov } from '../../../src/model/markov.ts';
import { cases } from './helpers.ts';

// Transitions 1->2, 2->3 (twice), 1->3; counts: 1 and 2 twice, 3 three times, 4 never.
const train = [Int32Array.of(1, 2, 3), Int32Array.of(1, 3), Int32Array.of(2, 3)];

describe('mostPopScorer', () => {
  it('scores by training count whatever the history, padding at -Infinity', async () => {
    const [a, b] = await mostPopScorer(train, 4).score([Int32Array.of(1), Int32Array.of()]);
    expect(Array.from(a as Float32Array)).toEqual([Number.NEGATIVE_INFINITY, 2, 2, 3, 0]);
    expect(b).toEqual(a);
  });

  it('ranks with ties in the target favour', async () => {
    // 3 ranks 0; 1 and 2 tie at rank 1; 4 ranks 3.
    const r = await evaluate(
      mostPopScorer(train, 4),
      cases([
        [[4], 3],
        [[4], 1],
        [[4], 2],
        [[1], 4],
      ]),
      { protocol: 'full', maskHistory: false, cutoffs: [1, 2, 3, 4] },
    );
    expect(r.metrics['HR@1']).toBe(0.25);
    expect(r.metrics['HR@2']).toBe(0.75);
    expect(r.metrics['HR@3']).toBe(0.75);
    expect(r.metrics['MRR@4']).toBeCloseTo((1 + 1 / 2 + 1 / 2 + 1 / 4) / 4, 12);
  });
});

describe('markovScorer', () => {
  it('follows the last item, ties between transition counts broken by popularity', async () => {
    // After 1: 2 and 3 follow once each; 3 is more popular, so 3 > 2 > 1 > 4.
    const r = await evaluate(
      markovScorer(train, 4),
      cases([
        [[2, 1], 3],
        [[2, 1], 2],
        [[2, 1], 1],
        [[2, 1], 4],
      ]),
      { protocol: 'full', maskHistory: false, cutoffs: [1, 2, 3] },
    );
    expect(r.metrics['HR@1']).toBe(0.25);
    expect(r.metrics['HR@2']).toBe(0.5);
    expect(r.metrics['HR@3']).toBe(0.75);
  });

  it('gives exactly the scores of scoreMarkov, for each history in a batch', async () => {
    const model = fitMarkov(train, 4);
    const histories = [[1], [2], [3], [4], [], [3, 1], [1, 2]].map((h) => Int32Array.from(h));
    const scores = await markovScorer(train, 4).score(histories);
    histories.forEach((h, k) => {
      expect(scores[k]).toEqual(scoreMarkov(model, h));
    });
  });
});
