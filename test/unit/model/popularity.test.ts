// The popularity prior (src/model/popularity.ts): counts stored as one uint8 log level per
// row, written beside any sequential model and as a sequential-popularity package of its
// own, read back in the counts' order, counted in the size figures, kept by repacking; and
// hostile priors (wrong length, signed or scaled values, a padding row or top level out of
// place, a missing or broken priorMaxCount) refused by verify, the eval scorer and the
// engine alike with a ModelPackageError naming the problem.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageScorer, servedOrder } from '../../../src/eval/package-scorer.ts';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { checkModelStructure } from '../../../src/model/package-structure.ts';
import {
  carriesPrior,
  encodePriorLevels,
  POPULARITY_KIND,
  PRIOR_LEVELS,
  PRIOR_MAX_COUNT,
  PRIOR_TENSOR,
  popularityPackageSpec,
  popularityPriorOf,
  withPopularityPrior,
} from '../../../src/model/popularity.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { ModelPackageError } from '../../../src/package/errors.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { repackageSpec } from '../../../src/package/repackage.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';
import { Engine } from '../../../src/runtime/engine/engine.ts';

const NUM_ITEMS = 20;
const ROWS = NUM_ITEMS + 1;
/** Item i occurs COUNTS[i] times; item 7 never, item 13 most (5,000), several tie. */
const COUNTS = Int32Array.from({ length: ROWS }, (_, i) =>
  i === 0 || i === 7 ? 0 : i === 13 ? 5000 : i === 2 ? 1 : 10 + ((i * 37) % 400),
);

const CONFIG: SasrecConfig = {
  numItems: NUM_ITEMS,
  dim: 8,
  maxLen: 5,
  blocks: 1,
  heads: 1,
  dropout: 0,
  positions: 'from-oldest',
  readout: 'last',
};

let plain: PackageSpec;

beforeAll(async () => {
  await useWasmBackend();
  const table = tf.randomNormal([ROWS, CONFIG.dim], 0, 0.3, 'float32', 5) as tf.Tensor2D;
  const model = {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, 4),
    items: denseItemTable(table),
  };
  plain = await sequentialPackageSpec(model, { name: 'tiny', dataset: 'unit' });
});

const read = async (spec: PackageSpec): Promise<ModelPackage> =>
  readModelPackage(memorySource((await buildModelPackage(spec)).files));

/** The rows of `counts` from most to least frequent, ties to the lower row, unseen left out. */
function byCount(counts: ArrayLike<number>): number[] {
  return Array.from({ length: counts.length - 1 }, (_, i) => i + 1)
    .filter((row) => (counts[row] as number) > 0)
    .sort((a, b) => (counts[b] as number) - (counts[a] as number) || a - b);
}

