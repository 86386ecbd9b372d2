/**
 * WebGPU programs behind the PocketrecTtScoreTopK kernel (registered in ./register.ts).
 *
 * The item table of a tensor-train model is never built (src/model/tt-matrix.ts). Scoring one
 * query contracts it into the cores from the last to the first; every stage but the last has a
 * size set by the small factors, and the last one is a product with one row per table row:
 *
 *   score[i1 * R + rest] = Σ_c firstCore[i1, 0, c] · contractedQuery[c, rest],
 *
 * with c over the first core's K = J_1 r_1 columns and R = I_2⋯I_n. ./register.ts computes
 * contractedQuery [K, R] with tfjs ops; TtScoreTopKProgram does this last stage and keeps only
 * each workgroup's best k rows, so neither the table [N, d] nor the scores [N] ever exist.
 *
 * The selection around it is ../top-k-selection/program.ts.
 */
import { ScoredRowsProgram } from '../top-k-selection/program.ts';

/**
 * The last contraction stage fused with a per-workgroup top k.
 *
 * Inputs: firstCore [I_1, 1, K] (the first core as stored), contractedQuery [K, R] (the query
 * contracted into cores 2..n, with a row's trailing digits `rest` along the fast axis, so that
 * neighbouring invocations, which score neighbouring rows, read neighbouring addresses),
 * exclude [E] (sorted int32 row ids; [-1] for none). A row's score is its K-term dot product.
 */
export class TtScoreTopKProgram extends ScoredRowsProgram {
  variableNames = ['firstCore', 'contractedQuery', 'exclude'];
  shaderKey = 'pocketrecTtScoreTopK';

  protected rowScore(): string {
    return `
      fn rowScore(row : u32) -> f32 {
        let width = u32(uniforms.firstCoreShape.z);
        let restCount = u32(uniforms.contractedQueryShape.y);
        let first = row / restCount;
        let rest = row - first * restCount;
        let coreOffset = first * width;
        var score = 0.0;
        for (var c = 0u; c < width; c++) {
          score += firstCore[coreOffset + c] * contractedQuery[c * restCount + rest];
        }
        return score;
      }
    `;
  }
}
