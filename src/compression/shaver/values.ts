/**
 * Shaver's estimate of the Shapley value of every embedding element of a CTR model (Tran
 * et al., WWW 2025): the players are single elements (row, dimension) of the field
 * embedding table, indexed globally as row * dim + k (src/model/ctr/field-embedding.ts).
 * A sequence model's estimate is the same for its item table [numItems + 1, dim], one field.
 * The estimator writes one; pruning to any budget reads it.
 */

/** How an absent element is filled when the value function evaluates a coalition. */
export type FillMode = 'codebook' | 'zero';

export interface ShapleyEstimate {
  /**
   * Each element's marginal contribution (the decrease in loss its presence brings: BCE, or
   * a sequence model's cross-entropy), by global index, averaged over every estimation
   * sample: one that does not look the element up contributes 0, so an element of a rare
   * feature gets a small value.
   */
  values: Float32Array;
  /**
   * Standard error of each mean over the estimation samples, a sample that did not look the
   * element up counting as a contribution of 0 (0 before the second sample).
   */
  standardErrors: Float32Array;
  /** How many samples credited each element (0: never looked up in the estimation data). */
  counts: Int32Array;
  /** Estimation rows processed in all, and full passes over the estimation data. */
  samples: number;
  passes: number;
  fill: FillMode;
  /**
   * [numFields, dim]: each field's codebook vector (frequency-weighted mean of its rows); a
   * sequence model's item table is one field.
   */
  codebook: Float32Array;
  /** Wall-clock seconds spent estimating, over every resumed run. */
  seconds: number;
  /** Embedding width: element i is row floor(i / dim), dimension i % dim. */
  dim: number;
  /**
   * Whether the stopping rule was met (the largest standard error under the tolerance times
   * the range of the values, after the minimum passes); false when a limit ended it first.
   */
  converged: boolean;
  /** Where the estimate comes from, for a reader who has only the stored files. */
  source?: ShapleySource;
}

export interface ShapleySource {
  /** The package's manifestSha256. */
  packageSha256: string;
  /**
   * Which weights the values belong to (weightsSha256 of src/package/digest.ts): the same
   * for the package written again with other metadata. Absent in older estimates.
   */
  weightsSha256?: string;
  dataset: string;
  /** The rows estimated on: 'train', 'validation' or 'train+validation'. */
  split: string;
  seed: number;
  /** The command that made the estimate (absent in estimates written before it was kept). */
  command?: string;
}
