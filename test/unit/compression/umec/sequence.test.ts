// UMEC's groups inside SASRec blocks (sequence-groups.ts), the narrower model they leave
// (sequence-export.ts) and one step of the sequence search (sequence-search.ts), against
// plain JS on a tiny SASRec of 2 heads and 2 blocks, dense and tensor-train tables.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keepHighest } from '../../../../src/compression/umec/groups.ts';
import {
  DEFAULT_MINIMAX_RATES,
  type MinimaxState,
  minimaxStep,
  proxFactor,
} from '../../../../src/compression/umec/minimax.ts';
import { readMinimax } from '../../../../src/compression/umec/search.ts';
import { selectToBudgetBy } from '../../../../src/compression/umec/select.ts';
import { sliceEncoder } from '../../../../src/compression/umec/sequence-export.ts';
import {
  encoderFlopsRatio,
  narrowedConfig,
  sequenceGroupElements,
  sequenceGroupLayers,
  sequenceGroupScores,
} from '../../../../src/compression/umec/sequence-groups.ts';
import { sequenceUmecMethod } from '../../../../src/compression/umec/sequence-search.ts';
import { useWasmBackend } from '../../../../src/kernels/wasm/backend.ts';
import { denseItemTable, ttItemTable } from '../../../../src/model/item-table.ts';
import {
  encoderWeightShapes,
  type SasrecConfig,
  type Weights,
} from '../../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../../src/model/sequential.ts';
import { encoderFlops } from '../../../../src/model/sequential-flops.ts';
import { initTtCores, type TtShape } from '../../../../src/model/tt-matrix.ts';
import { asVariables } from '../../../../src/train/train-sasrec.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const created: tf.Variable[] = [];
afterEach(() => {
  tf.dispose(created.splice(0));
});

const CONFIG: SasrecConfig = {
  numItems: 30,
  dim: 8,
  maxLen: 8,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};
const HEAD = 4;
const TT: TtShape = { rows: [8, 4], cols: [2, 4], rank: 4, stp: 2 };
const HISTORIES = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12], [30], [7, 7, 3, 21, 22]];

/** Every encoder weight random, biases and LayerNorm gains included (none at 0 or 1). */
function randomEncoder(seed: number): Weights {
  let s = seed * 100;
  return Object.fromEntries(
    encoderWeightShapes(CONFIG).map(([name, shape]) => [
      name,
      tf.randomNormal(shape, 0, 0.5, 'float32', s++),
    ]),
  );
}

function model(kind: 'dense' | 'tt', seed = 1): SequentialModel {
  return {
    config: CONFIG,
    encoder: randomEncoder(seed),
    items:
      kind === 'tt'
        ? ttItemTable(initTtCores(TT, { seed: 2, std: 0.4 }), TT, CONFIG.numItems + 1)
        : denseItemTable(tf.randomNormal([CONFIG.numItems + 1, CONFIG.dim], 0, 0.4, 'float32', 3)),
  };
}

/** A weight as rows of numbers. */
function rowsOf(weights: Weights, name: string): number[][] {
  return (weights[name] as tf.Tensor).arraySync() as number[][];
}

const sq = (xs: number[]) => xs.reduce((a, x) => a + x * x, 0);
const column = (m: number[][], c: number) => m.map((row) => row[c] as number);

/** The scores of the header of sequence-groups.ts, by plain loops. */
function plainScores(weights: Weights): number[][] {
  const out: number[][] = [];
  for (let b = 0; b < CONFIG.blocks; b++) {
    const p = `blocks.${b}`;
    const q = rowsOf(weights, `${p}.attention.query.kernel`);
    const k = rowsOf(weights, `${p}.attention.key.kernel`);
    const o = rowsOf(weights, `${p}.attention.output.kernel`);
    const f = rowsOf(weights, `${p}.ffn.outer.kernel`);
    const qk: number[] = [];
    const v: number[] = [];
    for (let j = 0; j < HEAD; j++) {
      let a = 0;
      let c = 0;
      for (let h = 0; h < CONFIG.heads; h++) {
        a += sq(column(q, h * HEAD + j)) + sq(column(k, h * HEAD + j));
        c += sq(o[h * HEAD + j] as number[]);
      }
      qk.push(a);
      v.push(c);
    }
    out.push(qk, v, f.map(sq));
  }
  return out;
}

