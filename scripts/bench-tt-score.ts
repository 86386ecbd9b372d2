/**
 * `npm run bench:tt-score`: where a large tensor-train table's scoring goes on tfjs's WASM
 * backend (in Node, one thread): `ttScoreAll` (src/model/tt-matrix.ts) for one query, then
 * the padding mask and `blockTopK` (src/runtime/engine/block-top-k.ts), as the engine runs
 * them for a model whose table is never built. Prints the medians of both stages, tfjs's
 * per-kernel times of one profiled request, and the rate of the two matrix products in
 * multiply-adds a second (their share of ttScoreAllFlops), which is what the arithmetic
 * bound of a request is measured against. Random cores: the time depends on the shape.
 *
 *   npm run bench:tt-score -- [--rows 101x100x100] [--cols 4x4x4] [--rank 16] [--stp 2]
 *                             [--runs 15] [--json]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../src/kernels/wasm/backend.ts';
import { ttScoreAllFlops } from '../src/model/sequential-flops.ts';
import { initTtCores, ttScoreAll } from '../src/model/tt-matrix.ts';
import type { TtShape } from '../src/model/tt-shape.ts';
import { blockTopK } from '../src/runtime/engine/block-top-k.ts';

/** The generated 1,000,000-item model's shape (scripts/generate-tt-model.ts). */
const DEFAULTS = { rows: '101x100x100', cols: '4x4x4', rank: 16, stp: 2, runs: 15, k: 10 };

const args = process.argv.slice(2);
const option = (name: string, fallback: string | number): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : String(fallback);
};
if (args.includes('--help')) {
  process.stdout.write(
    `npm run bench:tt-score -- [--rows ${DEFAULTS.rows}] [--cols ${DEFAULTS.cols}] [--rank ${DEFAULTS.rank}] [--stp ${DEFAULTS.stp}] [--runs ${DEFAULTS.runs}] [--json]\n`,
  );
  process.exit(0);
}
const factors = (text: string) => text.split('x').map(Number);
const shape: TtShape = {
  rows: factors(option('rows', DEFAULTS.rows)),
  cols: factors(option('cols', DEFAULTS.cols)),
  rank: Number(option('rank', DEFAULTS.rank)),
  stp: Number(option('stp', DEFAULTS.stp)),
};
const runs = Number(option('runs', DEFAULTS.runs));
const json = args.includes('--json');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

await useWasmBackend();
const dim = product(shape.cols);
const padded = product(shape.rows);
const lastWidth = shape.rows.at(-1) as number;
const cores = initTtCores(shape, { seed: 1, std: 1 / Math.sqrt(dim) });
const query = tf.randomNormal([1, dim], 0, 1, 'float32', 2) as tf.Tensor2D;
const mask = tf.zeros([1, padded]);

async function request(): Promise<{ scoreMs: number; topMs: number }> {
  let started = performance.now();
  const scores = tf.tidy(() => ttScoreAll(cores, shape, query));
  await scores.data();
  const scoreMs = performance.now() - started;
  started = performance.now();
  const top = tf.tidy(() =>
    blockTopK(scores.add(mask).reshape([-1]) as tf.Tensor1D, DEFAULTS.k, lastWidth),
  );
  await top.values.data();
  const topMs = performance.now() - started;
  tf.dispose([scores, top.values, top.indices]);
  return { scoreMs, topMs };
}

for (let i = 0; i < 3; i++) await request();
const timed: { scoreMs: number; topMs: number }[] = [];
for (let i = 0; i < runs; i++) timed.push(await request());

const profile = await tf.profile(() =>
  tf.tidy(() => {
    const scores = ttScoreAll(cores, shape, query).add(mask);
    return blockTopK(scores.reshape([-1]) as tf.Tensor1D, DEFAULTS.k, lastWidth).values;
  }),
);
const byKernel = new Map<string, number>();
for (const kernel of profile.kernels) {
  byKernel.set(kernel.name, (byKernel.get(kernel.name) ?? 0) + (kernel.kernelTimeMs as number));
}
tf.dispose(profile.result as tf.Tensor);
const kernels = [...byKernel.entries()].sort((a, b) => b[1] - a[1]);
const macs = ttScoreAllFlops(shape);
const matMulMs = byKernel.get('BatchMatMul') ?? Number.NaN;

const row = {
  shape: `${shape.rows.join('x')}:${shape.cols.join('x')} r${shape.rank} t${shape.stp}`,
  padded_rows: padded,
  runs,
  loadavg_1m: r3(loadavg()[0] as number),
  score_p50_ms: r3(median(timed.map((t) => t.scoreMs))),
  mask_top_k_p50_ms: r3(median(timed.map((t) => t.topMs))),
  macs_per_query: macs,
  profiled_kernels_ms: Object.fromEntries(kernels.map(([name, ms]) => [name, r3(ms)])),
  // ttScoreAllFlops' multiply-adds are the BatchMatMuls' but for the STP diagonal's few
  // thousand (a Multiply and a Sum); the other kernels move data.
  matmul_macs_per_s: Math.round(macs / (matMulMs / 1000)),
  bound_ms_at_matmul_rate: r3(matMulMs),
};
if (json) {
  process.stdout.write(`${JSON.stringify(row)}\n`);
} else {
  console.log(
    `tensor-train scoring, ${row.shape} (${padded} padded rows), tfjs WASM in Node, ${runs} runs, load average ${row.loadavg_1m}`,
  );
  console.log(
    `ttScoreAll p50 ${row.score_p50_ms} ms; mask + blockTopK p50 ${row.mask_top_k_p50_ms} ms`,
  );
  console.log(
    `${(macs / 1e6).toFixed(1)} M multiply-adds a query, in BatchMatMul: ${r3(matMulMs)} ms in one profiled request, ${(row.matmul_macs_per_s / 1e9).toFixed(2)} G/s`,
  );
  console.log('one profiled request, ms by kernel:');
  for (const [name, ms] of kernels) console.log(`  ${name.padEnd(14)} ${ms.toFixed(2)}`);
}
