import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  flopsRatio,
  type GroupLayer,
  groupElements,
  groupLayers,
  keepHighest,
  type UmecModel,
} from '../../../../src/compression/umec/groups.ts';
import {
  DEFAULT_MINIMAX_RATES,
  type MinimaxState,
  minimaxStep,
} from '../../../../src/compression/umec/minimax.ts';
import {
  groupLassoMethod,
  relativeScores,
  type ScoreScale,
  type SearchProgress,
  umecMethod,
} from '../../../../src/compression/umec/search.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { matrix, rowsSquaredNorm, tinyDeepFm } from './helpers.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const created: tf.Variable[] = [];
afterEach(() => {
  tf.dispose(created.splice(0));
});

function variablesOf(model: UmecModel): Record<string, tf.Variable> {
  const variables = Object.fromEntries(
    Object.entries(model.weights).map(([n, t]) => [n, tf.variable(t.clone(), true)]),
  );
  created.push(...Object.values(variables));
  return variables;
}

/** Each group's squared norm, in float64 from the kernel's values. */
function plainScores(
  kernels: Record<string, number[][]>,
  layers: readonly GroupLayer[],
): number[][] {
  return layers.map((layer) =>
    layer.rows.map((rows) =>
      rows.reduce((sum, r) => sum + rowsSquaredNorm(kernels[layer.kernel]!, r, r + 1), 0),
    ),
  );
}

function kernelsOf(weights: Record<string, tf.Tensor>, layers: readonly GroupLayer[]) {
  return Object.fromEntries(layers.map((l) => [l.kernel, matrix(weights, l.kernel)]));
}

