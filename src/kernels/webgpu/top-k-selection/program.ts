/**
 * The top-k selection the scoring programs share (tt-score-topk, dense-score-topk): each
 * workgroup scores its own rows and keeps its best k in workgroup memory, then one workgroup
 * merges those lists (CandidateMergeProgram). A scoring program brings only its rowScore().
 *
 * Every program here writes (score, row) candidates packed in one int32 buffer, interleaved as
 * [bitcast(score), row] pairs: runWebGPUProgram gives a program one output, and a float cannot
 * hold every int32 row id exactly. PackedCandidatesUnpackProgram splits the final list, or the
 * caller reads it back whole (./run.ts, readPackedCandidates).
 *
 * Order: a candidate ranks before another when its score is higher, or equal with a lower row,
 * so every result is deterministic and ties go to the lower row.
 */
import { type WebGPUProgram, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';

/**
 * Invocations per workgroup, each scoring one row per pass. 256 is a multiple of every GPU's
 * SIMD width (32 or 64 lanes), is what tfjs's own flat programs use, and halves evenly into the
 * bitonic network below: the 512 compare-exchanges of one sorting step are two per invocation.
 */
export const WORKGROUP_SIZE = 256;

/**
 * Selection slots per workgroup: the kept top k at the front, newly offered candidates staged
 * behind them. A power of two (the bitonic network needs one), and 1024 scores + rows take
 * 8 KiB of workgroup memory, half of WebGPU's guaranteed 16 KiB (maxComputeWorkgroupStorageSize),
 * so several workgroups stay resident per compute unit.
 */
export const SELECTION_SLOTS = 1024;

/**
 * The largest k: a full pass (WORKGROUP_SIZE offers) must always fit behind the kept k after a
 * compaction.
 */
export const MAX_TOP_K = SELECTION_SLOTS - WORKGROUP_SIZE;

/**
 * At most this many scoring workgroups. 512 workgroups of 256 invocations fill a large GPU
 * (about 130 compute units, a few resident workgroups each) while keeping the candidate list
 * (512 k) small for the single-workgroup merge. Larger tables give each workgroup more passes
 * instead of more workgroups; that also lets the running cutoff discard most rows unsorted.
 * It is far below WebGPU's 65,535 workgroups per dispatch dimension, so the dispatch stays 1-D
 * and tfjs never reshapes it (the shaders read the workgroup id from workgroupId.x).
 */
export const MAX_SCORING_WORKGROUPS = 512;

/** How a scoring dispatch splits numRows rows into workgroups of whole passes. */
export interface ScoringLayout {
  /** Passes per workgroup: each workgroup owns passes * WORKGROUP_SIZE consecutive rows. */
  passes: number;
  workgroups: number;
}

export function scoringLayout(numRows: number): ScoringLayout {
  const totalPasses = Math.max(1, Math.ceil(numRows / WORKGROUP_SIZE));
  const passes = Math.ceil(totalPasses / MAX_SCORING_WORKGROUPS);
  return { passes, workgroups: Math.ceil(totalPasses / passes) };
}

/**
 * The running top-k selection both selecting programs share: workgroup memory, the rank order,
 * a bitonic sort of all slots, and the offer / compact cycle.
 *
 * Slots [0, k) hold the best k seen so far (after the last sort); slot k - 1 is the cutoff a new
 * candidate must rank before to be worth staging. Offers are appended behind the kept k with an
 * atomic counter. Before a pass could overflow the slots, the whole array is sorted, which puts
 * the best k of everything staged at the front again and raises the cutoff; entries left behind
 * the front rank after the cutoff, so they can never return to the top k and are overwritten.
 * Once the cutoff is high, most rows are rejected by one comparison and sorts become rare.
 *
 * The branch that sorts depends on workgroup memory, so its condition is read back with
 * workgroupUniformLoad: WGSL allows barriers only in control flow it can prove uniform.
 * An empty slot is (-inf, NO_ROW); -inf comes from tfjs's INFINITY uniform because WGSL has no
 * infinite constants. A NaN score ranks before nothing, so it is never offered.
 */
export const selectionSnippet = `
  const WORKGROUP_SIZE : u32 = ${WORKGROUP_SIZE}u;
  const SLOTS : u32 = ${SELECTION_SLOTS}u;
  // No table has this row: ids are int32 and the padded table has fewer than 2^31 - 1 rows.
  const NO_ROW : i32 = 2147483647;

  var<workgroup> slotScores : array<f32, ${SELECTION_SLOTS}>;
  var<workgroup> slotRows : array<i32, ${SELECTION_SLOTS}>;
  var<workgroup> stagedCount : atomic<u32>;
  var<workgroup> stagedCountSnapshot : u32;
  var<workgroup> cutoffScore : f32;
  var<workgroup> cutoffRow : i32;

  fn ranksBefore(scoreA : f32, rowA : i32, scoreB : f32, rowB : i32) -> bool {
    return scoreA > scoreB || (scoreA == scoreB && rowA < rowB);
  }

  fn startSelection(k : u32) {
    for (var j = 0u; j < SLOTS / WORKGROUP_SIZE; j++) {
      let slot = localIndex + j * WORKGROUP_SIZE;
      slotScores[slot] = -uniforms.INFINITY;
      slotRows[slot] = NO_ROW;
    }
    if (localIndex == 0u) {
      atomicStore(&stagedCount, k);
      cutoffScore = -uniforms.INFINITY;
      cutoffRow = NO_ROW;
    }
    workgroupBarrier();
  }

  fn offerCandidate(score : f32, row : i32) {
    if (ranksBefore(score, row, cutoffScore, cutoffRow)) {
      let slot = atomicAdd(&stagedCount, 1u);
      slotScores[slot] = score;
      slotRows[slot] = row;
    }
  }

  // Bitonic sort of all slots, best first. Blocks of each merge size alternate direction so
  // that two neighbouring blocks form one bitonic sequence for the next size.
  fn sortSlots() {
    for (var size = 2u; size <= SLOTS; size = size << 1u) {
      for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
        for (var j = 0u; j < SLOTS / 2u / WORKGROUP_SIZE; j++) {
          let pair = localIndex + j * WORKGROUP_SIZE;
          let lo = (pair / stride) * (stride << 1u) + pair % stride;
          let hi = lo + stride;
          let bestFirst = (lo & size) == 0u;
          let scoreLo = slotScores[lo];
          let rowLo = slotRows[lo];
          let scoreHi = slotScores[hi];
          let rowHi = slotRows[hi];
          if (ranksBefore(scoreHi, rowHi, scoreLo, rowLo) == bestFirst) {
            slotScores[lo] = scoreHi;
            slotRows[lo] = rowHi;
            slotScores[hi] = scoreLo;
            slotRows[hi] = rowLo;
          }
        }
        workgroupBarrier();
      }
    }
  }

  // Called by every invocation after each pass of offers.
  fn makeRoomForNextPass(k : u32) {
    workgroupBarrier();
    if (localIndex == 0u) {
      stagedCountSnapshot = atomicLoad(&stagedCount);
    }
    let staged = workgroupUniformLoad(&stagedCountSnapshot);
    if (staged > SLOTS - WORKGROUP_SIZE) {
      sortSlots();
      if (localIndex == 0u) {
        atomicStore(&stagedCount, k);
        cutoffScore = slotScores[k - 1u];
        cutoffRow = slotRows[k - 1u];
      }
      workgroupBarrier();
    }
  }

  // The kept top k (call after a final sortSlots) as packed pairs from list position 'first'.
  fn writeSelection(first : u32, k : u32) {
    for (var i = localIndex; i < k; i += WORKGROUP_SIZE) {
      let entry = 2u * (first + i);
      if (entry + 1u < u32(uniforms.outShape)) {
        result[entry] = bitcast<i32>(slotScores[i]);
        result[entry + 1u] = slotRows[i];
      }
    }
  }
`;

/**
 * A scoring program's code: `rowScore` (WGSL defining `fn rowScore(row : u32) -> f32`) for
 * every row of the workgroup's range, with the selection around it.
 *
 * Workgroup w owns rows [w * passes * 256, (w + 1) * passes * 256). In each pass every
 * invocation takes one row, drops it if it is the padding row 0, at or past numRows, or in
 * `exclude` (binary search), else scores it and offers it to the selection. Each row's score is
 * computed once, by one invocation; nothing of size N is written. The program's uniforms must
 * declare numRows, k and passes, and its inputs include `exclude`.
 */
export function scoredRowsSelection(rowScore: string): string {
  return `
      ${selectionSnippet}

      fn isExcluded(row : i32) -> bool {
        var lo = 0;
        var hi = uniforms.excludeShape;
        while (lo < hi) {
          let mid = (lo + hi) / 2;
          if (exclude[mid] < row) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        return lo < uniforms.excludeShape && exclude[lo] == row;
      }

      ${rowScore}

      // tfjs calls main(getGlobalIndex()) for a flat dispatch layout; rows come from the
      // workgroup id instead.
      fn main(index : i32) {
        let k = u32(uniforms.k);
        let passes = u32(uniforms.passes);
        let numRows = u32(uniforms.numRows);
        startSelection(k);
        let group = workgroupId.x;
        let groupFirstRow = group * passes * WORKGROUP_SIZE;
        for (var passIndex = 0u; passIndex < passes; passIndex++) {
          let row = groupFirstRow + passIndex * WORKGROUP_SIZE + localIndex;
          if (row >= 1u && row < numRows && !isExcluded(i32(row))) {
            offerCandidate(rowScore(row), i32(row));
          }
          makeRoomForNextPass(k);
        }
        sortSlots();
        writeSelection(group * k, k);
      }
    `;
}

/**
 * A program that scores rows and keeps each workgroup's best k (scoredRowsSelection): a
 * subclass names its inputs (`exclude` among them) and brings rowScore. Output: int32
 * [workgroups * k * 2], workgroup w's best k rows best first, as packed (score, row) pairs,
 * (-inf, NO_ROW) where it had fewer than k rows.
 */
export abstract class ScoredRowsProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract shaderKey: string;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  uniforms = 'numRows : i32, k : i32, passes : i32,';

  constructor(layout: ScoringLayout, k: number) {
    this.outputShape = [layout.workgroups * k * 2];
    this.dispatchLayout = webgpu_util.flatDispatchLayout(this.outputShape);
    // One workgroup per row range; the output size does not set the dispatch here.
    this.dispatch = [layout.workgroups, 1, 1];
  }

  /** WGSL that defines `fn rowScore(row : u32) -> f32`. */
  protected abstract rowScore(): string;

  getUserCode(): string {
    return scoredRowsSelection(this.rowScore());
  }
}

