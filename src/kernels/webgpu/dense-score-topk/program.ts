/**
 * The WebGPU program behind the PocketrecDenseScoreTopK kernel (registered in ./register.ts):
 * a dense item table's scores for one query, fused with each workgroup's top k, so no score
 * per item is written or read back; only the final k leave the GPU (the selection around it:
 * ../top-k-selection/program.ts).
 */
import { ScoredRowsProgram } from '../top-k-selection/program.ts';

/**
 * Inputs: query [1, d], tableT [d, N] (the table transposed, as the engine keeps it for its
 * product: neighbouring invocations score neighbouring rows and read neighbouring addresses),
 * exclude [E] (sorted int32 row ids; [-1] for none).
 */
export class DenseScoreTopKProgram extends ScoredRowsProgram {
  variableNames = ['query', 'tableT', 'exclude'];
  shaderKey = 'pocketrecDenseScoreTopK';

  protected rowScore(): string {
    return `
      fn rowScore(row : u32) -> f32 {
        let width = u32(uniforms.tableTShape.x);
        let rowCount = u32(uniforms.tableTShape.y);
        var score = 0.0;
        for (var c = 0u; c < width; c++) {
          score += query[c] * tableT[c * rowCount + row];
        }
        return score;
      }
    `;
  }
}
