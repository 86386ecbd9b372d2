// The engine's answer to an empty history (Node, WASM backend): a package's popularity prior
// gives the k most popular items marked 'popular' (within the candidates when there are
// some, without the excluded ones), a non-empty history the model's own answer marked
// 'model'; a package without a prior still gives nothing; a Markov package answers from its
// own popularity and a sequential-popularity package from its prior whatever the history.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { fitMarkov, markovPackageSpec, scoreMarkov } from '../../../src/model/markov.ts';
import { popularityPackageSpec, withPopularityPrior } from '../../../src/model/popularity.ts';
import { initEncoderWeights } from '../../../src/model/sasrec.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';
import { Engine, type RecommendQuery } from '../../../src/runtime/engine/engine.ts';
import { tinyConfig } from '../cli/helpers.ts';

const NUM_ITEMS = 40;
/** The command tests' encoder: d 8, one block, length 6. */
const CONFIG = tinyConfig(NUM_ITEMS);
/** Distinct counts far apart (no two share a level), item 9 never seen: the order is known. */
const COUNTS = Int32Array.from({ length: NUM_ITEMS + 1 }, (_, i) =>
  i === 0 || i === 9 ? 0 : Math.round(1.2 ** ((i * 17) % NUM_ITEMS) * 10),
);
/** Items by count, most first; the unseen item 9 is never among them. */
const POPULAR = Array.from({ length: NUM_ITEMS }, (_, i) => i + 1)
  .filter((i) => (COUNTS[i] as number) > 0)
  .sort((a, b) => (COUNTS[b] as number) - (COUNTS[a] as number));

const read = async (spec: PackageSpec): Promise<ModelPackage> =>
  readModelPackage(memorySource((await buildModelPackage(spec)).files));

/** Five items after `history`, nothing excluded but the seen items, every item a candidate. */
const BASE_QUERY: Omit<RecommendQuery, 'history'> = {
  k: 5,
  exclude: new Int32Array(0),
  candidates: null,
  excludeSeen: true,
};
const query = (history: number[], extra: Partial<RecommendQuery> = {}): RecommendQuery => ({
  ...BASE_QUERY,
  history: Int32Array.from(history),
  ...extra,
});

const engines: Engine[] = [];
const open = async (pkg: ModelPackage) => {
  const engine = await Engine.create(pkg, {
    backend: 'wasm',
    incremental: true,
    materialiseRows: 0,
  });
  engines.push(engine);
  return engine;
};

let withPrior: Engine;
let withoutPrior: Engine;

beforeAll(async () => {
  await useWasmBackend();
  const table = tf.randomNormal([NUM_ITEMS + 1, CONFIG.dim], 0, 0.4, 'float32', 2) as tf.Tensor2D;
  const model = {
    config: CONFIG,
    encoder: initEncoderWeights(CONFIG, 3),
    items: denseItemTable(table),
  };
  const spec = await sequentialPackageSpec(model, { name: 'tiny', dataset: 'unit' });
  withPrior = await open(await read(withPopularityPrior(spec, COUNTS)));
  withoutPrior = await open(await read(spec));
});

afterAll(() => {
  for (const engine of engines) engine.dispose();
});

describe('a sequential package with a popularity prior', () => {
  it('answers an empty history with the k most popular items, marked popular', async () => {
    const got = await withPrior.recommend(query([]));
    expect(got.reason).toBe('popular');
    expect([...got.rows]).toEqual(POPULAR.slice(0, 5));
    // Scores are ln(1 + count), to within one of the 255 levels.
    const step = Math.log1p(Math.max(...COUNTS)) / 255;
    got.rows.forEach((row, i) => {
      expect(Math.abs((got.scores[i] as number) - Math.log1p(COUNTS[row] as number))).toBeLessThan(
        step,
      );
    });
  });

  it('keeps to the candidates (a category) and leaves out excluded and never-seen items', async () => {
    const candidates = Int32Array.of(3, 9, 11, 20, 27, 35);
    const inCategory = await withPrior.recommend(query([], { candidates, k: 10 }));
    const expected = POPULAR.filter((row) => candidates.includes(row));
    expect([...inCategory.rows]).toEqual(expected);
    expect([...inCategory.rows]).not.toContain(9);
    const exclude = Int32Array.from(POPULAR.slice(0, 2));
    const rest = await withPrior.recommend(query([], { exclude }));
    expect([...rest.rows]).toEqual(POPULAR.slice(2, 7));
    const all = await withPrior.recommend(query([], { k: NUM_ITEMS }));
    expect(all.rows.length).toBe(NUM_ITEMS - 1);
  });

  it('answers a history with the model, exactly as a package without the prior does', async () => {
    const random = seededRandom(5);
    for (let n = 1; n <= 8; n++) {
      const history = Array.from({ length: n }, () => 1 + Math.floor(random() * NUM_ITEMS));
      const got = await withPrior.recommend(query(history));
      const plain = await withoutPrior.recommend(query(history));
      expect(got.reason).toBe('model');
      expect([...got.rows]).toEqual([...plain.rows]);
      expect([...got.scores]).toEqual([...plain.scores]);
    }
  });

  it('without a prior an empty history still gets nothing', async () => {
    const got = await withoutPrior.recommend(query([]));
    expect(got.rows.length).toBe(0);
    expect(got.reason).toBe('model');
  });
});

describe('Markov and popularity packages', () => {
  it('a Markov package answers an empty history from its own popularity, marked popular', async () => {
    const random = seededRandom(8);
    const sequences = Array.from({ length: 300 }, () =>
      Int32Array.from({ length: 6 }, () => 1 + Math.floor(random() * 25)),
    );
    const markov = fitMarkov(sequences, 25);
    const engine = await open(
      await read(markovPackageSpec(markov, { name: 'm', dataset: 'unit' })),
    );
    const empty = await engine.recommend(query([], { k: 8 }));
    expect(empty.reason).toBe('popular');
    const scores = scoreMarkov(markov, []);
    const byPopularity = Array.from({ length: 25 }, (_, i) => i + 1).sort(
      (a, b) => (scores[b] as number) - (scores[a] as number) || a - b,
    );
    expect([...empty.rows]).toEqual(byPopularity.slice(0, 8));
    const after = await engine.recommend(query([4, 7], { k: 8 }));
    expect(after.reason).toBe('model');
  });

  it('a sequential-popularity package recommends the popular items whatever the history', async () => {
    const engine = await open(
      await read(popularityPackageSpec(COUNTS, { name: 'p', dataset: 'unit' })),
    );
    expect(engine.info().scoring).toBe('popularity');
    const empty = await engine.recommend(query([]));
    const seen = await engine.recommend(query([POPULAR[0] as number, 2]));
    expect(empty.reason).toBe('popular');
    expect(seen.reason).toBe('popular');
    expect([...empty.rows]).toEqual(POPULAR.slice(0, 5));
    // Seen items are left out as for any model.
    expect([...seen.rows]).toEqual(POPULAR.filter((r) => r !== 2).slice(1, 6));
  });
});
