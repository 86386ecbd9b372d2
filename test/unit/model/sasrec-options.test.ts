// The encoder variant (EncoderVariant: how an imported teacher's encoder differs from
// pocketrec's): absent fields, or fields at their defaults, encode bit for bit as before and
// write the architecture as before; a RecBole-like variant encodes incrementally exactly;
// visible padding keys make every window maxLen wide, whatever width it is given; and the
// package structure reads the fields back and refuses bad ones by architecture key.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable, type ItemTable } from '../../../src/model/item-table.ts';
import {
  EMBEDDING_NORM,
  ENCODER_VARIANT_DEFAULTS,
  encode,
  encodeNext,
  encoderVariantProblem,
  encoderWeightShapes,
  initEncoderWeights,
  type KeyValueCache,
  padHistories,
  type SasrecConfig,
  type Weights,
} from '../../../src/model/sasrec.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { checkSequentialStructure } from '../../../src/model/sequential-structure.ts';
import type { Manifest } from '../../../src/package/manifest.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { tinyConfig } from '../cli/helpers.ts';
import { RECBOLE_VARIANT } from './encoder-variants.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const BASE: SasrecConfig = { ...tinyConfig(30), maxLen: 8, blocks: 2, heads: 2 };

/** RecBole's SASRec in variant fields. */
const RECBOLE: SasrecConfig = { ...BASE, ...RECBOLE_VARIANT };

/** pmixer's SASRec.pytorch in variant fields. */
const PMIXER: SasrecConfig = {
  ...BASE,
  positions: 'from-latest',
  norm: 'post',
  layerNormEps: 1e-8,
  paddingKeys: 'visible',
};

function setup(c: SasrecConfig): { weights: Weights; table: ItemTable } {
  const weights = initEncoderWeights(c, 3);
  // Gains and biases away from 1 and 0, so every LayerNorm's parameters matter.
  for (const [name, shape] of encoderWeightShapes(c)) {
    if (name.endsWith('.gamma') || name.endsWith('.beta')) {
      weights[name] = tf.randomNormal(shape, name.endsWith('.gamma') ? 1 : 0, 0.2, 'float32', 5);
    }
  }
  const table = denseItemTable(tf.randomNormal([c.numItems + 1, c.dim], 0, 0.5, 'float32', 9));
  return { weights, table };
}

/** The hidden state after each history's last item: [history][dim]. */
function lastStates(
  c: SasrecConfig,
  { weights, table }: { weights: Weights; table: ItemTable },
  histories: number[][],
  width?: number,
): number[][] {
  return tf.tidy(() => {
    let ids = padHistories(histories, c.maxLen);
    if (width !== undefined && width > ids.shape[1]) {
      ids = tf.concat([tf.zeros([histories.length, width - ids.shape[1]], 'int32'), ids], 1);
    }
    const hidden = encode(c, weights, ids, table.lookup(ids) as tf.Tensor3D, { training: false });
    const length = hidden.shape[1];
    return hidden
      .slice([0, length - 1, 0], [histories.length, 1, c.dim])
      .reshape([histories.length, c.dim])
      .arraySync() as number[][];
  });
}

/** Largest |a - b| over two lists of states. */
const maxDifference = (a: number[][], b: number[][]): number =>
  Math.max(0, ...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - (b[i]?.[j] as number)))));

const HISTORIES = [[4], [7, 3, 30], [1, 2, 3, 4, 5, 6, 7, 8], [9, 8, 7, 6, 5, 4, 3, 2, 1, 11]];

describe('absent variant fields: the encoder as it was', () => {
  it('fields stated at their defaults encode bit for bit as absent ones', () => {
    const stated: SasrecConfig = { ...BASE, ...ENCODER_VARIANT_DEFAULTS, ffnDim: BASE.dim };
    const model = setup(BASE);
    expect(lastStates(stated, model, HISTORIES)).toEqual(lastStates(BASE, model, HISTORIES));
    expect(encoderWeightShapes(stated)).toEqual(encoderWeightShapes(BASE));
  });

  it("a package of pocketrec's own encoder states no variant field", async () => {
    const { weights, table } = setup(BASE);
    const spec = await sequentialPackageSpec(
      { config: BASE, encoder: weights, items: table },
      { name: 'plain', dataset: 'unit' },
    );
    expect(Object.keys(spec.architecture).sort()).toEqual(
      ['blocks', 'dim', 'dropout', 'heads', 'maxLen', 'numItems', 'positions', 'readout'].sort(),
    );
  });
});

