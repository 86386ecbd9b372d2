/**
 * `npm run bench:shapley`: how fast Shaver's estimator credits samples on a frappe DeepFM
 * (src/compression/shaver/), and how fast a table is re-pruned to a new budget once the
 * values exist. Side by side in one run, alternating over rounds, medians:
 *
 *   per-removal   one forward pass per removal position (the public code's loop), 1 thread
 *   batched       every evaluation of a step in one forward pass, 1 thread
 *   batched xN    the same with the step's samples shared by N threads (parallel.ts)
 *
 * with ratios against per-removal, and the minutes one pass over the training split would
 * take at each rate (the target: a frappe estimate in under 20 minutes on 2 cores).
 * The model is a package (--model, default models/frappe-deepfm when it is there) or else a
 * freshly initialised DeepFM of the default architecture: the speed depends on the
 * architecture and the data, not on what the weights learned. Prints a table and JSON.
 *
 *   npm run bench:shapley -- [--model dir] [--threads 2] [--samples 512] [--rounds 3]
 *                            [--samples-per-step 128] [--json]
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import { ctrPackageWithData } from '../src/cli/ctr-package-data.ts';
import { codebookFromRows } from '../src/compression/shaver/codebook.ts';
import {
  DEFAULT_SHAPLEY,
  estimateShapley,
  type ForwardMode,
  type ShapleyInputs,
} from '../src/compression/shaver/estimator.ts';
import {
  keptCount,
  maskFromRanking,
  methodScores,
  prunedTable,
  ranking,
} from '../src/compression/shaver/prune.ts';
import { loadCtrFields } from '../src/data/ctr/index.ts';
import { useWasmBackend } from '../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../src/model/ctr/deepfm.ts';
import { fieldLayout } from '../src/model/ctr/field-embedding.ts';
import { weight } from '../src/model/ctr/layers.ts';
import { type CtrModel, initCtrModel } from '../src/model/ctr/model.ts';

const DEFAULTS = {
  model: 'models/frappe-deepfm',
  threads: 2,
  samples: 512,
  rounds: 3,
  sparsities: [0.5, 0.8, 0.95, 0.99],
};

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const modelDir = option('model', DEFAULTS.model);
const threads = Number(option('threads', String(DEFAULTS.threads)));
const samples = Number(option('samples', String(DEFAULTS.samples)));
const rounds = Number(option('rounds', String(DEFAULTS.rounds)));
const samplesPerStep = Number(option('samples-per-step', String(DEFAULT_SHAPLEY.samplesPerStep)));
const json = args.includes('--json');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) >> 1] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

async function frappeInputs(): Promise<{ inputs: ShapleyInputs; source: string }> {
  await useWasmBackend();
  let model: CtrModel;
  let source: string;
  const data = await loadCtrFields('frappe');
  if (existsSync(modelDir)) {
    ({ ctr: model } = await ctrPackageWithData(modelDir, { dataset: 'frappe' }, ['ctr-dense']));
    source = modelDir;
  } else {
    model = initCtrModel({ kind: 'deepfm', config: DEFAULT_DEEPFM }, data.schema, 2020);
    source = `fresh DeepFM (dim ${DEFAULT_DEEPFM.dim}, MLP ${DEFAULT_DEEPFM.mlp.join('-')}): ${modelDir} is not there`;
  }
  const embedding = weight(model.weights, 'embedding') as tf.Tensor2D;
  const codebook = codebookFromRows(
    model.schema,
    embedding.dataSync<'float32'>(),
    embedding.shape[1],
    data.train,
  );
  return { inputs: { model, rows: data.train, codebook }, source };
}

interface Variant {
  name: string;
  forward: ForwardMode;
  threads: number;
}

/** Samples per second of one bounded run, timed from the end of its first (warm-up) step. */
async function samplesPerSecond(inputs: ShapleyInputs, v: Variant): Promise<number> {
  const step = samplesPerStep;
  let warm: { samples: number; at: number } | null = null;
  const result = await estimateShapley(
    inputs,
    {
      ...DEFAULT_SHAPLEY,
      samplesPerStep,
      forward: v.forward,
      threads: v.threads,
      maxSamples: samples + step,
      tolerance: 0,
    },
    {
      onStep: (p) => {
        warm ??= { samples: p.runSamples, at: performance.now() };
      },
    },
  );
  const first = warm as { samples: number; at: number } | null;
  if (!first) throw new Error('the estimator ran no step');
  return (result.runSamples - first.samples) / ((performance.now() - first.at) / 1000);
}

