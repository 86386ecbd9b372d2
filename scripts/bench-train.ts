/**
 * `npm run bench:train`: seconds per training step and epoch of the ML-1M teacher on tfjs's
 * WASM backend, the GFLOP/s the step achieves, against this machine's one-thread matmul peak
 * measured in the same run, against tfjs's stock WASM kernels, and with the batch shared by
 * `--threads` threads (train/data-parallel.ts), all run side by side (each variant in its
 * own process, alternating, medians over repeats). Prints a table and JSON.
 *
 *   npm run bench:train -- [--max-len 50] [--batch 32] [--threads 2] [--steps 6] [--rounds 2]
 *                          [--loss full|sampled] [--json]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadUserSequences } from '../src/data/index.ts';
import { leaveOneOut } from '../src/eval/splits.ts';
import { useWasmBackend } from '../src/kernels/wasm/backend.ts';
import { DEFAULT_SASREC, type SasrecConfig } from '../src/model/sasrec.ts';
import { seededRandom } from '../src/random.ts';
import { type SequenceBatch, sequenceBatches, trainingWindows } from '../src/train/batches.ts';
import { dataParallelStep, GradientWorkers, sequenceParallel } from '../src/train/data-parallel.ts';
import { type SasrecTaskArgs, sasrecTask } from '../src/train/train-sasrec.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const maxLen = Number(option('max-len', '50'));
const batchSize = Number(option('batch', '32'));
const threads = Number(option('threads', '2'));
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

type Variant = 'stock' | 'pocketrec' | 'threads';

async function measure(variant: Variant): Promise<Record<string, number>> {
  await useWasmBackend(undefined, { stockKernels: variant === 'stock' });
  // Peak: one large 2-D product on one thread, the best case for XNNPACK.
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
  const taskArgs: SasrecTaskArgs = { modelConfig: config, loss, negatives, seed: 1 };
  const task = sasrecTask(taskArgs);
  const workers =
    variant === 'threads'
      ? await GradientWorkers.start(threads - 1, {
          module: new URL('../src/train/train-sasrec.ts', import.meta.url).href,
          builder: 'sasrecTask',
          args: taskArgs,
        })
      : null;
  const parallel = workers ? sequenceParallel(workers) : null;
  const optimizer = tf.train.adam(1e-3);
  const windows = trainingWindows(train, maxLen, 'all');
  const batches = sequenceBatches(windows, { maxLen, batchSize, random: seededRandom(1) });
  // Full-length batches, the common case with 'all' windows, so variants see the same work.
  const full = batches
    .filter((x) => x.length === maxLen && x.size === batchSize)
    .slice(0, steps + 1);
  const times: number[] = [];
  let flops = 0;
  for (const [i, batch] of full.entries()) {
    const t0 = performance.now();
    if (parallel) {
      await dataParallelStep(parallel, task.variables, optimizer, task.loss, batch, i);
    } else {
      const cost = optimizer.minimize(() => task.loss(batch, i), true);
      cost?.dataSync();
      cost?.dispose();
    }
    if (i > 0) {
      times.push(performance.now() - t0);
      flops += stepFlops(config, batch);
    }
  }
  await workers?.close();
  const stepSeconds = median(times) / 1000;
  const epochTokens = batches.reduce((n, x) => n + x.size * x.length, 0);
  const stepTokens = batchSize * maxLen;
  return {
    peakGflops,
    stepSeconds,
    gflops: flops / (times.reduce((x, y) => x + y, 0) / 1000) / 1e9,
    epochSecondsEstimate: (stepSeconds * epochTokens) / stepTokens,
    stepsPerEpoch: batches.length,
  };
}

if (args.includes('--variant')) {
  const variant = option('variant', 'pocketrec') as Variant;
  process.stdout.write(`${JSON.stringify(await measure(variant))}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const variants: Variant[] =
    threads > 1 ? ['pocketrec', 'threads', 'stock'] : ['pocketrec', 'stock'];
  const results: Record<Variant, Record<string, number>[]> = {
    stock: [],
    pocketrec: [],
    threads: [],
  };
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const out = execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          self,
          '--variant',
          variant,
          ...['--max-len', String(maxLen), '--batch', String(batchSize)],
          ...['--threads', String(threads), '--steps', String(steps), '--loss', loss],
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      results[variant].push(JSON.parse(out.trim().split('\n').pop() as string));
    }
  }
  const summary = (rs: Record<string, number>[]) => {
    const r = {
      stepSeconds: median(rs.map((x) => x.stepSeconds as number)),
      gflops: median(rs.map((x) => x.gflops as number)),
      peakGflops: median(rs.map((x) => x.peakGflops as number)),
      epochSecondsEstimate: median(rs.map((x) => x.epochSecondsEstimate as number)),
    };
    return { ...r, ofPeak: r.gflops / r.peakGflops };
  };
  const ours = summary(results.pocketrec);
  const stock = summary(results.stock);
  const shared = threads > 1 ? summary(results.threads) : null;
  const report = {
    benchmark: 'train-step',
    config: {
      dataset: 'ml-1m',
      maxLen,
      batch: batchSize,
      dim: DEFAULT_SASREC.dim,
      blocks: DEFAULT_SASREC.blocks,
      loss,
      windows: 'all',
      threads,
    },
    rounds,
    stepsPerRound: steps,
    pocketrec: ours,
    stock,
    ...(shared ? { threads: shared } : {}),
    speedup: stock.stepSeconds / ours.stepSeconds,
    ...(shared ? { threadSpeedup: ours.stepSeconds / shared.stepSeconds } : {}),
  };
  if (args.includes('--json')) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(
      `ML-1M teacher step (batch ${batchSize} x ${maxLen}, ${loss} softmax), medians of ${rounds} rounds x ${steps} steps; peak = one thread's 1024x1024 matmul`,
    );
    const rows: [string, ReturnType<typeof summary>][] = [
      ['pocketrec, 1 thread', ours],
      ...(shared ? [[`pocketrec, ${threads} threads`, shared] as [string, typeof shared]] : []),
      ['stock tfjs WASM', stock],
    ];
    for (const [name, r] of rows) {
      console.log(
        `${name.padEnd(22)} ${r.stepSeconds.toFixed(3)} s/step  ~${r.epochSecondsEstimate.toFixed(0)} s/epoch  ${r.gflops.toFixed(2)} GFLOP/s = ${(100 * r.ofPeak).toFixed(0)}% of the ${r.peakGflops.toFixed(1)} GFLOP/s peak`,
      );
    }
    console.log(`pocketrec kernels over stock: ${report.speedup.toFixed(2)}x`);
    if (shared)
      console.log(
        `${threads} threads over 1: ${(ours.stepSeconds / shared.stepSeconds).toFixed(2)}x`,
      );
    console.log(JSON.stringify(report));
  }
}
