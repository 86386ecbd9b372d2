import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import {
  encode,
  encodeNext,
  initEncoderWeights,
  type KeyValueCache,
  POSITION_SCHEMES,
  padHistories,
  positionIds,
  type SasrecConfig,
} from '../../../src/model/sasrec.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const config = (
  positions: SasrecConfig['positions'],
  readout: SasrecConfig['readout'] = 'last',
): SasrecConfig => ({
  numItems: 30,
  dim: 8,
  maxLen: 8,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions,
  readout,
});

/** Hidden states of each history, padding rows dropped: [history][position][dim]. */
function hiddenStates(c: SasrecConfig, histories: number[][]): number[][][] {
  const weights = initEncoderWeights(c, 3);
  const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.3, 'float32', 9));
  return hiddenStatesWith(c, weights, table, histories);
}

function hiddenStatesWith(
  c: SasrecConfig,
  weights: ReturnType<typeof initEncoderWeights>,
  table: ReturnType<typeof denseItemTable>,
  histories: number[][],
): number[][][] {
  const ids = padHistories(histories, c.maxLen);
  const hidden = encode(c, weights, ids, table.lookup(ids) as tf.Tensor3D, { training: false });
  const all = hidden.arraySync();
  const length = ids.shape[1];
  return histories.map((h, b) => (all[b] as number[][]).slice(length - h.length));
}

function maxDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => {
    row.forEach((v, j) => {
      max = Math.max(max, Math.abs(v - (b[i]?.[j] as number)));
    });
  });
  return max;
}

describe('position schemes', () => {
  it('from-oldest numbers each row from its first real item; from-latest from the last column', () => {
    const ids = tf.tensor2d([0, 0, 4, 5, 0, 6, 7, 8, 1, 2, 3, 4], [3, 4], 'int32');
    expect(positionIds('from-oldest', ids).arraySync()).toEqual([
      [0, 0, 0, 1],
      [0, 0, 1, 2],
      [0, 1, 2, 3],
    ]);
    expect(positionIds('from-latest', ids).arraySync()).toEqual([3, 2, 1, 0]);
  });

  it('from-oldest: appending an item leaves every earlier hidden state as it was', () => {
    // What lets the browser runtime keep the keys and values of earlier positions.
    const c = config('from-oldest');
    const [before, after] = hiddenStates(c, [
      [3, 9, 27, 1],
      [3, 9, 27, 1, 14],
    ]);
    expect(maxDifference(before as number[][], (after as number[][]).slice(0, 4))).toBeLessThan(
      1e-5,
    );
  });

  it('from-latest: appending an item renumbers, and so changes, the earlier states', () => {
    const c = config('from-latest');
    const [before, after] = hiddenStates(c, [
      [3, 9, 27, 1],
      [3, 9, 27, 1, 14],
    ]);
    expect(maxDifference(before as number[][], (after as number[][]).slice(0, 4))).toBeGreaterThan(
      1e-3,
    );
  });

  it.each(POSITION_SCHEMES)('%s: left padding does not change a short history', (scheme) => {
    const c = config(scheme);
    const [alone] = hiddenStates(c, [[4, 17]]);
    const [, padded] = hiddenStates(c, [
      [1, 2, 3, 4, 5, 6, 7],
      [4, 17],
    ]);
    expect(maxDifference(alone as number[][], padded as number[][])).toBeLessThan(1e-5);
  });

  it('the two schemes are different models', () => {
    const [a] = hiddenStates(config('from-oldest'), [[4, 17, 9]]);
    const [b] = hiddenStates(config('from-latest'), [[4, 17, 9]]);
    expect(maxDifference(a as number[][], b as number[][])).toBeGreaterThan(1e-3);
  });
});