describe('the prior tensor', () => {
  it('stores one byte a row: 0 for padding and unseen items, 255 for the most, never 0 for a seen one', () => {
    const { levels, maxCount } = encodePriorLevels(COUNTS);
    expect(levels).toBeInstanceOf(Uint8Array);
    expect(levels.length).toBe(ROWS);
    expect(maxCount).toBe(5000);
    expect([levels[0], levels[7], levels[13]]).toEqual([0, 0, PRIOR_LEVELS]);
    expect(levels[2]).toBeGreaterThanOrEqual(1);
    // More occurrences never get a lower level.
    const order = byCount(COUNTS);
    for (let i = 1; i < order.length; i++) {
      expect(levels[order[i - 1] as number]).toBeGreaterThanOrEqual(
        levels[order[i] as number] as number,
      );
    }
    // An item seen once stays above one never seen, even beside the largest safe count.
    expect(encodePriorLevels([0, 1, Number.MAX_SAFE_INTEGER]).levels[1]).toBe(5);
  });

  it('refuses counts that are negative, fractional or all zero', () => {
    expect(() => encodePriorLevels([0, 3, -1])).toThrow(/item 2 has count -1/);
    expect(() => encodePriorLevels([0, 1.5, 2])).toThrow(/item 1 has count 1\.5/);
    expect(() => encodePriorLevels([0, 0, 0])).toThrow(/nothing popular/);
    expect(() => withPopularityPrior(plain, COUNTS.subarray(1))).toThrow(/20 counts for 20 items/);
  });

  it('round-trips through a package: decoded in the counts order, ln(1 + count) within a level', async () => {
    const pkg = await read(withPopularityPrior(plain, COUNTS));
    const entry = pkg.manifest.tensors.find((t) => t.name === PRIOR_TENSOR);
    expect(entry).toMatchObject({ dtype: 'uint8', shape: [ROWS] });
    expect(pkg.manifest.architecture[PRIOR_MAX_COUNT]).toBe(5000);
    const prior = popularityPriorOf(pkg);
    if (!prior) throw new Error('no prior read');
    const step = Math.log1p(5000) / PRIOR_LEVELS;
    for (let row = 1; row < ROWS; row++) {
      const count = COUNTS[row] as number;
      if (count === 0) expect(prior.scores[row]).toBe(Number.NEGATIVE_INFINITY);
      else expect(Math.abs((prior.scores[row] as number) - Math.log1p(count))).toBeLessThan(step);
    }
    expect(prior.scores[0]).toBe(Number.NEGATIVE_INFINITY);
    // The served order is the counts' wherever the counts differ by more than a level.
    const served = servedOrder(prior);
    const top = byCount(COUNTS).slice(0, 3);
    expect(top[0]).toBe(13);
    expect(served[13]).toBe(byCount(COUNTS).length);
    expect(served[7]).toBe(Number.NEGATIVE_INFINITY);
    expect(checkModelStructure(pkg)).toMatch(
      /popularity prior of 20 items \(19 seen in training, the most 5000 times\)/,
    );
    expect(carriesPrior(pkg.manifest)).toBe(true);
  });

  it('costs one byte a row in the size figures, and float32 counts in the dense equivalent', async () => {
    const without = await read(plain);
    const withPrior = await read(withPopularityPrior(plain, COUNTS));
    expect(withPrior.manifest.size.bytes - without.manifest.size.bytes).toBe(ROWS);
    expect(withPrior.manifest.size.params - without.manifest.size.params).toBe(ROWS);
    expect(
      withPrior.manifest.size.denseEquivalentParams - without.manifest.size.denseEquivalentParams,
    ).toBe(ROWS);
    expect(popularityPriorOf(without)).toBeNull();
    expect(carriesPrior(without.manifest)).toBe(false);
  });

  it('is kept by repacking, and replaced (not added twice) when written again', async () => {
    const pkg = await read(withPopularityPrior(plain, COUNTS));
    const again = repackageSpec(pkg, { name: 'again', notes: undefined, metrics: {} });
    const repacked = await read(again);
    expect(repacked.tensors.get(PRIOR_TENSOR)?.data).toEqual(pkg.tensors.get(PRIOR_TENSOR)?.data);
    const doubled = Int32Array.from(COUNTS, (c) => 2 * c);
    const replaced = await read(withPopularityPrior(again, doubled));
    expect(replaced.manifest.tensors.filter((t) => t.name === PRIOR_TENSOR)).toHaveLength(1);
    expect(replaced.manifest.architecture[PRIOR_MAX_COUNT]).toBe(10000);
    expect(replaced.manifest.size.denseEquivalentParams).toBe(
      pkg.manifest.size.denseEquivalentParams,
    );
  });

  it('a sequential-popularity package is the prior alone, scored the same for every history', async () => {
    const pkg = await read(popularityPackageSpec(COUNTS, { name: 'pop', dataset: 'unit' }));
    expect(pkg.manifest.kind).toBe(POPULARITY_KIND);
    expect(pkg.manifest.tensors.map((t) => t.name)).toEqual([PRIOR_TENSOR]);
    expect(pkg.manifest.size.bytes).toBe(ROWS);
    expect(checkModelStructure(pkg)).toMatch(
      /^sequential-popularity: popularity prior of 20 items/,
    );
    const scorer = packageScorer(pkg);
    const [a, b] = await scorer.score([Int32Array.of(1, 2), new Int32Array(0)]);
    expect(a).toEqual(b);
    const ranked = byCount(Array.from(a as Float32Array, (s) => (Number.isFinite(s) ? s : 0)));
    expect(ranked[0]).toBe(13);
    // No two seen items tie, so the evaluator cannot favour a target in a tie.
    expect(new Set(ranked.map((row) => (a as Float32Array)[row])).size).toBe(ranked.length);
  });
});

