/**
 * The layers baseline in its own worker, on a stock tfjs backend: the page sends
 * histories as internal row numbers and gets rows back, with the time spent in here.
 */
import * as tf from '@tensorflow/tfjs';
import { readModelPackage } from '../../../package/reader.ts';
import { urlSource } from '../../../package/source.ts';
import type { BackendName } from '../../../runtime/engine/backend.ts';
import { LayersBaseline } from '../layers-baseline.ts';
import { useStockBackend } from '../stock-backend.ts';
import { serveRpc } from './rpc.ts';

let baseline: LayersBaseline | null = null;
let peakBytes = 0;

function ready(): LayersBaseline {
  if (!baseline) throw new Error('no baseline model is open');
  return baseline;
}

serveRpc({
  async open(args: { model: string; backend: BackendName }) {
    const backend = await useStockBackend(args.backend);
    const pkg = await readModelPackage(urlSource(args.model));
    const started = performance.now();
    baseline = LayersBaseline.fromPackage(pkg);
    // One request compiles and allocates what every later one reuses.
    await baseline.recommend(Int32Array.of(1), 10);
    return {
      backend,
      itemIds: pkg.itemIds,
      numRows: baseline.numRows,
      maxLen: baseline.maxLen,
      params: baseline.model.countParams(),
      buildMs: performance.now() - started,
      ...tf.memory(),
    };
  },

  async recommend(args: { history: Int32Array; k: number }) {
    const started = performance.now();
    const result = await ready().recommend(args.history, args.k);
    return { ...result, ms: performance.now() - started };
  },

  /** tfjs's bytes now, and the peak of one profiled request on `history`. */
  async memory(args: { history: Int32Array }) {
    const model = ready();
    const profile = await tf.profile(async () => {
      await model.recommend(args.history, 10);
    });
    peakBytes = Math.max(peakBytes, profile.peakBytes);
    const { numBytes, numTensors } = tf.memory();
    return { numBytes, numTensors, peakBytes };
  },

  close() {
    baseline?.dispose();
    baseline = null;
  },
});