describe('a RecBole-like variant (post-LN, gelu, embedding norm, no scaling, no final norm)', () => {
  it('has the tensors it needs and no others', () => {
    const names = encoderWeightShapes(RECBOLE).map(([n]) => n);
    expect(names).toContain(`${EMBEDDING_NORM}.gamma`);
    expect(names).not.toContain('norm.gamma');
    expect(
      encoderWeightShapes(RECBOLE).find(([n]) => n === 'blocks.0.ffn.inner.kernel')?.[1],
    ).toEqual([8, 24]);
  });

  it('is another model than the default one', () => {
    const model = setup(RECBOLE);
    const plain = { ...BASE, ffnDim: 24 };
    const withEmbeddingNorm: SasrecConfig = { ...plain, embeddingNorm: true, finalNorm: false };
    expect(
      maxDifference(
        lastStates(RECBOLE, model, HISTORIES),
        lastStates(withEmbeddingNorm, model, HISTORIES),
      ),
    ).toBeGreaterThan(1e-3);
    for (const key of ['norm', 'activation', 'scaleEmbeddings'] as const) {
      const without = { ...RECBOLE, [key]: undefined };
      expect(
        maxDifference(lastStates(RECBOLE, model, HISTORIES), lastStates(without, model, HISTORIES)),
      ).toBeGreaterThan(1e-4);
    }
  });

  it.each([undefined, 8])(
    'encodeNext gives, item by item, what encode gives for the whole history (capacity %s)',
    (capacity) => {
      const model = setup(RECBOLE);
      const history = [7, 3, 30, 1, 12, 12, 5, 9];
      let cache: KeyValueCache = {
        keys: [],
        values: [],
        length: 0,
        ...(capacity ? { capacity } : {}),
      };
      for (let n = 1; n <= history.length; n++) {
        const row = model.table.lookup(
          tf.tensor1d([history[n - 1] as number], 'int32'),
        ) as tf.Tensor2D;
        if (capacity && n === 1) {
          // Fixed-size mode starts from a whole-window encode's keys and values; here, zeros.
          cache = {
            keys: Array.from(
              { length: RECBOLE.blocks },
              () => tf.zeros([1, 2, capacity, 4]) as tf.Tensor4D,
            ),
            values: Array.from(
              { length: RECBOLE.blocks },
              () => tf.zeros([1, 2, capacity, 4]) as tf.Tensor4D,
            ),
            length: 0,
            capacity,
          };
        }
        const step = encodeNext(RECBOLE, model.weights, cache, row);
        cache = step.cache;
        const [whole] = lastStates(RECBOLE, model, [history.slice(0, n)]);
        expect(maxDifference(step.hidden.arraySync(), [whole as number[]])).toBeLessThan(1e-5);
      }
    },
  );
});

describe('visible padding keys (pmixer)', () => {
  it('every window is maxLen wide: the width given changes nothing', () => {
    const model = setup(PMIXER);
    const alone = HISTORIES.map((h) => lastStates(PMIXER, model, [h])[0] as number[]);
    expect(maxDifference(lastStates(PMIXER, model, HISTORIES), alone)).toBeLessThan(1e-5);
    const wide = HISTORIES.map((h) => lastStates(PMIXER, model, [h], PMIXER.maxLen)[0] as number[]);
    expect(maxDifference(alone, wide)).toBeLessThan(1e-5);
  });

  it('padding is attended to: the states differ from masked padding but for full windows', () => {
    const model = setup(PMIXER);
    const masked = { ...PMIXER, paddingKeys: 'masked' as const };
    const short = [[7, 3, 30]];
    expect(
      maxDifference(lastStates(PMIXER, model, short), lastStates(masked, model, short)),
    ).toBeGreaterThan(1e-3);
    const full = [[1, 2, 3, 4, 5, 6, 7, 8]];
    expect(
      maxDifference(lastStates(PMIXER, model, full), lastStates(masked, model, full)),
    ).toBeLessThan(1e-5);
  });

  it('needs from-latest positions, and is never encoded incrementally', () => {
    expect(encoderVariantProblem({ ...PMIXER, positions: 'from-oldest' })).toMatch(/from-latest/);
    const model = setup(PMIXER);
    const row = model.table.lookup(tf.tensor1d([3], 'int32')) as tf.Tensor2D;
    expect(() =>
      encodeNext(PMIXER, model.weights, { keys: [], values: [], length: 0 }, row),
    ).toThrow(/masked padding/);
  });
});

describe('the package structure reads and checks the variant fields', () => {
  async function manifestOf(c: SasrecConfig): Promise<Manifest> {
    const { weights, table } = setup(c);
    const spec = await sequentialPackageSpec(
      { config: c, encoder: weights, items: table },
      { name: 'variant', dataset: 'unit' },
    );
    return (await buildModelPackage(spec)).manifest;
  }

  it.each([
    ['RecBole', RECBOLE],
    ['pmixer', PMIXER],
  ])('%s: written and read back as the same config', async (_, c) => {
    const { config } = checkSequentialStructure(await manifestOf(c));
    expect(config).toEqual(c);
  });

  it.each([
    ['activation', 'swish', /architecture\.activation must be one of relu, gelu-erf, got "swish"/],
    ['norm', 'middle', /architecture\.norm must be one of pre, post/],
    ['layerNormEps', 0, /architecture\.layerNormEps must be a number in \(0, 0\.01\]/],
    ['paddingKeys', 'visible', /paddingKeys "visible" needs positions "from-latest"/],
    ['finalNorm', 'yes', /architecture\.finalNorm must be true or false/],
    ['ffnDim', 0, /architecture\.ffnDim must be a positive integer/],
  ])('refuses %s %j by its key', async (key, value, message) => {
    const manifest = await manifestOf(RECBOLE);
    const edited = { ...manifest, architecture: { ...manifest.architecture, [key]: value } };
    expect(() => checkSequentialStructure(edited)).toThrow(message);
  });

  it('refuses a variant whose tensors are not there', async () => {
    const manifest = await manifestOf(RECBOLE);
    const without = { ...manifest, architecture: { ...manifest.architecture, finalNorm: true } };
    expect(() => checkSequentialStructure(without)).toThrow(/tensor "norm.gamma" is missing/);
    const wider = { ...manifest, architecture: { ...manifest.architecture, ffnDim: 32 } };
    expect(() => checkSequentialStructure(wider)).toThrow(/architecture\.ffnDim 32/);
  });
});
