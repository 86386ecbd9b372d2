/**
 * UMEC's resource-constrained minimax (Shen et al., ICLR 2021; VITA-Group/UMEC's
 * rc_utils.py and rc_optimizer.py), on plain arrays:
 *
 *   min_{W, s} max_{y ≥ 0, z ≥ 0}  L(W) + Σ_l y_l · S_l(W, s_l) + z · (R(s) − B)
 *
 * where layer l has n_l groups with scores g (squared group norms), S_l is the sum of the
 * ⌈s_l⌉ smallest, R(s) the model's FLOPs with the ⌈s_l⌉ smallest groups of every layer
 * removed, relative to the dense model, and B the budget. After each optimiser step on W:
 *   1. proximal step on W: the ⌈s_l⌉ smallest groups shrink by 1 / (1 + 2 lr y_l)
 *      (proxFactor; the caller scales the weights);
 *   2. s by gradient descent: ∂S_l/∂s_l is the (⌈s_l⌉+1)-th smallest score (straight-through
 *      for the rounding, leastSumGradient) times y_l, plus z ∂R/∂s_l, taken here as the
 *      exact change of R when one more group of l goes (≤ 0); the gradient is clamped
 *      where s sits at a bound, clipped to max-norm 1, and s to [0, n_l − 1];
 *   3. dual ascent: y_l += ylr · S_l and z += zlr · (R − B), both clamped at 0.
 * The defaults are the public code's (SGD on s at 0.05, ylr 0.1, zlr 2.0). The state is
 * small arrays, so it is checkpointed with the weights and a run resumes exactly.
 */

export interface MinimaxRates {
  /** Step of the gradient descent on s. */
  sLr: number;
  /** Dual ascent step of each layer's multiplier y_l. */
  yLr: number;
  /** Dual ascent step of the budget's multiplier z. */
  zLr: number;
  /**
   * The step of the proximal shrink 1 / (1 + 2 η y). The public code's is its SGD rate on W
   * (0.1); with Adam at 1e-4 on W that rate would shrink the pruned groups a thousand times
   * more slowly, so η is its own setting, the public code's rate by default.
   */
  proxLr: number;
}

export const DEFAULT_MINIMAX_RATES: MinimaxRates = { sLr: 0.05, yLr: 0.1, zLr: 2.0, proxLr: 0.1 };

export interface MinimaxState {
  /** Groups to prune per layer, continuous; ⌈s_l⌉ are pruned. */
  s: Float64Array;
  /** Each layer's multiplier of its least-s group penalty. */
  y: Float64Array;
  /** The budget's multiplier. */
  z: number;
}

export function initialMinimax(layers: number): MinimaxState {
  return { s: new Float64Array(layers), y: new Float64Array(layers), z: 0 };
}

/** How many groups of a layer s prunes: ⌈s⌉ (the public code's ceiled_s, unit 1). */
export function prunedCount(s: number): number {
  return Math.max(0, Math.ceil(s - 1e-9));
}

/** Group indices in ascending order of score; ties in index order. */
export function ascendingOrder(scores: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
}

/** The sum of the k smallest scores (S_l). */
export function leastSum(scores: ArrayLike<number>, k: number): number {
  const order = ascendingOrder(scores);
  let sum = 0;
  for (let i = 0; i < Math.min(k, order.length); i++) sum += scores[order[i] as number] as number;
  return sum;
}

/**
 * ∂S/∂s with the straight-through rounding: the (k+1)-th smallest score, or the largest
 * when every group is already pruned (LeastSsum.backward).
 */
export function leastSumGradient(scores: ArrayLike<number>, k: number): number {
  const order = ascendingOrder(scores);
  if (order.length === 0) return 0;
  const at = Math.min(k, order.length - 1);
  return scores[order[at] as number] as number;
}

/** What the proximal step multiplies a pruned-so-far group's weights by. */
export function proxFactor(lr: number, y: number): number {
  return 1 / (1 + 2 * lr * y);
}

/** One layer as the s- and dual steps see it. */
export interface MinimaxLayer {
  /** Squared norm of each group now (after the proximal step). */
  scores: ArrayLike<number>;
}

/**
 * Steps 2 and 3 above, in place. `resource(counts)` is R for pruned counts per layer (the
 * lowest-score groups of each); it is called a few times per step and should be cheap.
 */
export function minimaxStep(
  state: MinimaxState,
  layers: readonly MinimaxLayer[],
  resource: (counts: readonly number[]) => number,
  budget: number,
  rates: Pick<MinimaxRates, 'sLr' | 'yLr' | 'zLr'> = DEFAULT_MINIMAX_RATES,
): void {
  const L = layers.length;
  const counts = Array.from(state.s, prunedCount);
  const r = resource(counts);
  const grad = new Float64Array(L);
  const upper = layers.map((l) => Math.max(0, l.scores.length - 1 - 1e-8));
  let norm = 0;
  for (let l = 0; l < L; l++) {
    const scores = (layers[l] as MinimaxLayer).scores;
    const penalty = (state.y[l] as number) * leastSumGradient(scores, counts[l] as number);
    const more = counts.slice();
    more[l] = Math.min((more[l] as number) + 1, scores.length);
    const resourceSlope = resource(more) - r;
    let g = penalty + state.z * resourceSlope;
    const s = state.s[l] as number;
    if (s >= (upper[l] as number)) g = Math.max(g, 0);
    if (s <= 0) g = Math.min(g, 0);
    grad[l] = g;
    norm = Math.max(norm, Math.abs(g));
  }
  const clip = norm > 1 ? 1 / norm : 1;
  for (let l = 0; l < L; l++) {
    const s = (state.s[l] as number) - rates.sLr * (grad[l] as number) * clip;
    state.s[l] = Math.min(Math.max(s, 0), upper[l] as number);
  }
  const after = Array.from(state.s, prunedCount);
  for (let l = 0; l < L; l++) {
    const least = leastSum((layers[l] as MinimaxLayer).scores, after[l] as number);
    state.y[l] = Math.max(0, (state.y[l] as number) + rates.yLr * least);
  }
  state.z = Math.max(0, state.z + rates.zLr * (resource(after) - budget));
}
