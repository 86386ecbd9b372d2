/**
 * The training steps of the structured-pruning searches, as a CtrTrainingMethod
 * (src/train/train-ctr.ts) that runs after each optimiser step:
 *
 * - UMEC: the proximal step on the ⌈s_l⌉ smallest groups of each layer, then the s and dual
 *   steps of minimax.ts. s, y and z are non-trainable variables, so the checkpoint carries
 *   them and a resumed search goes on exactly.
 * - Group Lasso: the proximal step of λ Σ_g √p_g ||W_g||₂, group soft-thresholding
 *   W_g ← W_g · max(0, 1 − η λ √p_g / ||W_g||₂) with the proximal rate η and p_g the group's
 *   size, which drives whole groups to zero.
 */
import * as tf from '@tensorflow/tfjs';
import type { Weights } from '../../model/ctr/layers.ts';
import type { CtrTrainingMethod } from '../../train/train-ctr.ts';
import {
  flopsRatio,
  type GroupLayer,
  groupElements,
  groupScores,
  keepHighest,
  scaleGroups,
  type UmecModel,
} from './groups.ts';
import {
  ascendingOrder,
  type MinimaxRates,
  type MinimaxState,
  minimaxStep,
  proxFactor,
  prunedCount,
} from './minimax.ts';

/**
 * The minimax state as variables: `umec.s`, `umec.y` [layers] and `umec.z` [1]. The checkpoint
 * knows them by these keys; their tfjs names only need to be unique, as tfjs registers names
 * process-wide and a second search in the same process must not collide with the first.
 */
function stateVariables(layers: number): Record<string, tf.Variable> {
  const v = (name: string, size: number) =>
    tf.variable(tf.zeros([size]), false, `${name}#${Math.random()}`);
  return { 'umec.s': v('umec.s', layers), 'umec.y': v('umec.y', layers), 'umec.z': v('umec.z', 1) };
}

export function readMinimax(state: Record<string, tf.Variable>): MinimaxState {
  const values = (name: string) => Float64Array.from(state[name]?.dataSync() ?? []);
  return { s: values('umec.s'), y: values('umec.y'), z: values('umec.z')[0] ?? 0 };
}

function writeMinimax(state: Record<string, tf.Variable>, m: MinimaxState): void {
  tf.tidy(() => {
    state['umec.s']?.assign(tf.tensor1d(Float32Array.from(m.s)));
    state['umec.y']?.assign(tf.tensor1d(Float32Array.from(m.y)));
    state['umec.z']?.assign(tf.tensor1d([m.z]));
  });
}

/**
 * What the s and dual steps read: the squared group norms as they are (the paper's); each
 * over its layer's mean (relative); or each over its group's weight count (mean: the mean
 * squared weight), so that layers whose groups differ in size (a field's dim × 400 weights
 * against a last hidden unit's one output weight) are weighed alike without the layer's own
 * spread being flattened away. Within a layer of equal groups the order, and so which groups
 * are pruned, is the same every way.
 */
export type ScoreScale = 'raw' | 'relative' | 'mean';
export const SCORE_SCALES: readonly ScoreScale[] = ['raw', 'relative', 'mean'];

export function relativeScores(scores: Float32Array): Float32Array {
  const mean = scores.reduce((a, b) => a + b, 0) / Math.max(1, scores.length);
  return mean > 0 ? scores.map((v) => v / mean) : scores;
}

/** What a search reports after each step, for the progress display. */
export interface SearchProgress {
  /** FLOPs ratio with the ⌈s_l⌉ lowest groups of each layer gone (UMEC) or with none gone. */
  flopsRatio: number;
  minimax?: MinimaxState;
  /** Groups kept per layer at the current counts. */
  kept: number[];
}

/**
 * What the minimax step needs of a model's groups, whatever the model (CTR here,
 * sequence-groups.ts for SASRec encoders).
 */
export interface GroupedWeights {
  /** Groups per layer. */
  groups: readonly number[];
  /** Each group's score (squared norm), per layer, from the current weights. */
  scores: (variables: Record<string, tf.Variable>) => Float32Array[];
  /** Each group's weight count, per layer (what 'mean' scores divide by). */
  elements: readonly Float32Array[];
  /** Multiplies layer l's groups by `factors` (1 leaves a group as it is). */
  scale: (variables: Record<string, tf.Variable>, layer: number, factors: Float32Array) => void;
  /** The FLOPs ratio with the `counts[l]` lowest-scored groups of each layer gone. */
  ratio: (scores: Float32Array[], counts: readonly number[]) => number;
}

/** A minimax search: its state variables, the step after each optimiser step, and its state. */
export interface MinimaxSearch {
  stateVariables: Record<string, tf.Variable>;
  /** The step on `variables` (the trainer's): proximal shrink, then the s and dual steps. */
  afterStep: (variables: Record<string, tf.Variable>) => () => void;
  minimax: () => MinimaxState;
}

