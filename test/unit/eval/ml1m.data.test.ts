/**
 * The ML-1M rows of ../shared/reference/baselines.md, reproduced through the shared
 * evaluation code: leave-one-out, trained on all but the last item, full ranking with the
 * history masked, strict ranks.
 */
import { describe, expect, it } from 'vitest';
import { loadUserSequences } from '../../../src/data/datasets.ts';
import type { UserSequences } from '../../../src/data/sequences.ts';
import { markovScorer, mostPopScorer } from '../../../src/eval/baselines.ts';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { hotItems } from '../../../src/eval/hot-items.ts';
import { type LeaveOneOutSplit, leaveOneOut } from '../../../src/eval/splits.ts';
import { fitMarkov, scoreMarkov } from '../../../src/model/markov.ts';
import { dataDir, differingPositions, rounded } from './real-data.ts';

let loaded: Promise<{ data: UserSequences; split: LeaveOneOutSplit }> | undefined;

function ml1m() {
  loaded ??= loadUserSequences('ml-1m', { dataDir: dataDir() }).then((data) => ({
    data,
    split: leaveOneOut(data.sequences),
  }));
  return loaded;
}

const full = { protocol: 'full', maskHistory: true, cutoffs: [10, 20] } as const;

describe('ML-1M (sasrec format) against the reference baselines', () => {
  it('splits all 6,040 users', async () => {
    const { data, split } = await ml1m();
    expect(data.numItems).toBe(3416);
    expect(split.test.inputs).toHaveLength(6040);
    expect(split.shortUsers).toBe(0);
  });

  it('MostPop', async () => {
    const { data, split } = await ml1m();
    const r = await evaluate(mostPopScorer(split.trainAllButLast, data.numItems), split.test, full);
    expect(r.cases).toBe(6040);
    const reference = {
      'HR@10': 0.0392,
      'NDCG@10': 0.0193,
      'MRR@10': 0.0135,
      'HR@20': 0.07,
      'NDCG@20': 0.0271,
      'MRR@20': 0.0155,
    };
    expect(rounded(r, reference)).toEqual(reference);
  });

  it('first-order Markov, with its long-tail breakdown', async () => {
    const { data, split } = await ml1m();
    const r = await evaluate(markovScorer(split.trainAllButLast, data.numItems), split.test, {
      ...full,
      hotItems: hotItems(split.trainAllButLast, data.numItems),
    });
    const reference = {
      'HR@10': 0.1927,
      'NDCG@10': 0.1129,
      'MRR@10': 0.0885,
      'HR@20': 0.2623,
      'NDCG@20': 0.1304,
      'MRR@20': 0.0933,
    };
    expect(rounded(r, reference)).toEqual(reference);
    // Most ML-1M test targets are popular films; the tail is a minority and much harder.
    const tail = r.tail as NonNullable<typeof r.tail>;
    expect(tail.cases).toBeGreaterThan(0);
    expect(tail.cases).toBeLessThan(r.cases / 2);
    expect(tail.metrics['HR@10']).toBeLessThan(r.metrics['HR@10'] as number);
  });

  it('the Markov scorer matches scoreMarkov bit for bit on real histories', async () => {
    const { data, split } = await ml1m();
    const model = fitMarkov(split.trainAllButLast, data.numItems);
    const histories = split.test.inputs.filter((_, k) => k % 97 === 0);
    const scores = await markovScorer(split.trainAllButLast, data.numItems).score(histories);
    const differing = histories.flatMap((h, k) =>
      differingPositions(scores[k] as Float32Array, scoreMarkov(model, h)),
    );
    expect(differing).toEqual([]);
  });

  it('sampled100 (SASRec paper protocol) is deterministic per seed and far more lenient', async () => {
    const { data, split } = await ml1m();
    const scorer = markovScorer(split.trainAllButLast, data.numItems);
    const sampled = { protocol: 'sampled100', maskHistory: true, cutoffs: [10], seed: 42 } as const;
    const a = await evaluate(scorer, split.test, sampled);
    expect(await evaluate(scorer, split.test, { ...sampled, batchSize: 1000 })).toEqual(a);
    expect(a.metrics['HR@10']).toBeGreaterThan(0.5);
  });
});
