/**
 * The session rows of ../shared/reference/baselines.md (first-order Markov), reproduced
 * through the shared evaluation code: trained on the given sessions, tested on the given
 * prefixes, full ranking, no masking (re-clicks are legitimate next items).
 */
import { describe, expect, it } from 'vitest';
import { loadSessionDataset } from '../../../src/data/datasets.ts';
import { markovScorer } from '../../../src/eval/baselines.ts';
import { evaluate } from '../../../src/eval/evaluate.ts';
import { sessionSplit } from '../../../src/eval/splits.ts';
import { dataDir, rounded } from './real-data.ts';

async function markovOn(name: string) {
  const data = await loadSessionDataset(name, { dataDir: dataDir() });
  const split = sessionSplit(data);
  return evaluate(markovScorer(split.train, data.numItems), split.test, {
    protocol: 'full',
    maskHistory: false,
    cutoffs: [10, 20],
  });
}

describe('session data sets against the reference Markov baseline', () => {
  it('tmall-odrec', async () => {
    const r = await markovOn('tmall');
    expect(r.cases).toBe(25898);
    const reference = {
      'HR@10': 0.0934,
      'NDCG@10': 0.0642,
      'MRR@10': 0.055,
      'HR@20': 0.1028,
      'NDCG@20': 0.0666,
      'MRR@20': 0.0557,
    };
    expect(rounded(r, reference)).toEqual(reference);
  });

  it('retailrocket-odrec', async () => {
    const r = await markovOn('retailrocket');
    expect(r.cases).toBe(15132);
    const reference = {
      'HR@10': 0.3167,
      'NDCG@10': 0.2103,
      'MRR@10': 0.177,
      'HR@20': 0.3554,
      'NDCG@20': 0.2202,
      'MRR@20': 0.1798,
    };
    expect(rounded(r, reference)).toEqual(reference);
  });
});
