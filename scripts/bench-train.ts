/**
 * `npm run bench:train`: seconds per training step and epoch of the ML-1M teacher on tfjs's
 * WASM backend, the GFLOP/s the step achieves, against this machine's matmul peak measured
 * in the same run, and against tfjs's stock WASM kernels run side by side (each variant in
 * its own process, alternating, medians over repeats). Prints a table and JSON.
 *
 *   npm run bench:train -- [--max-len 50] [--steps 6] [--rounds 2] [--loss full|sampled] [--json]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadUserSequences } from '../src/data/index.ts';
import { leaveOneOut } from '../src/eval/splits.ts';
import { useWasmBackend } from '../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../src/model/item-table.ts';
import { DEFAULT_SASREC, initEncoderWeights, type SasrecConfig } from '../src/model/sasrec.ts';
import { seededRandom } from '../src/random.ts';
import { type SequenceBatch, sequenceBatches, trainingWindows } from '../src/train/batches.ts';
import { asVariables, nextItemLoss } from '../src/train/train-sasrec.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const maxLen = Number(option('max-len', '50'));
const steps = Number(option('steps', '6'));
const rounds = Number(option('rounds', '2'));
const loss = option('loss', 'full') as 'full' | 'sampled';
const negatives = 512;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) >> 1] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** Multiply-adds x2 of one training step (forward + backward = 3x forward for products). */
function stepFlops(config: SasrecConfig, batch: SequenceBatch): number {
  const tokens = batch.size * batch.length;
  const d = config.dim;
  const perBlock = 6 * 2 * tokens * d * d + 2 * 2 * batch.size * batch.length * batch.length * d;
  const scored = batch.targets.length;
  const candidates = loss === 'full' ? config.numItems + 1 : negatives + 1;
  return 3 * (config.blocks * perBlock + 2 * scored * candidates * d);
}

async function measure(variant: 'stock' | 'pocketrec'): Promise<Record<string, number>> {
  await useWasmBackend(undefined, { stockKernels: variant === 'stock' });
  // Peak: one large 2-D product, the best case for XNNPACK.
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const peakTimes: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    tf.matMul(a, b).dataSync();
    peakTimes.push(performance.now() - t0);
  }
  const peakGflops = (2 * 1024 ** 3) / (median(peakTimes.slice(1)) / 1000) / 1e9;

  const data = await loadUserSequences('ml-1m', {});
  const train = leaveOneOut(data.sequences).train;
  const config: SasrecConfig = { ...DEFAULT_SASREC, numItems: data.numItems, maxLen };
  const encoder = asVariables(initEncoderWeights(config, 1));
  const table = tf.variable(tf.randomNormal([data.numItems + 1, config.dim], 0, 0.125));
  const model = { config, encoder, items: denseItemTable(table as tf.Tensor as tf.Tensor2D) };
  const optimizer = tf.train.adam(1e-3);
  const windows = trainingWindows(train, maxLen, 'all');
  const batches = sequenceBatches(windows, { maxLen, batchSize: 128, random: seededRandom(1) });
  // Full-length batches, the common case with 'all' windows, so variants see the same work.
  const full = batches.filter((x) => x.length === maxLen && x.size === 128).slice(0, steps + 1);
  const times: number[] = [];
  let flops = 0;
  full.forEach((batch, i) => {
    const t0 = performance.now();
    const cost = optimizer.minimize(
      () => nextItemLoss(model, batch, { loss, negatives, seed: i }),
      true,
    );
    cost?.dataSync();
    cost?.dispose();
    if (i > 0) {
      times.push(performance.now() - t0);
      flops += stepFlops(config, batch);
    }
  });
  const stepSeconds = median(times) / 1000;
  const epochTokens = batches.reduce((n, x) => n + x.size * x.length, 0);
  const stepTokens = 128 * maxLen;
  return {
    peakGflops,
    stepSeconds,
    gflops: flops / (times.reduce((x, y) => x + y, 0) / 1000) / 1e9,
    epochSecondsEstimate: (stepSeconds * epochTokens) / stepTokens,
    stepsPerEpoch: batches.length,
  };
}

if (args.includes('--variant')) {
  const variant = option('variant', 'pocketrec') as 'stock' | 'pocketrec';
  process.stdout.write(`${JSON.stringify(await measure(variant))}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const results: Record<'stock' | 'pocketrec', Record<string, number>[]> = {
    stock: [],
    pocketrec: [],
  };
  for (let round = 0; round < rounds; round++) {
    for (const variant of ['pocketrec', 'stock'] as const) {
      const out = execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          self,
          '--variant',
          variant,
          '--max-len',
          String(maxLen),
          '--steps',
          String(steps),
          '--loss',
          loss,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      results[variant].push(JSON.parse(out.trim().split('\n').pop() as string));
    }
  }
  const summary = (rs: Record<string, number>[]) => ({
    stepSeconds: median(rs.map((r) => r.stepSeconds as number)),
    gflops: median(rs.map((r) => r.gflops as number)),
    peakGflops: median(rs.map((r) => r.peakGflops as number)),
    epochSecondsEstimate: median(rs.map((r) => r.epochSecondsEstimate as number)),
  });
  const ours = summary(results.pocketrec);
  const stock = summary(results.stock);
  const report = {
    benchmark: 'train-step',
    config: {
      dataset: 'ml-1m',
      maxLen,
      batch: 128,
      dim: DEFAULT_SASREC.dim,
      blocks: DEFAULT_SASREC.blocks,
      loss,
      windows: 'all',
    },
    rounds,
    stepsPerRound: steps,
    pocketrec: { ...ours, ofPeak: ours.gflops / ours.peakGflops },
    stock: { ...stock, ofPeak: stock.gflops / stock.peakGflops },
    speedup: stock.stepSeconds / ours.stepSeconds,
  };
  if (args.includes('--json')) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(
      `ML-1M teacher step (batch 128 x ${maxLen}, ${loss} softmax), medians of ${rounds} rounds x ${steps} steps`,
    );
    for (const [name, r] of [
      ['pocketrec kernels', report.pocketrec],
      ['stock tfjs WASM', report.stock],
    ] as const) {
      console.log(
        `${name.padEnd(18)} ${r.stepSeconds.toFixed(3)} s/step  ~${r.epochSecondsEstimate.toFixed(0)} s/epoch  ${r.gflops.toFixed(2)} GFLOP/s = ${(100 * r.ofPeak).toFixed(0)}% of the ${r.peakGflops.toFixed(1)} GFLOP/s matmul peak`,
      );
    }
    console.log(`speedup over stock: ${report.speedup.toFixed(2)}x`);
    console.log(JSON.stringify(report));
  }
}
