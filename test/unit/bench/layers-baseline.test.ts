// The plain tf.layers SASRec that bench:engine times pocketrec against
// (src/pages/bench/layers-baseline.ts) scores as the shared model math does, for a full-width
// encoder and for one whose blocks `pocketrec umec` narrowed (per-head query/key and value
// widths, feed-forward units, the trained attention scale kept), from either end of the window.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../../src/model/sequential.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { memorySource } from '../../../src/package/source.ts';
import { buildModelPackage } from '../../../src/package/writer.ts';
import { LayersBaseline } from '../../../src/pages/bench/layers-baseline.ts';

beforeAll(async () => {
  await useWasmBackend();
});

const FULL: SasrecConfig = {
  numItems: 40,
  dim: 8,
  maxLen: 6,
  blocks: 2,
  heads: 2,
  dropout: 0,
  positions: 'from-latest',
  readout: 'last',
};
const NARROW: SasrecConfig = {
  ...FULL,
  inner: [
    { qk: 3, v: 2, ffn: 5 },
    { qk: 4, v: 1, ffn: 8 },
  ],
};

async function baselineAndModel(config: SasrecConfig) {
  const model: SequentialModel = {
    config,
    encoder: initEncoderWeights(config, 7),
    items: denseItemTable(tf.randomNormal([config.numItems + 1, config.dim], 0, 0.5, 'float32', 8)),
  };
  const built = await buildModelPackage(
    await sequentialPackageSpec(model, { name: 'layers-baseline', dataset: 'test' }),
  );
  const pkg = await readModelPackage(memorySource(built.files, 'layers-baseline'));
  return { model, baseline: LayersBaseline.fromPackage(pkg) };
}

describe('the tf.layers baseline of bench:engine', () => {
  const histories = [[5], [3, 9, 27, 1], [2, 4, 6, 8, 10, 12, 14, 16]];
  for (const [name, config] of [
    ['full-width, positions from the latest', FULL],
    ['narrowed blocks, positions from the latest', NARROW],
    ['narrowed blocks, positions from the oldest', { ...NARROW, positions: 'from-oldest' }],
  ] as const) {
    it(`scores as the model math does: ${name}`, async () => {
      const { model, baseline } = await baselineAndModel(config);
      try {
        const ours = await scoreHistories(model, histories);
        for (const [i, history] of histories.entries()) {
          const theirs = await baseline.recommend(Int32Array.from(history), 5);
          const expected = ours[i] as Float32Array;
          const seen = new Set(history);
          const best = Array.from(expected.keys())
            .filter((row) => row > 0 && !seen.has(row))
            .sort((a, b) => (expected[b] as number) - (expected[a] as number))
            .slice(0, 5);
          expect(Array.from(theirs.rows)).toEqual(best);
          theirs.scores.forEach((score, at) => {
            expect(score).toBeCloseTo(expected[best[at] as number] as number, 4);
          });
        }
      } finally {
        baseline.dispose();
      }
    });
  }
});
