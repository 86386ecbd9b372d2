// The worker's engine against the Node reference (scoreHistories), on tfjs's WASM and CPU
// backends in Node: the same model math, so the same top-k, whichever path a request takes.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable, ttItemTable } from '../../../src/model/item-table.ts';
import { fitMarkov, markovPackageSpec, scoreMarkov } from '../../../src/model/markov.ts';
import {
  initEncoderWeights,
  type KeyValueCache,
  type SasrecConfig,
} from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import { sequentialPackageSpec, ttArchitecture } from '../../../src/model/sequential-package.ts';
import { initTtCores, type TtShape } from '../../../src/model/tt-matrix.ts';
import { type ModelPackage, readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { seededRandom } from '../../../src/random.ts';
import { Engine, type RecommendQuery } from '../../../src/runtime/engine/engine.ts';
import { SessionEncoder } from '../../../src/runtime/engine/session-encoder.ts';
import { topK } from '../../../src/runtime/engine/top-k.ts';

const NUM_ITEMS = 60;
const SHAPE: TtShape = { rows: [8, 8], cols: [4, 4], rank: 4, stp: 2 };

function config(
  positions: SasrecConfig['positions'],
  readout: SasrecConfig['readout'] = 'last',
): SasrecConfig {
  return {
    numItems: NUM_ITEMS,
    dim: 16,
    maxLen: 12,
    blocks: 2,
    heads: 2,
    dropout: 0,
    positions,
    readout,
  };
}

async function packaged(model: SequentialModel, tt: boolean): Promise<ModelPackage> {
  const spec = await sequentialPackageSpec(model, {
    name: tt ? 'tiny-tt' : 'tiny-dense',
    dataset: 'unit',
    ...(tt ? { architecture: ttArchitecture(SHAPE) } : {}),
  });
  return readModelPackage(memorySource((await buildModelPackage(spec)).files));
}

function sequentialModel(
  positions: SasrecConfig['positions'],
  tt: boolean,
  readout: SasrecConfig['readout'] = 'last',
  repeatBonus = 0,
): SequentialModel {
  const c = config(positions, readout);
  return {
    ...(repeatBonus > 0 ? { repeatBonus } : {}),
    config: c,
    encoder: initEncoderWeights(c, 11),
    items: tt
      ? ttItemTable(initTtCores(SHAPE, { seed: 3, std: 0.4 }), SHAPE, NUM_ITEMS + 1)
      : denseItemTable(tf.randomNormal([NUM_ITEMS + 1, c.dim], 0, 0.4, 'float32', 4)),
  };
}

/** The reference answer: every score from scoreHistories, masked, top-k by plain sorting. */
async function reference(model: SequentialModel, q: RecommendQuery) {
  const [scores] = await scoreHistories(model, [q.history]);
  const banned = new Set([...q.exclude, ...(q.excludeSeen ? q.history : [])]);
  const allowed = q.candidates ? new Set(q.candidates) : null;
  return Array.from(scores as Float32Array, (s, row) => ({ row, s }))
    .filter(({ row }) => row > 0 && !banned.has(row) && (!allowed || allowed.has(row)))
    .sort((a, b) => b.s - a.s || a.row - b.row)
    .slice(0, q.k);
}

function query(history: number[], extra: Partial<RecommendQuery> = {}): RecommendQuery {
  return {
    history: Int32Array.from(history),
    k: 10,
    exclude: new Int32Array(0),
    candidates: null,
    excludeSeen: true,
    ...extra,
  };
}

async function expectSameAsReference(engine: Engine, model: SequentialModel, q: RecommendQuery) {
  const got = await engine.recommend(q);
  const want = await reference(model, q);
  expect(got.rows.length).toBe(want.length);
  want.forEach(({ row, s }, i) => {
    expect(Math.abs((got.scores[i] as number) - s)).toBeLessThan(1e-4);
    // Same item, or a tie within float noise.
    if (got.rows[i] !== row) expect(Math.abs((got.scores[i] as number) - s)).toBeLessThan(1e-6);
  });
  return got;
}

describe.each([
  ['wasm', 'from-oldest', false, 'last', 0],
  ['wasm', 'from-oldest', true, 'last', 0],
  ['wasm', 'from-latest', true, 'last', 0],
  ['cpu', 'from-oldest', true, 'last', 0],
  ['wasm', 'from-oldest', true, 'attention', 0],
  ['wasm', 'from-oldest', true, 'last', 6],
  ['wasm', 'from-oldest', false, 'last', 6],
] as const)(
  'engine on %s, %s positions, tensor-train %s, %s readout, repeat bonus %s',
  (backend, positions, tt, readout, repeatBonus: number) => {
    // Earlier positions can be reused only where appending an item changes none of them.
    const incremental = positions === 'from-oldest' && readout === 'last';
    let model: SequentialModel;
    let engines: Engine[];

    beforeAll(async () => {
      await useWasmBackend();
      const pkg = await packaged(sequentialModel(positions, tt, readout, repeatBonus), tt);
      engines = [
        await Engine.create(pkg, { backend, incremental: true, materialiseRows: 1_000 }),
        await Engine.create(pkg, { backend, incremental: false, materialiseRows: 1_000 }),
        // materialiseRows 0: a tensor-train table is contracted, never built.
        await Engine.create(pkg, { backend, incremental: true, materialiseRows: 0 }),
      ];
      // Reference on the same backend the engine selected.
      model = sequentialModel(positions, tt, readout, repeatBonus);
    });

    afterAll(() => {
      for (const e of engines) e.dispose();
    });

    it('selects the backend asked for, and the fused kernels where they apply', () => {
      expect(tf.getBackend()).toBe(backend);
      expect(engines[0]?.backend.name).toBe(backend);
      // The fused WASM kernels serve every built table on WASM, and a tensor-train table
      // through its cores; the attention readout stays on tfjs.
      const fused = backend === 'wasm' && readout === 'last';
      expect(engines[0]?.info().scoring).toBe(
        fused ? 'fused-wasm' : tt ? 'tt-materialised' : 'dense-table',
      );
      expect(engines[2]?.info().scoring).toBe(
        fused ? 'fused-wasm' : tt ? 'tt-contracted' : 'dense-table',
      );
    });

    it('events appended one at a time, past maxLen, match the whole-history reference', async () => {
      const random = seededRandom(8);
      const history: number[] = [];
      let reusedSomewhere = false;
      for (let n = 0; n < 20; n++) {
        history.push(1 + Math.floor(random() * NUM_ITEMS));
        for (const engine of engines) {
          const got = await expectSameAsReference(engine, model, query(history));
          if (got.reused > 0) reusedSomewhere = true;
        }
      }
      expect(reusedSomewhere).toBe(incremental);
      expect(engines[0]?.info().incremental).toBe(incremental);
    });

    it('switching between users re-encodes, and still matches', async () => {
      const random = seededRandom(9);
      for (let u = 0; u < 6; u++) {
        const length = 1 + Math.floor(random() * 15);
        const history = Array.from({ length }, () => 1 + Math.floor(random() * NUM_ITEMS));
        await expectSameAsReference(engines[0] as Engine, model, query(history));
      }
    });

    it('exclude, candidates and excludeSeen', async () => {
      const engine = engines[2] as Engine;
      const history = [5, 9, 5, 33];
      const all = { k: NUM_ITEMS };
      const seenKept = await expectSameAsReference(
        engine,
        model,
        query(history, { ...all, excludeSeen: false }),
      );
      const seenDropped = await expectSameAsReference(engine, model, query(history, all));
      expect(seenKept.rows.length).toBe(NUM_ITEMS);
      expect(seenDropped.rows.length).toBe(NUM_ITEMS - 3);
      expect([...seenDropped.rows].some((r) => history.includes(r))).toBe(false);
      const exclude = Int32Array.from(seenDropped.rows.slice(0, 3));
      const excluded = await expectSameAsReference(engine, model, query(history, { exclude }));
      expect([...excluded.rows].some((r) => exclude.includes(r))).toBe(false);
      const candidates = Int32Array.of(2, 5, 7, 11, 40, 59);
      const only = await expectSameAsReference(engine, model, query(history, { candidates, k: 4 }));
      expect([...only.rows].every((r) => candidates.includes(r) && r !== 5)).toBe(true);
      expect(only.rows.length).toBe(4);
    });

    it("with the history kept, the window's items get the package's repeat bonus", async () => {
      const history = [5, 9, 5, 33, 17, 2, 40, 9];
      for (const engine of engines) {
        const got = await expectSameAsReference(
          engine,
          model,
          query(history, { excludeSeen: false }),
        );
        const repeated = [...got.rows].filter((r) => history.includes(r)).length;
        if (repeatBonus > 0) expect(repeated).toBeGreaterThan(0);
      }
      // Candidates get it too.
      const candidates = Int32Array.of(2, 3, 5, 7, 11, 40, 59);
      await expectSameAsReference(
        engines[0] as Engine,
        model,
        query(history, { candidates, k: 5, excludeSeen: false }),
      );
    });

    it('an empty history gets no recommendations rather than noise', async () => {
      const got = await (engines[0] as Engine).recommend(query([]));
      expect(got.rows.length).toBe(0);
    });
  },
);

describe('engine with a Markov model', () => {
  it('scores as scoreMarkov does, with the same masking', async () => {
    await useWasmBackend();
    const random = seededRandom(2);
    const sequences = Array.from({ length: 200 }, () =>
      Int32Array.from({ length: 8 }, () => 1 + Math.floor(random() * 30)),
    );
    const markov = fitMarkov(sequences, 30);
    const pkg = await readModelPackage(
      memorySource(
        (
          await buildModelPackage(
            markovPackageSpec(markov, { name: 'tiny-markov', dataset: 'unit' }),
          )
        ).files,
      ),
    );
    const engine = await Engine.create(pkg, {
      backend: 'wasm',
      incremental: true,
      materialiseRows: 0,
    });
    const history = Int32Array.of(3, 7, 12);
    const got = await engine.recommend(query([...history]));
    const scores = scoreMarkov(markov, history);
    const want = topK(scores, 10, new Set(history), { from: 1 });
    expect(got.rows).toEqual(want.rows);
    expect(engine.info().scoring).toBe('markov');
  });
});

describe('topK', () => {
  it('keeps the best k, best first, ties to the lower row, skipping exclusions and NaN', () => {
    const scores = Float32Array.of(9, 1, 5, 5, Number.NaN, 7, 5, Number.NEGATIVE_INFINITY);
    const got = topK(scores, 4, new Set([5]), { from: 1 });
    expect([...got.rows]).toEqual([2, 3, 6, 1]);
    expect([...got.scores]).toEqual([5, 5, 5, 1]);
    expect([...topK(scores, 10, new Set(), { from: 0 }).rows]).toEqual([0, 5, 2, 3, 6, 1]);
  });
});

describe('SessionEncoder with fixed shapes (as on WebGPU)', () => {
  it.each(['from-oldest', 'from-latest'] as const)(
    '%s: padded windows and fixed-size caches give the unpadded queries',
    async (positions) => {
      await useWasmBackend();
      const model = sequentialModel(positions, true);
      const fixed = new SessionEncoder(model, { incremental: true, fixedShapes: true });
      const plain = new SessionEncoder(model, { incremental: false });
      const random = seededRandom(21);
      const history: number[] = [];
      let reused = 0;
      const shapes = new Set<string>();
      for (let n = 0; n < 16; n++) {
        history.push(1 + Math.floor(random() * NUM_ITEMS));
        const a = fixed.encode(Int32Array.from(history));
        reused += a.reused;
        const b = plain.encode(Int32Array.from(history));
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.query, b.query))).dataSync()[0]);
        expect(diff).toBeLessThan(1e-5);
        const kept = (fixed as unknown as { last: { cache: KeyValueCache | null } }).last.cache;
        if (kept) shapes.add(kept.keys.map((k) => k.shape.join('x')).join(','));
      }
      // From the oldest item: steps reuse the cache, whose shape never changes.
      expect(reused > 0).toBe(positions === 'from-oldest');
      expect(shapes.size).toBe(positions === 'from-oldest' ? 1 : 0);
    },
  );
});
