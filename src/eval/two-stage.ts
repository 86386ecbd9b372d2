/**
 * Two-stage evaluation: a next-item model retrieves its top N items for each held-out case
 * (seen items left out, as the runtime leaves them out), a ranker re-orders them in the
 * case's context (src/model/ctr/ranker.ts: the rows and the fusion the worker runs), and
 * both orders are scored against the case's target. The target outside retrieval's top N
 * is a miss for both, so at k <= N retrieval's figures are those of full ranking.
 */
import type { CtrModel } from '../model/ctr/model.ts';
import {
  encodeRankerContext,
  type RankerItemTable,
  type RankerSpec,
  twoStageOrder,
  twoStageRows,
} from '../model/ctr/ranker.ts';
import type { CtrRows } from '../model/ctr/schema.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { topK } from '../runtime/engine/top-k.ts';
import type { Scorer } from './scorer.ts';

export interface TwoStageCase {
  history: Int32Array;
  target: number;
  /** Raw context values, as a page sends them. */
  context: Readonly<Record<string, string>>;
  /** What kind of step it is, for figures by kind (e.g. 'visit start'). */
  group?: string;
}

/** A case after retrieval: its top N rows, best first, with their scores. */
export interface RetrievedCase {
  candidates: Int32Array;
  scores: Float32Array;
  target: number;
  context: Readonly<Record<string, string>>;
  group?: string;
}

/** Histories scored per batch: bounds the score arrays held at once. */
const BATCH = 256;

export async function retrieve(
  scorer: Scorer,
  cases: readonly TwoStageCase[],
  candidates: number,
): Promise<RetrievedCase[]> {
  const out: RetrievedCase[] = [];
  for (let start = 0; start < cases.length; start += BATCH) {
    const batch = cases.slice(start, start + BATCH);
    const scored = await scorer.score(batch.map((c) => c.history));
    batch.forEach((c, i) => {
      const top = topK(scored[i] as Float32Array, candidates, new Set(c.history), { from: 1 });
      out.push({
        candidates: top.rows,
        scores: top.scores,
        target: c.target,
        context: c.context,
        ...(c.group === undefined ? {} : { group: c.group }),
      });
    });
  }
  return out;
}

/**
 * The ranker's click probability of every retrieved candidate, per case. `withContext`
 * false sends no context at all (every context field unknown): the ranker as a page that
 * sends none would run it.
 */
export async function rankRetrieved(
  model: CtrModel,
  ranker: RankerSpec,
  table: RankerItemTable,
  cases: readonly RetrievedCase[],
  withContext = true,
): Promise<Float32Array[]> {
  const { schema } = model;
  const parts = cases.map((c) =>
    twoStageRows(
      ranker,
      schema,
      table,
      encodeRankerContext(ranker, schema, withContext ? c.context : {}),
      c.candidates,
      false,
    ),
  );
  const probabilities = await ctrProbabilities(model, concatRows(parts));
  let offset = 0;
  return parts.map((part) => {
    const slice = probabilities.subarray(offset, offset + part.numRows);
    offset += part.numRows;
    return slice;
  });
}

function concatRows(parts: readonly CtrRows[]): CtrRows {
  const numRows = parts.reduce((n, p) => n + p.numRows, 0);
  const fields = parts[0]?.ids.length ?? 0;
  const ids = Array.from({ length: fields }, (_, f) => {
    const column = new Int32Array(numRows);
    let at = 0;
    for (const part of parts) {
      column.set(part.ids[f] as Int32Array, at);
      at += part.numRows;
    }
    return column;
  });
  return { numRows, ids, labels: new Float32Array(numRows) };
}

export interface TopKMetrics {
  cases: number;
  /** Hit rate and NDCG of the target in the first k. */
  hr: number;
  ndcg: number;
}

function score(ranks: readonly number[], k: number): TopKMetrics {
  let hits = 0;
  let gain = 0;
  for (const rank of ranks) {
    if (rank >= 0 && rank < k) {
      hits++;
      gain += 1 / Math.log2(rank + 2);
    }
  }
  const n = Math.max(1, ranks.length);
  return { cases: ranks.length, hr: hits / n, ndcg: gain / n };
}

/** Retrieval's own order (the target's place among its candidates; -1 outside them). */
export function retrievalMetrics(cases: readonly RetrievedCase[], k: number): TopKMetrics {
  return score(
    cases.map((c) => c.candidates.indexOf(c.target)),
    k,
  );
}

/** The fused order at `weight` (the runtime's twoStageOrder). */
export function twoStageMetrics(
  ranker: RankerSpec,
  model: CtrModel,
  cases: readonly RetrievedCase[],
  probabilities: readonly Float32Array[],
  weight: number,
  k: number,
): TopKMetrics {
  const at = { ...ranker, weight };
  return score(
    cases.map((c, i) => {
      const order = twoStageOrder(
        at,
        model.schema,
        c.candidates,
        c.scores,
        probabilities[i] as Float32Array,
      );
      const hit = order.find((item) => item.row === c.target);
      return hit === undefined ? -1 : hit.rank;
    }),
    k,
  );
}

/**
 * The weight of the grid with the best NDCG@k on `cases` (validation), the smaller on a
 * tie: weight 0 is retrieval alone, so the fitted ranker never does worse than retrieval
 * on the cases it was fitted on.
 */
export function fitWeight(
  ranker: RankerSpec,
  model: CtrModel,
  cases: readonly RetrievedCase[],
  probabilities: readonly Float32Array[],
  grid: readonly number[],
  k: number,
): { weight: number; metrics: TopKMetrics; tried: { weight: number; ndcg: number }[] } {
  let best: { weight: number; metrics: TopKMetrics } | null = null;
  const tried: { weight: number; ndcg: number }[] = [];
  for (const weight of [...grid].sort((a, b) => a - b)) {
    const metrics = twoStageMetrics(ranker, model, cases, probabilities, weight, k);
    tried.push({ weight, ndcg: metrics.ndcg });
    if (best === null || metrics.ndcg > best.metrics.ndcg) best = { weight, metrics };
  }
  if (best === null) throw new Error('fitWeight needs at least one weight');
  return { ...best, tried };
}

/** Retrieval's and the fused figures for each group of cases, largest group first. */
export function metricsByGroup(
  ranker: RankerSpec,
  model: CtrModel,
  cases: readonly RetrievedCase[],
  probabilities: readonly Float32Array[],
  k: number,
): { group: string; retrieval: TopKMetrics; twoStage: TopKMetrics }[] {
  const groups = new Map<string, number[]>();
  cases.forEach((c, i) => {
    const group = c.group ?? 'all';
    groups.set(group, [...(groups.get(group) ?? []), i]);
  });
  return [...groups]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([group, at]) => {
      const subset = at.map((i) => cases[i] as RetrievedCase);
      const scored = at.map((i) => probabilities[i] as Float32Array);
      return {
        group,
        retrieval: retrievalMetrics(subset, k),
        twoStage: twoStageMetrics(ranker, model, subset, scored, ranker.weight, k),
      };
    });
}