/** A manifest-level edit of a prior-carrying spec, and the problem it must be refused with. */
const HOSTILE: [string, (spec: PackageSpec) => PackageSpec, RegExp][] = [
  [
    'one level short',
    (spec) =>
      withTensor(spec, { shape: [NUM_ITEMS], data: encodePriorLevels(COUNTS).levels.subarray(1) }),
    /has shape \[20\], expected \[21\]/,
  ],
  [
    'signed values (negative counts)',
    (spec) =>
      withTensor(spec, {
        dtype: 'int8',
        scale: 1,
        data: Int8Array.from(COUNTS, (c) => -(c % 100)),
      }),
    /is int8; a popularity prior is uint8 levels, unscaled/,
  ],
  [
    'float32 counts',
    (spec) => withTensor(spec, { dtype: 'float32', data: Float32Array.from(COUNTS) }),
    /is float32; a popularity prior is uint8 levels/,
  ],
  [
    'a level for the padding row',
    (spec) =>
      withLevels(spec, (levels) => {
        levels[0] = 9;
      }),
    /gives the padding row 0 level 9, not 0/,
  ],
  [
    'no item at the top level',
    (spec) =>
      withLevels(spec, (levels) =>
        levels.forEach((l, i) => {
          levels[i] = l >> 1;
        }),
      ),
    /reaches level 127; the most frequent item is level 255/,
  ],
  [
    'priorMaxCount missing',
    (spec) => withArchitecture(spec, undefined),
    /architecture.priorMaxCount must be a whole number >= 1 .*got undefined/,
  ],
  ['priorMaxCount 0', (spec) => withArchitecture(spec, 0), /priorMaxCount must be .* got 0/],
  ['priorMaxCount negative', (spec) => withArchitecture(spec, -3), /got -3/],
  ['priorMaxCount fractional', (spec) => withArchitecture(spec, 2.5), /got 2\.5/],
  ['priorMaxCount a string', (spec) => withArchitecture(spec, 'many'), /got "many"/],
  [
    'priorMaxCount without a prior',
    (spec) => ({ ...spec, tensors: spec.tensors.filter((t) => t.name !== PRIOR_TENSOR) }),
    /priorMaxCount is set but there is no tensor "prior.popularity"/,
  ],
];

function withTensor(
  spec: PackageSpec,
  change: Partial<PackageSpec['tensors'][number]>,
): PackageSpec {
  return {
    ...spec,
    tensors: spec.tensors.map((t) => (t.name === PRIOR_TENSOR ? { ...t, ...change } : t)),
  };
}

function withLevels(spec: PackageSpec, edit: (levels: Uint8Array) => void): PackageSpec {
  const levels = encodePriorLevels(COUNTS).levels;
  edit(levels);
  return withTensor(spec, { data: levels });
}

function withArchitecture(spec: PackageSpec, maxCount: number | string | undefined): PackageSpec {
  const { [PRIOR_MAX_COUNT]: _dropped, ...architecture } = spec.architecture;
  return {
    ...spec,
    architecture:
      maxCount === undefined ? architecture : { ...architecture, [PRIOR_MAX_COUNT]: maxCount },
  };
}

describe('hostile priors are refused by verify, eval and the engine', () => {
  const kinds: [string, () => PackageSpec][] = [
    ['a sequential-dense package', () => withPopularityPrior(plain, COUNTS)],
    [
      'a sequential-popularity package',
      () => popularityPackageSpec(COUNTS, { name: 'p', dataset: 'u' }),
    ],
  ];
  describe.each(kinds)('in %s', (_kind, base) => {
    it.each(HOSTILE)('%s', async (_name, edit, problem) => {
      // Every edit still passes the format's own checks: only the prior is wrong.
      const pkg = await read(edit(base()));
      const refusals: (() => unknown)[] = [
        () => checkModelStructure(pkg),
        () => packageScorer(pkg),
        () => Engine.create(pkg, { backend: 'wasm', incremental: true, materialiseRows: 0 }),
      ];
      for (const refuse of refusals) {
        const error = await Promise.resolve()
          .then(refuse)
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(ModelPackageError);
        expect((error as ModelPackageError).code).toBe('bad-shape');
        expect((error as ModelPackageError).message).toMatch(problem);
      }
    });
  });

  it('a popularity package without its prior, or with another tensor', async () => {
    const base = popularityPackageSpec(COUNTS, { name: 'p', dataset: 'u' });
    const empty = await read({
      ...withArchitecture(base, undefined),
      tensors: [],
    });
    expect(() => checkModelStructure(empty)).toThrow(/tensor "prior.popularity" is missing/);
    const extra = await read({
      ...base,
      tensors: [
        ...base.tensors,
        { name: 'weights', dtype: 'float32', shape: [2], data: new Float32Array(2) },
      ],
    });
    expect(() => checkModelStructure(extra)).toThrow(/tensor "weights" is not part of this model/);
  });
});
