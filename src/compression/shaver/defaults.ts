/**
 * The estimator's defaults, kept apart from it (it loads tfjs) so that the command line can
 * show them in its help without loading tfjs. estimator.ts re-exports them.
 */
import type { ShapleyConfig } from './estimator.ts';

/** The public code's rule (1% of the range after one full pass); 128 rows per step. */
export const DEFAULT_SHAPLEY: ShapleyConfig = {
  samplesPerStep: 128,
  maxPasses: 10,
  maxSamples: Number.POSITIVE_INFINITY,
  seed: 2020,
  fill: 'codebook',
  tolerance: 0.01,
  minPasses: 1,
  forward: 'batched',
  threads: 1,
};