/**
 * UMEC's search over `grouped` to `budget`, reporting to `onStep`; `minimax()` reads its
 * state, also after a resumed search that had no step left to run.
 */
export function minimaxSearch(
  grouped: GroupedWeights,
  budget: number,
  rates: MinimaxRates,
  onStep?: (progress: SearchProgress) => void,
  scale: ScoreScale = 'raw',
): MinimaxSearch {
  const state = stateVariables(grouped.groups.length);
  const scaled = (v: Float32Array, l: number): Float32Array => {
    if (scale === 'relative') return relativeScores(v);
    if (scale === 'raw') return v;
    const elements = grouped.elements[l] as Float32Array;
    return v.map((x, i) => x / Math.max(1, elements[i] as number));
  };
  const afterStep = (variables: Record<string, tf.Variable>) => () => {
    const m = readMinimax(state);
    const before = grouped.scores(variables);
    grouped.groups.forEach((groups, l) => {
      const pruned = Math.min(prunedCount(m.s[l] as number), groups);
      if (pruned === 0) return;
      const factors = new Float32Array(groups).fill(1);
      const order = ascendingOrder(before[l] as Float32Array);
      const shrink = proxFactor(rates.proxLr, m.y[l] as number);
      for (let i = 0; i < pruned; i++) factors[order[i] as number] = shrink;
      grouped.scale(variables, l, factors);
    });
    const scores = grouped.scores(variables);
    const resource = (counts: readonly number[]) => grouped.ratio(scores, counts);
    minimaxStep(
      m,
      scores.map((v, l) => ({ scores: scaled(v, l) })),
      resource,
      budget,
      rates,
    );
    writeMinimax(state, m);
    const counts = Array.from(m.s, prunedCount);
    onStep?.({
      flopsRatio: resource(counts),
      minimax: m,
      kept: grouped.groups.map((groups, l) => groups - (counts[l] as number)),
    });
  };
  return { stateVariables: state, afterStep, minimax: () => readMinimax(state) };
}

/**
 * UMEC's per-step method for a CTR `model` (whose weights the search trains: the variables
 * carry the same names) to `budget`: minimaxSearch over its groups (groups.ts).
 */
export function umecMethod(
  model: UmecModel,
  layers: readonly GroupLayer[],
  budget: number,
  rates: MinimaxRates,
  onStep?: (progress: SearchProgress) => void,
  scale: ScoreScale = 'raw',
): { method: CtrTrainingMethod; minimax: () => MinimaxState } {
  const search = minimaxSearch(
    {
      groups: layers.map((l) => l.groups),
      scores: (variables) => groupScores(variables as Weights, layers),
      elements: groupElements(model, layers),
      scale: (variables, l, factors) => scaleGroups(variables, layers[l] as GroupLayer, factors),
      ratio: (scores, counts) => flopsRatio(model, keepHighest(scores, counts)),
    },
    budget,
    rates,
    onStep,
    scale,
  );
  const method: CtrTrainingMethod = (variables) => ({
    stateVariables: search.stateVariables,
    keep: 'last',
    afterStep: search.afterStep(variables),
  });
  return { method, minimax: search.minimax };
}

/**
 * Group Lasso's proximal step with strength λ after each optimiser step: the penalty
 * λ Σ_g √p_g ||W_g||₂ weighs each group by the root of its size p_g (Yuan & Lin's group
 * lasso), so one λ fits a field's dim × width weights and an output unit's one; its progress
 * counts a group at zero as gone.
 */
export function groupLassoMethod(
  model: UmecModel,
  layers: readonly GroupLayer[],
  lambda: number,
  proxLr: number,
  onStep?: (progress: SearchProgress) => void,
): CtrTrainingMethod {
  return (variables) => {
    // Weights per group: its kernel rows times the kernel's width.
    const sizes = layers.map((layer) => {
      const width = variables[layer.kernel]?.shape[1] ?? 1;
      return layer.rows.map((rows) => rows.length * width);
    });
    return {
      keep: 'last',
      afterStep: () => {
        const kept = groupScores(variables as Weights, layers).map((scores, l) => {
          const factors = scores.map((s, g) => {
            // The same proximal rate η as UMEC's (minimax.ts): Adam's rate on W would not move it.
            const threshold = proxLr * lambda * Math.sqrt(sizes[l]?.[g] ?? 1);
            const norm = Math.sqrt(s);
            return norm > threshold ? 1 - threshold / norm : 0;
          });
          scaleGroups(variables, layers[l] as GroupLayer, factors);
          return Array.from(factors.keys()).filter((g) => (factors[g] as number) > 0);
        });
        onStep?.({ flopsRatio: flopsRatio(model, kept), kept: kept.map((k) => k.length) });
      },
    };
  };
}