describe('encodeNext (incremental encoding)', () => {
  it('gives, item by item, the last hidden state encode gives for the whole history', () => {
    const c = config('from-oldest');
    const weights = initEncoderWeights(c, 5);
    const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.3, 'float32', 2));
    const history = [7, 3, 30, 1, 12, 12, 5, 9];
    let cache: KeyValueCache = { keys: [], values: [], length: 0 };
    for (let n = 1; n <= history.length; n++) {
      const row = table.lookup(tf.tensor1d([history[n - 1] as number], 'int32')) as tf.Tensor2D;
      const step = encodeNext(c, weights, cache, row);
      cache = step.cache;
      expect(cache.length).toBe(n);
      expect(cache.keys[0]?.shape).toEqual([1, c.heads, n, c.dim / c.heads]);
      const [whole] = hiddenStatesWith(c, weights, table, [history.slice(0, n)]);
      const last = (whole as number[][])[n - 1] as number[];
      expect(maxDifference([step.hidden.arraySync()[0] as number[]], [last])).toBeLessThan(1e-5);
    }
    // One more than maxLen cannot be appended exactly.
    const row = table.lookup(tf.tensor1d([4], 'int32')) as tf.Tensor2D;
    expect(() => encodeNext(c, weights, cache, row)).toThrow(/maxLen/);
  });

  it('keeps the keys and values encode computes for the same positions', () => {
    const c = config('from-oldest');
    const weights = initEncoderWeights(c, 5);
    const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.3, 'float32', 2));
    const history = [7, 3, 30, 1];
    const kept: tf.Tensor4D[] = [];
    const ids = padHistories([history], c.maxLen);
    encode(c, weights, ids, table.lookup(ids) as tf.Tensor3D, {
      training: false,
      keepKeysValues: (_, k) => kept.push(k),
    });
    let cache: KeyValueCache = { keys: [], values: [], length: 0 };
    for (const item of history) {
      cache = encodeNext(
        c,
        weights,
        cache,
        table.lookup(tf.tensor1d([item], 'int32')) as tf.Tensor2D,
      ).cache;
    }
    for (let b = 0; b < c.blocks; b++) {
      const diff = tf.max(tf.abs(tf.sub(kept[b] as tf.Tensor, cache.keys[b] as tf.Tensor)));
      expect(diff.arraySync()).toBeLessThan(1e-5);
    }
  });

  it('refuses from-latest models, whose earlier positions move', () => {
    const c = config('from-latest');
    const weights = initEncoderWeights(c, 5);
    expect(() =>
      encodeNext(c, weights, { keys: [], values: [], length: 0 }, tf.zeros([1, c.dim])),
    ).toThrow(/from-oldest/);
  });
});

