/**
 * A sequential model on WebGPU that the fused kernels can encode: the encoder step (a few
 * dozen small products, tens of microseconds on the CPU) runs in the fused WASM kernels
 * (fused-sequential-scorer.ts), and only the full-catalogue scoring, the part that grows
 * with the catalogue, goes to the GPU: the table is kept there and scored with the top k in
 * one WGSL kernel (kernels/webgpu/dense-score-topk, tt-score-topk). A request is then one
 * upload of the query, the kernel's few dispatches and one read of the k best; on tfjs's ops
 * the same request on WebGPU is 123-138 dispatches (test/browser/webgpu-request.test.ts),
 * each with tfjs's own cost on the CPU.
 *
 * Candidates and the window's repeat bonus are scored on the CPU by the kernels (a handful
 * of rows). The answers are scoreSequential's (test/browser/webgpu-request.test.ts against
 * WASM; test/browser/parity.data.test.ts on 200 ML-1M sessions).
 */
import * as tf from '@tensorflow/tfjs';
import {
  encodeRequest,
  type FusedQuery,
  type FusedRanking,
  type FusedSequentialScorer,
  rankFusedCandidates,
  repeatsToLift,
} from './fused-sequential-scorer.ts';
import { mergeRanked, rankAll, type SequentialScorer } from './sequential-scorer.ts';
import { nothing } from './top-k.ts';

export interface FusedGpuScorer {
  kind: 'fused-encoder-gpu-table';
  /** Encodes the window (its own copy of the table serves the window's rows). */
  fused: FusedSequentialScorer;
  /** The table on the GPU and how it is ranked there; its tfjs encoder is not used. */
  table: SequentialScorer;
}

/** The best k of a request, as scoreSequential and scoreFused rank it. */
export async function scoreFusedOnGpu(
  scorer: FusedGpuScorer,
  query: FusedQuery,
  onEncoded: (ms: number) => void,
): Promise<FusedRanking> {
  const { fused } = scorer;
  const started = encodeRequest(fused, query, onEncoded);
  if (!started) return { ...nothing(), reused: 0 };
  const { excluded, reused } = started;
  const kernels = fused.fused;
  const repeats = repeatsToLift(fused, query.history, excluded);
  if (query.candidates) {
    return { ...rankFusedCandidates(fused, query.candidates, repeats, query.k, excluded), reused };
  }
  // A copy: the view into the kernels' memory is theirs again at the next call.
  const q = tf.tensor2d(kernels.lastQuery().slice(), [1, fused.config.dim]);
  try {
    // The window's items are ranked on their own with the bonus: the best k of the two
    // lists is the best k of all.
    const rest = await rankAll(scorer.table, q, query.k, new Set([...excluded, ...repeats]));
    if (repeats.length === 0) return { ...rest, reused };
    const rows = Int32Array.from(repeats);
    const lifted = kernels.scoreRows(rows).map((v) => v + fused.repeatBonus);
    return { ...mergeRanked(rest, { rows, scores: lifted }, query.k), reused };
  } finally {
    q.dispose();
  }
}