describe('sequence groups', () => {
  it('three layers a block, widths from the config, scores as plain JS computes them', () => {
    const m = model('dense');
    const layers = sequenceGroupLayers(CONFIG);
    expect(layers.map((l) => `${l.name}:${l.groups}`)).toEqual([
      'blocks.0.qk:4',
      'blocks.0.v:4',
      'blocks.0.ffn:8',
      'blocks.1.qk:4',
      'blocks.1.v:4',
      'blocks.1.ffn:8',
    ]);
    const scores = sequenceGroupScores(m.encoder, CONFIG, layers);
    const plain = plainScores(m.encoder);
    scores.forEach((s, l) => {
      Array.from(s).forEach((x, g) => {
        expect(x).toBeCloseTo(plain[l]?.[g] as number, 4);
      });
    });
  });

  it('group weight counts: query and key columns of every head, output rows of every head, a row', () => {
    const elements = sequenceGroupElements(CONFIG, sequenceGroupLayers(CONFIG));
    const { heads, dim } = CONFIG;
    expect(elements.map((e) => [e.length, e[0]])).toEqual([
      [HEAD, 2 * heads * dim],
      [HEAD, heads * dim],
      [dim, dim],
      [HEAD, 2 * heads * dim],
      [HEAD, heads * dim],
      [dim, dim],
    ]);
  });

  it('the FLOPs ratio is the encoder part: 1 with every group, less with fewer', () => {
    const layers = sequenceGroupLayers(CONFIG);
    const all = layers.map((l) => Array.from({ length: l.groups }, (_, g) => g));
    expect(encoderFlopsRatio(CONFIG, layers, all)).toBe(1);
    const fewer = all.map((g, l) => (l === 2 ? g.slice(0, 3) : g));
    const narrow = narrowedConfig(CONFIG, layers, fewer);
    expect(narrow.inner).toEqual([
      { qk: 4, v: 4, ffn: 3 },
      { qk: 4, v: 4, ffn: 8 },
    ]);
    expect(encoderFlopsRatio(CONFIG, layers, fewer)).toBeCloseTo(
      encoderFlops(narrow) / encoderFlops(CONFIG),
      12,
    );
    const selection = selectToBudgetBy(
      (kept) => encoderFlopsRatio(CONFIG, layers, kept),
      sequenceGroupScores(model('dense').encoder, CONFIG, layers),
      0.5,
    );
    expect(selection.flopsRatio).toBeLessThanOrEqual(0.5);
    expect(selection.kept.every((k) => k.length >= 1)).toBe(true);
  });
});

/** The full model's weights with the removed groups' every member set to zero, in plain JS. */
function zeroed(m: SequentialModel, kept: number[][]): SequentialModel {
  const layers = sequenceGroupLayers(CONFIG);
  const encoder: Weights = {};
  for (const [name, t] of Object.entries(m.encoder)) {
    const values = Array.from(t.dataSync());
    const [rows, cols = 1] = t.shape as number[];
    const zeroColumn = (c: number) => {
      for (let r = 0; r < (t.rank === 1 ? 1 : (rows as number)); r++) values[r * cols + c] = 0;
    };
    const zeroRow = (r: number) => values.fill(0, r * cols, (r + 1) * cols);
    const zeroEntry = (i: number) => {
      values[i] = 0;
    };
    layers.forEach((layer, l) => {
      const p = `blocks.${layer.block}`;
      const removed = Array.from({ length: layer.groups }, (_, g) => g).filter(
        (g) => !kept[l]?.includes(g),
      );
      for (const j of removed) {
        const entries =
          layer.part === 'ffn' ? [j] : Array.from({ length: CONFIG.heads }, (_, h) => h * HEAD + j);
        for (const e of entries) {
          if (layer.part === 'qk') {
            if (name === `${p}.attention.query.kernel` || name === `${p}.attention.key.kernel`)
              zeroColumn(e);
            if (name === `${p}.attention.query.bias` || name === `${p}.attention.key.bias`)
              zeroEntry(e);
          } else if (layer.part === 'v') {
            if (name === `${p}.attention.value.kernel`) zeroColumn(e);
            if (name === `${p}.attention.value.bias`) zeroEntry(e);
            if (name === `${p}.attention.output.kernel`) zeroRow(e);
          } else {
            if (name === `${p}.ffn.inner.kernel`) zeroColumn(e);
            if (name === `${p}.ffn.inner.bias`) zeroEntry(e);
            if (name === `${p}.ffn.outer.kernel`) zeroRow(e);
          }
        }
      }
    });
    encoder[name] = tf.tensor(values, t.shape);
  }
  return { ...m, encoder };
}

const KEPT = [[0, 2, 3], [1], [0, 1, 4, 5, 7], [3], [0, 1, 2, 3], [6]];