describe("the 'attention' readout", () => {
  const history = [7, 3, 30, 1, 12, 12, 5];

  it("adds its weights to the encoder's, and only it", () => {
    const names = (r: SasrecConfig['readout']) =>
      Object.keys(initEncoderWeights(config('from-oldest', r), 1));
    const extra = names('attention').filter((n) => !names('last').includes(n));
    expect(extra.sort()).toEqual([
      'readout.item.bias',
      'readout.item.kernel',
      'readout.score.kernel',
      'readout.session.kernel',
    ]);
  });

  it('from-oldest: every position pools only its own prefix, so training scores them all', () => {
    const c = config('from-oldest', 'attention');
    const weights = initEncoderWeights(c, 4);
    const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.3, 'float32', 8));
    const [whole] = hiddenStatesWith(c, weights, table, [history]);
    const prefixes = hiddenStatesWith(
      c,
      weights,
      table,
      history.map((_, t) => history.slice(0, t + 1)),
    );
    const lastOfEach = prefixes.map((states) => states[states.length - 1] as number[]);
    expect(maxDifference(whole as number[][], lastOfEach)).toBeLessThan(1e-5);
  });

  it.each(POSITION_SCHEMES)('%s: left padding does not change a short history', (scheme) => {
    const c = config(scheme, 'attention');
    const [alone] = hiddenStates(c, [[4, 17, 2]]);
    const [, padded] = hiddenStates(c, [
      [1, 2, 3, 4, 5, 6, 7],
      [4, 17, 2],
    ]);
    expect(maxDifference(alone as number[][], padded as number[][])).toBeLessThan(1e-5);
  });

  it("pools the last-state readout's hidden states as the formula says", () => {
    const c = config('from-oldest', 'attention');
    const weights = initEncoderWeights(c, 6);
    // Random readout weights, so that no term hides behind the initial constant.
    weights['readout.score.kernel'] = tf.randomNormal([c.dim, 1], 0, 0.5, 'float32', 11);
    weights['readout.item.bias'] = tf.randomNormal([c.dim], 0, 0.5, 'float32', 12);
    const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.3, 'float32', 8));
    const [h] = hiddenStatesWith({ ...c, readout: 'last' }, weights, table, [history]);
    const [pooled] = hiddenStatesWith(c, weights, table, [history]);
    const value = (name: string) => (weights[name] as tf.Tensor).arraySync();
    const A = value('readout.item.kernel') as number[][];
    const a = value('readout.item.bias') as number[];
    const B = value('readout.session.kernel') as number[][];
    const w = (value('readout.score.kernel') as number[][]).map((r) => r[0] as number);
    const states = h as number[][];
    const times = (v: number[], m: number[][]) =>
      m[0]?.map((_, j) => v.reduce((s, x, k) => s + x * (m[k]?.[j] as number), 0)) as number[];
    const expected = states.map((_, t) => {
      const upTo = states.slice(0, t + 1);
      const mean = upTo[0]?.map(
        (_, j) => upTo.reduce((s, r) => s + (r[j] as number), 0) / (t + 1),
      ) as number[];
      const session = times(mean, B);
      const out = new Array<number>(c.dim).fill(0);
      for (const hi of upTo) {
        const item = times(hi.map(Math.tanh), A);
        const beta = item.reduce(
          (s, x, j) =>
            s + (w[j] as number) / (1 + Math.exp(-(x + (a[j] as number) + (session[j] as number)))),
          0,
        );
        hi.forEach((x, j) => {
          out[j] = (out[j] as number) + beta * x;
        });
      }
      return out;
    });
    expect(maxDifference(pooled as number[][], expected)).toBeLessThan(1e-4);
  });

  it('has no incremental encoding: a new item re-weighs every earlier state', () => {
    const c = config('from-oldest', 'attention');
    const weights = initEncoderWeights(c, 5);
    expect(() =>
      encodeNext(c, weights, { keys: [], values: [], length: 0 }, tf.zeros([1, c.dim])),
    ).toThrow(/readout/);
  });
});

describe('encode, the last position alone', () => {
  const cases = POSITION_SCHEMES.flatMap((positions) =>
    (['last', 'attention'] as const).flatMap((readout) =>
      [0, 2].map((blocks) => ({ positions, readout, blocks })),
    ),
  );
  it.each(cases)(
    '$positions, $readout readout, $blocks blocks: the last row of the whole output',
    ({ positions, readout, blocks }) => {
      const c = { ...config(positions, readout), blocks };
      const weights = initEncoderWeights(c, 4);
      const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 1, 'float32', 5));
      const ids = padHistories([[3, 9, 4, 4, 17], [21], [5, 6, 7, 8, 9, 10, 11, 12, 13, 2]], 8);
      const rows = table.lookup(ids) as tf.Tensor3D;
      const [batch, length] = ids.shape;
      const whole = encode(c, weights, ids, rows, { training: false })
        .slice([0, length - 1, 0], [batch, 1, c.dim])
        .arraySync() as number[][][];
      for (const options of [{ lastOnly: true }, { lastOnly: true, positionsByProduct: true }]) {
        const last = encode(c, weights, ids, rows, { training: false, ...options });
        expect(last.shape).toEqual([batch, 1, c.dim]);
        const got = last.arraySync() as number[][][];
        expect(
          maxDifference(
            got.map((r) => r[0] as number[]),
            whole.map((r) => r[0] as number[]),
          ),
        ).toBeLessThan(1e-5);
      }
      // The product picks exactly the rows the gather does.
      const product = encode(c, weights, ids, rows, { training: false, positionsByProduct: true });
      expect(product.arraySync()).toEqual(
        encode(c, weights, ids, rows, { training: false }).arraySync(),
      );
    },
  );
});