/** Milliseconds to rank once, and to prune the ranked table to each budget. */
function pruneTimes(inputs: ShapleyInputs, values: Float32Array) {
  const table = (weight(inputs.model.weights, 'embedding') as tf.Tensor2D).dataSync<'float32'>();
  const layout = fieldLayout(inputs.model.schema);
  const t0 = performance.now();
  const order = ranking(methodScores('shaver', { table, estimate: { values } }));
  const rankMs = performance.now() - t0;
  const budgets = DEFAULTS.sparsities.map((sparsity) => {
    const t = performance.now();
    const mask = maskFromRanking(order, keptCount(table.length, sparsity));
    prunedTable(table, mask, inputs.codebook, layout);
    return { sparsity, ms: performance.now() - t };
  });
  return { rankMs, budgets };
}

async function main(): Promise<void> {
  const { inputs, source } = await frappeInputs();
  const variants: Variant[] = [
    { name: 'per-removal', forward: 'per-removal', threads: 1 },
    { name: 'batched', forward: 'batched', threads: 1 },
    { name: `batched x${threads}`, forward: 'batched', threads },
  ];
  const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const prune: ReturnType<typeof pruneTimes>[] = [];
  const load = loadavg()[0] as number;
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const rate = await samplesPerSecond(inputs, v);
      rates.get(v.name)?.push(rate);
      if (!json) console.error(`round ${round + 1}: ${v.name} ${rate.toFixed(1)} samples/s`);
    }
    const elements = (weight(inputs.model.weights, 'embedding') as tf.Tensor).size;
    // Values to rank by: random ones of the table's size (the time does not depend on them).
    prune.push(pruneTimes(inputs, Float32Array.from({ length: elements }, Math.random)));
  }
  const base = median(rates.get('per-removal') ?? []);
  const rows = variants.map((v) => {
    const rate = median(rates.get(v.name) ?? []);
    return {
      variant: v.name,
      threads: v.threads,
      samplesPerSecond: r3(rate),
      ratio: r3(rate / base),
      passMinutes: r3(inputs.rows.numRows / rate / 60),
    };
  });
  const pruning = {
    rankMs: r3(median(prune.map((p) => p.rankMs))),
    budgets: DEFAULTS.sparsities.map((sparsity, i) => ({
      sparsity,
      ms: r3(median(prune.map((p) => p.budgets[i]?.ms ?? Number.NaN))),
    })),
  };
  const meta = {
    model: source,
    rowsPerPass: inputs.rows.numRows,
    samplesPerRun: samples,
    samplesPerStep,
    rounds,
    cpus: cpus().length,
    loadavg_1m: r3(load),
    loadavg_1m_end: r3(loadavg()[0] as number),
  };
  if (json) {
    console.log(JSON.stringify({ meta, rows, pruning }, null, 2));
    return;
  }
  console.log(
    `Shapley estimator on frappe (${meta.rowsPerPass.toLocaleString('en-US')} training rows), ` +
      `${meta.cpus} cores, load average ${meta.loadavg_1m} at start, ${meta.loadavg_1m_end} at end`,
  );
  console.log(`model: ${source}; medians of ${rounds} rounds of ${samples} samples`);
  console.log('variant            samples/s   x per-removal   one pass (min)');
  for (const r of rows) {
    console.log(
      `${r.variant.padEnd(18)} ${r.samplesPerSecond.toFixed(1).padStart(9)}   ${r.ratio.toFixed(2).padStart(13)}   ${r.passMinutes.toFixed(1).padStart(14)}`,
    );
  }
  console.log(
    `re-pruning: rank once ${pruning.rankMs.toFixed(1)} ms; then per budget ` +
      pruning.budgets.map((b) => `${b.sparsity}: ${b.ms.toFixed(1)} ms`).join(', '),
  );
  console.log(JSON.stringify({ meta, rows, pruning }));
}

await main();