/**
 * Merges the scoring workgroups' candidate lists into the final top k, in one workgroup with the
 * same selection. tf.topk is not used for this: tfjs-webgpu's TopK merge step keeps the first of
 * two equal values by position, not by index, so ties would not reliably go to the lower row.
 *
 * Input: candidates int32 [numLists * k * 2] (TtScoreTopKProgram's output). Output: int32
 * [k * 2], packed the same way, best first. Candidates are read rank-major (every list's best,
 * then every list's second best, ...): the strongest arrive first, the cutoff rises at once, and
 * the lower ranks of most lists are rejected without a sort.
 */
export class CandidateMergeProgram implements WebGPUProgram {
  variableNames = ['candidates'];
  outputShape: number[];
  shaderKey = 'pocketrecCandidateMerge';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number] = [1, 1, 1];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  uniforms = 'numLists : i32, k : i32, passes : i32,';

  constructor(k: number) {
    this.outputShape = [k * 2];
    this.dispatchLayout = webgpu_util.flatDispatchLayout(this.outputShape);
  }

  /** Passes the single workgroup needs to read numLists lists of k. */
  static passes(numLists: number, k: number): number {
    return Math.ceil((numLists * k) / WORKGROUP_SIZE);
  }

  getUserCode(): string {
    return `
      ${selectionSnippet}

      fn main(index : i32) {
        let k = u32(uniforms.k);
        let passes = u32(uniforms.passes);
        let numLists = u32(uniforms.numLists);
        startSelection(k);
        for (var passIndex = 0u; passIndex < passes; passIndex++) {
          let position = passIndex * WORKGROUP_SIZE + localIndex;
          if (position < numLists * k) {
            let rank = position / numLists;
            let list = position - rank * numLists;
            let entry = 2u * (list * k + rank);
            let row = candidates[entry + 1u];
            if (row != NO_ROW) {
              offerCandidate(bitcast<f32>(candidates[entry]), row);
            }
          }
          makeRoomForNextPass(k);
        }
        sortSlots();
        writeSelection(0u, k);
      }
    `;
  }
}

/**
 * One half of a packed candidate list: the scores (float32, bit-cast back) or the rows (int32).
 */
export class PackedCandidatesUnpackProgram implements WebGPUProgram {
  variableNames = ['packed'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  private readonly part: 'scores' | 'rows';

  constructor(count: number, part: 'scores' | 'rows') {
    this.part = part;
    this.outputShape = [count];
    this.shaderKey = `pocketrecUnpackCandidates_${part}`;
    this.dispatchLayout = webgpu_util.flatDispatchLayout(this.outputShape);
    this.dispatch = webgpu_util.computeDispatch(
      this.dispatchLayout,
      this.outputShape,
      this.workgroupSize,
    );
  }

  getUserCode(): string {
    const value =
      this.part === 'scores' ? 'bitcast<f32>(packed[2 * index])' : 'packed[2 * index + 1]';
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          result[index] = ${value};
        }
      }
    `;
  }
}
