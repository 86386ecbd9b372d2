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

const config = (positions: SasrecConfig['positions']): SasrecConfig => ({
  numItems: 30,
  dim: 8,
  maxLen: 8,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions,
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