/** The indices of the k lowest values, ties by index. */
function lowest(values: readonly number[], k: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

const values = (v: tf.Variable | undefined) => Array.from(v!.dataSync());

describe('umecMethod', () => {
  it('offers s, y and z as non-trainable state, zero at first, and keeps the last epoch', () => {
    const model = tinyDeepFm();
    const layers = groupLayers(model);
    const umec = umecMethod(model, layers, 0.5, DEFAULT_MINIMAX_RATES);
    const ext = umec.method(variablesOf(model));
    const state = ext.stateVariables!;
    created.push(...Object.values(state));
    expect(ext.keep).toBe('last');
    expect(umec.minimax()).toEqual({
      s: Float64Array.from([0, 0, 0]),
      y: Float64Array.from([0, 0, 0]),
      z: 0,
    });
    expect(Object.keys(state).sort()).toEqual(['umec.s', 'umec.y', 'umec.z']);
    expect(values(state['umec.s'])).toEqual([0, 0, 0]);
    expect(values(state['umec.y'])).toEqual([0, 0, 0]);
    expect(values(state['umec.z'])).toEqual([0]);
    for (const v of Object.values(state)) expect(v.trainable).toBe(false);
  });

  it('from zero state: no weight moves, only z rises by zLr (1 − B)', () => {
    const model = tinyDeepFm();
    const layers = groupLayers(model);
    const variables = variablesOf(model);
    const progress: SearchProgress[] = [];
    const ext = umecMethod(model, layers, 0.5, DEFAULT_MINIMAX_RATES, (p) =>
      progress.push(p),
    ).method(variables);
    created.push(...Object.values(ext.stateVariables!));
    const before = Object.fromEntries(Object.entries(variables).map(([n, v]) => [n, values(v)]));
    ext.afterStep!({ step: 0, learningRate: 0.01 });
    for (const [n, v] of Object.entries(variables)) expect(values(v)).toEqual(before[n]);
    const state = ext.stateVariables!;
    expect(values(state['umec.s'])).toEqual([0, 0, 0]);
    expect(values(state['umec.y'])).toEqual([0, 0, 0]);
    expect(values(state['umec.z'])[0]).toBeCloseTo(2 * (1 - 0.5), 6);
    expect(progress).toHaveLength(1);
    expect(progress[0]!.flopsRatio).toBe(1);
    expect(progress[0]!.kept).toEqual([3, 8, 6]);
  });

  it('one step: the proximal shrink of the ⌈s⌉ lowest groups, then one minimax step', () => {
    const model = tinyDeepFm({}, 3);
    const layers = groupLayers(model);
    const variables = variablesOf(model);
    const progress: SearchProgress[] = [];
    const budget = 0.5;
    // The proximal step's η is its own rate, not the optimiser's (minimax.ts).
    const lr = 0.01;
    const rates = { ...DEFAULT_MINIMAX_RATES, proxLr: lr };
    const umec = umecMethod(model, layers, budget, rates, (p) => progress.push(p));
    const ext = umec.method(variables);
    const state = ext.stateVariables!;
    created.push(...Object.values(state));
    const start: MinimaxState = {
      s: Float64Array.from([1, 2, 0]),
      y: Float64Array.from([0.5, 0.25, 1]),
      z: 0.3,
    };
    state['umec.s']!.assign(tf.tensor1d(Array.from(start.s)));
    state['umec.y']!.assign(tf.tensor1d(Array.from(start.y)));
    state['umec.z']!.assign(tf.tensor1d([start.z]));
    const before = Object.fromEntries(Object.entries(variables).map(([n, v]) => [n, values(v)]));
    const kernels = kernelsOf(variables, layers);
    const scores = plainScores(kernels, layers);

    // The optimiser's rate (0.5 here) does not enter the proximal step.
    ext.afterStep!({ step: 0, learningRate: 0.5 });

    // ⌈s⌉ = 1, 2, 0 lowest groups shrink by 1 / (1 + 2 lr y): 1/1.01 and 1/1.005; y = 1 of
    // the last layer does nothing with s = 0.
    const shrink = [1 / (1 + 2 * lr * 0.5), 1 / (1 + 2 * lr * 0.25), 1 / (1 + 2 * lr * 1)];
    const pruned = [lowest(scores[0]!, 1), lowest(scores[1]!, 2), lowest(scores[2]!, 0)];
    const after = kernelsOf(variables, layers);
    layers.forEach((layer, l) => {
      const k = kernels[layer.kernel]!;
      after[layer.kernel]!.forEach((row, r) => {
        const group = layer.rows.findIndex((rows) => rows.includes(r));
        if (pruned[l]!.includes(group)) {
          row.forEach((v, c) => {
            expect(Math.abs(v - k[r]![c]! * shrink[l]!)).toBeLessThan(1e-6);
            if (k[r]![c] !== 0) expect(v).not.toBe(k[r]![c]);
          });
        } else {
          expect(row).toEqual(k[r]);
        }
      });
    });
    // No other weight moved.
    const kernelNames = new Set(layers.map((l) => l.kernel));
    for (const [n, v] of Object.entries(variables)) {
      if (!kernelNames.has(n)) expect(values(v)).toEqual(before[n]);
    }

    // The state moved as one minimaxStep on the scores after the shrink.
    const post = plainScores(after, layers);
    const reference: MinimaxState = { s: start.s.slice(), y: start.y.slice(), z: start.z };
    const resource = (counts: readonly number[]) => flopsRatio(model, keepHighest(post, counts));
    minimaxStep(
      reference,
      post.map((s) => ({ scores: s })),
      resource,
      budget,
      DEFAULT_MINIMAX_RATES,
    );
    const close = (got: number[], want: ArrayLike<number>) => {
      expect(got.length).toBe(want.length);
      got.forEach((v, i) => {
        expect(Math.abs(v - (want[i] as number))).toBeLessThan(1e-6);
      });
    };
    close(values(state['umec.s']), reference.s);
    close(values(state['umec.y']), reference.y);
    close(values(state['umec.z']), [reference.z]);
    // It did move: y by the least-s sums, z by (R − B).
    expect(values(state['umec.y'])[0]).toBeGreaterThan(0.5);
    expect(values(state['umec.z'])[0]).not.toBeCloseTo(0.3, 6);

    const counts = Array.from(reference.s, (s) => Math.ceil(s - 1e-9));
    expect(progress).toHaveLength(1);
    expect(progress[0]!.kept).toEqual(layers.map((layer, l) => layer.groups - counts[l]!));
    expect(progress[0]!.flopsRatio).toBeCloseTo(resource(counts), 12);
    close(Array.from(progress[0]!.minimax!.s), reference.s);
    // minimax() reads the same state back.
    const read = umec.minimax();
    close(Array.from(read.s), reference.s);
    close(Array.from(read.y), reference.y);
    close([read.z], [reference.z]);
  });

  it('UMEC and Group Lasso steps keep no tensor: shrinks and state are assigned in place', () => {
    const model = tinyDeepFm({}, 5);
    const layers = groupLayers(model);
    for (const make of [
      (v: Record<string, tf.Variable>) =>
        umecMethod(model, layers, 0.3, { ...DEFAULT_MINIMAX_RATES, sLr: 1 }).method(v),
      (v: Record<string, tf.Variable>) => groupLassoMethod(model, layers, 0.1, 0.1)(v),
    ]) {
      const variables = variablesOf(model);
      const ext = make(variables);
      created.push(...Object.values(ext.stateVariables ?? {}));
      ext.afterStep?.({ step: 0, learningRate: 0.01 });
      const before = tf.memory();
      for (let step = 1; step <= 5; step++) ext.afterStep?.({ step, learningRate: 0.01 });
      expect(tf.memory().numTensors).toBe(before.numTensors);
      expect(tf.memory().numBytes).toBe(before.numBytes);
    }
  });

  /** One UMEC step with `scale` from a fixed s, y and z: the method, the model and the scores after it. */
  function oneStep(scale: ScoreScale, seed: number, s: number[]) {
    const model = tinyDeepFm({}, seed);
    const layers = groupLayers(model);
    const variables = variablesOf(model);
    const umec = umecMethod(model, layers, 0.5, DEFAULT_MINIMAX_RATES, undefined, scale);
    const ext = umec.method(variables);
    const state = ext.stateVariables!;
    created.push(...Object.values(state));
    state['umec.s']!.assign(tf.tensor1d(s));
    state['umec.y']!.assign(tf.tensor1d([0.5, 0.25, 1]));
    state['umec.z']!.assign(tf.tensor1d([0.3]));
    ext.afterStep!({ step: 0, learningRate: 0.01 });
    const post = plainScores(kernelsOf(variables, layers), layers);
    /** minimaxStep from the same start on `scores`, as the reference. */
    const reference = (scores: readonly number[][]): MinimaxState => {
      const state: MinimaxState = {
        s: Float64Array.from(s),
        y: Float64Array.from([0.5, 0.25, 1]),
        z: 0.3,
      };
      minimaxStep(
        state,
        scores.map((v) => ({ scores: v })),
        (counts) => flopsRatio(model, keepHighest(post, counts)),
        0.5,
        DEFAULT_MINIMAX_RATES,
      );
      return state;
    };
    return { read: umec.minimax(), model, layers, post, reference };
  }

  it('mean scores: each group over its weight count, read by the s and dual steps', () => {
    const { read, model, layers, post, reference } = oneStep('mean', 4, [1, 2, 3]);
    const elements = groupElements(model, layers);
    const expected = reference(
      post.map((v, l) => v.map((x, g) => x / (elements[l]![g] as number))),
    );
    read.y.forEach((v, i) => {
      expect(Math.abs(v - (expected.y[i] as number))).toBeLessThan(1e-6);
    });
    Array.from(read.s).forEach((v, i) => {
      expect(v).toBeCloseTo(expected.s[i] as number, 5);
    });
  });

  it('relative scores: each layer over its mean, read by the s and dual steps; the same groups shrink', () => {
    expect(Array.from(relativeScores(Float32Array.from([1, 2, 3])))).toEqual([0.5, 1, 1.5]);
    expect(Array.from(relativeScores(new Float32Array(2)))).toEqual([0, 0]);
    const { read, post, reference } = oneStep('relative', 3, [1, 2, 0]);
    const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const expected = reference(post.map((v) => v.map((x) => x / mean(v))));
    read.y.forEach((v, i) => {
      expect(Math.abs(v - (expected.y[i] as number))).toBeLessThan(1e-5);
    });
    // Raw scores would have moved y differently: the layers' scales differ.
    const raw = reference(post);
    expect(Math.abs((read.y[1] as number) - (raw.y[1] as number))).toBeGreaterThan(1e-6);
  });

  it('a second search in the same process gets its own state', () => {
    const model = tinyDeepFm();
    const layers = groupLayers(model);
    // tfjs registers variable names process-wide: fixed names would make this throw.
    const first = umecMethod(model, layers, 0.5, DEFAULT_MINIMAX_RATES).method(variablesOf(model));
    created.push(...Object.values(first.stateVariables!));
    const second = umecMethod(model, layers, 0.5, DEFAULT_MINIMAX_RATES).method(variablesOf(model));
    created.push(...Object.values(second.stateVariables!));
    second.stateVariables!['umec.z']!.assign(tf.tensor1d([4]));
    expect(values(first.stateVariables!['umec.z'])).toEqual([0]);
  });
});

describe('groupLassoMethod', () => {
  it('soft-thresholds every group: ≤ η λ √p to exactly zero, others by 1 − η λ √p / ‖g‖', () => {
    const model = tinyDeepFm({}, 5);
    const layers = groupLayers(model);
    const variables = variablesOf(model);
    // One tiny group per layer: genres' block, unit 3's row of mlp.1.kernel, unit 2's output row.
    const tiny = (name: string, rows: number[]) => {
      const k = matrix(variables, name).map((row, r) =>
        rows.includes(r) ? row.map((v) => v * 1e-3) : row,
      );
      variables[name]!.assign(tf.tensor2d(k));
    };
    tiny('mlp.0.kernel', [4, 5, 6, 7]);
    tiny('mlp.1.kernel', [3]);
    tiny('output.kernel', [2]);
    const kernels = kernelsOf(variables, layers);
    const norms = plainScores(kernels, layers).map((l) => l.map(Math.sqrt));
    const lr = 0.01;
    const lambda = 5;
    // A group's threshold is η λ √p, p its weights: its rows times its kernel's width.
    const thresholds = layers.map((layer) => {
      const width = kernels[layer.kernel]![0]!.length;
      return layer.rows.map((rows) => lr * lambda * Math.sqrt(rows.length * width));
    });
    expect(thresholds[0]![0]).toBeCloseTo(lr * lambda * Math.sqrt(4 * 8), 12);
    // No group so close to its threshold that float32 could decide it either way.
    norms.forEach((l, i) => {
      l.forEach((n, g) => {
        expect(Math.abs(n - thresholds[i]![g]!)).toBeGreaterThan(1e-3);
      });
    });
    const factors = norms.map((l, i) =>
      l.map((n, g) => {
        const t = thresholds[i]![g]!;
        return n <= t ? 0 : 1 - t / n;
      }),
    );
    // Each layer has a group that goes and one that only shrinks.
    for (const f of factors) {
      expect(f).toContain(0);
      expect(f.some((v) => v > 0 && v < 1)).toBe(true);
    }
    const before = Object.fromEntries(Object.entries(variables).map(([n, v]) => [n, values(v)]));
    const progress: SearchProgress[] = [];
    const ext = groupLassoMethod(model, layers, lambda, lr, (p) => progress.push(p))(variables);
    expect(ext.stateVariables).toBeUndefined();
    expect(ext.keep).toBe('last');

    // The threshold is η λ √p with the method's own η; the optimiser's rate does not enter it.
    ext.afterStep!({ step: 0, learningRate: 0.5 });

    const after = kernelsOf(variables, layers);
    layers.forEach((layer, l) => {
      after[layer.kernel]!.forEach((row, r) => {
        const f = factors[l]![layer.rows.findIndex((rows) => rows.includes(r))]!;
        row.forEach((v, c) => {
          // === rather than toBe: a negative weight times 0 is −0, which is zero all the same.
          if (f === 0) expect(v === 0).toBe(true);
          else expect(Math.abs(v - kernels[layer.kernel]![r]![c]! * f)).toBeLessThan(1e-6);
        });
      });
    });
    const kernelNames = new Set(layers.map((l) => l.kernel));
    for (const [n, v] of Object.entries(variables)) {
      if (!kernelNames.has(n)) expect(values(v)).toEqual(before[n]);
    }
    const kept = factors.map((f) => f.flatMap((v, g) => (v > 0 ? [g] : [])));
    expect(progress).toHaveLength(1);
    expect(progress[0]!.kept).toEqual(kept.map((k) => k.length));
    expect(progress[0]!.flopsRatio).toBeCloseTo(flopsRatio(model, kept), 12);
    expect(progress[0]!.minimax).toBeUndefined();
  });
});