describe('sliceEncoder', () => {
  it.each(['dense', 'tt'] as const)(
    '%s table: the narrower model scores as the full one with the removed groups zeroed',
    async (kind) => {
      const m = model(kind, 4);
      const sliced = sliceEncoder(m, KEPT);
      expect(sliced.config.inner).toEqual([
        { qk: 3, v: 1, ffn: 5 },
        { qk: 1, v: 4, ffn: 1 },
      ]);
      for (const [name, shape] of encoderWeightShapes(sliced.config)) {
        expect(sliced.encoder[name]?.shape).toEqual(shape);
      }
      expect(sliced.items.kind).toBe(kind);
      for (const [name, t] of Object.entries(m.items.weights)) {
        expect(Array.from(sliced.items.weights[name]?.dataSync() ?? [])).toEqual(
          Array.from(t.dataSync()),
        );
      }
      for (const name of ['positions', 'blocks.0.norm1.gamma', 'blocks.1.ffn.outer.bias']) {
        expect(Array.from(sliced.encoder[name]?.dataSync() ?? [])).toEqual(
          Array.from(m.encoder[name]?.dataSync() ?? []),
        );
      }
      const expected = await scoreHistories(zeroed(m, KEPT), HISTORIES);
      const got = await scoreHistories(sliced, HISTORIES);
      let worst = 0;
      expected.forEach((row, r) => {
        row.forEach((x, i) => {
          if (i > 0) worst = Math.max(worst, Math.abs(x - (got[r]?.[i] as number)));
        });
      });
      expect(worst).toBeLessThan(1e-5);
      // And the removal changes something: the zeroed model is not the full one.
      const full = await scoreHistories(m, HISTORIES);
      expect(Math.abs((full[1]?.[5] as number) - (expected[1]?.[5] as number))).toBeGreaterThan(
        1e-4,
      );
    },
  );
});

describe('sequenceUmecMethod', () => {
  it('its steps keep no tensor: the shrink and the state are assigned in place', () => {
    const variables = asVariables(model('dense', 8).encoder);
    created.push(...Object.values(variables));
    const layers = sequenceGroupLayers(CONFIG);
    const umec = sequenceUmecMethod(CONFIG, layers, 0.5, { ...DEFAULT_MINIMAX_RATES, sLr: 1 });
    const ext = umec.method(variables);
    created.push(...Object.values(ext.stateVariables as Record<string, tf.Variable>));
    ext.afterStep?.({ step: 0, learningRate: 1e-3 });
    const before = tf.memory();
    for (let step = 1; step <= 5; step++) ext.afterStep?.({ step, learningRate: 1e-3 });
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    // Groups were shrunk on the way (s moved): the steps did work, in place.
    expect(Math.max(...umec.minimax().s)).toBeGreaterThan(0);
  });

  it('one step: shrinks exactly the ⌈s⌉ lowest groups, then minimaxStep on the scores after', () => {
    const m = model('dense', 7);
    const variables = asVariables(m.encoder);
    created.push(...Object.values(variables));
    const layers = sequenceGroupLayers(CONFIG);
    const rates = { ...DEFAULT_MINIMAX_RATES, proxLr: 0.3 };
    const umec = sequenceUmecMethod(CONFIG, layers, 0.5, rates);
    const ext = umec.method(variables);
    expect(ext.keep).toBe('last');
    const state = ext.stateVariables as Record<string, tf.Variable>;
    created.push(...Object.values(state));
    const start: MinimaxState = {
      s: Float64Array.from([1.5, 0, 2.25, 0.5, 3, 0]),
      y: Float64Array.from([0.5, 1, 2, 0.25, 1.5, 0]),
      z: 0.75,
    };
    state['umec.s']?.assign(tf.tensor1d(Float32Array.from(start.s)));
    state['umec.y']?.assign(tf.tensor1d(Float32Array.from(start.y)));
    state['umec.z']?.assign(tf.tensor1d([start.z]));
    const before = plainScores(variables);
    ext.afterStep?.({ step: 0, learningRate: 1e-3 });
    const after = plainScores(variables);

    // Expected: the ceil(s) lowest of each layer scaled by the factor squared, others as they were.
    const expectedScores = before.map((scores, l) => {
      const order = scores.map((_, g) => g).sort((a, b) => scores[a]! - scores[b]! || a - b);
      const pruned = new Set(order.slice(0, Math.ceil(start.s[l] as number)));
      const f = proxFactor(rates.proxLr, start.y[l] as number);
      return scores.map((x, g) => (pruned.has(g) ? x * f * f : x));
    });
    after.forEach((scores, l) => {
      scores.forEach((x, g) => {
        expect(x).toBeCloseTo(expectedScores[l]?.[g] as number, 4);
      });
    });
    const expectedState: MinimaxState = {
      s: Float64Array.from(start.s),
      y: Float64Array.from(start.y),
      z: start.z,
    };
    const asArrays = expectedScores.map((s) => Float32Array.from(s));
    minimaxStep(
      expectedState,
      asArrays.map((scores) => ({ scores })),
      (counts) => encoderFlopsRatio(CONFIG, layers, keepHighest(asArrays, counts)),
      0.5,
      rates,
    );
    const got = readMinimax(state);
    Array.from(got.s).forEach((x, l) => {
      expect(x).toBeCloseTo(expectedState.s[l] as number, 5);
    });
    Array.from(got.y).forEach((x, l) => {
      expect(x).toBeCloseTo(expectedState.y[l] as number, 4);
    });
    expect(got.z).toBeCloseTo(expectedState.z, 5);
    expect(umec.minimax().z).toBeCloseTo(expectedState.z, 5);
  });
});
