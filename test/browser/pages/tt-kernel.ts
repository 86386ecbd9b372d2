// The tensor-train top-k kernel page: for several table shapes, ttScoreTopK on the WebGPU backend
// against the reference (ttScoreAll + masking + tf.topk on the CPU backend, from the same seeded
// cores and query). Exposes the comparison as `window.ttKernel` (a promise page.evaluate awaits);
// the assertions live in test/browser/tt-kernel.test.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ttScoreTopK } from '../../../src/kernels/webgpu/tt-score-topk/register.ts';
import {
  initTtCores,
  type TtShape,
  ttCoreShapes,
  ttScoreAll,
} from '../../../src/model/tt-matrix.ts';
import { seededRandom } from '../../../src/random.ts';
import { type GpuReport, probeGpu } from './gpu.ts';

/** Scores closer than this count as tied (the task's tolerance between the two paths). */
const TOLERANCE = 1e-4;

interface CaseSpec {
  name: string;
  shape: TtShape;
  numRows: number;
  k: number;
  seed: number;
  /** 'ranked': the reference's best 5 rows, row 0, numRows, ids past the table and a few others. */
  exclude: 'none' | 'ranked';
  /** Every slice of the first core equal, so each score repeats for every first digit. */
  ties?: boolean;
}

export interface CaseResult {
  name: string;
  numRows: number;
  paddedRows: number;
  k: number;
  exclude: number[];
  /** With 'ranked' exclusions: the 5 best rows before masking (all excluded). */
  unmaskedBest: number[];
  kernelIndices: number[];
  kernelValues: number[];
  referenceIndices: number[];
  referenceValues: number[];
  /** max over ranks r of |kernel score r - reference score r|. */
  maxRankScoreGap: number;
  /** max over ranks of |kernel score - the reference's score of the same row|. */
  maxOwnScoreGap: number;
  /** Rows in one top k and not the other whose reference score is not tied with the k-th. */
  unexplainedIndices: number[];
  exactIndexMatch: boolean;
  excludedReturned: number[];
  paddingReturned: number[];
  duplicates: number;
  /** Adjacent results not in (score desc, row asc) order. */
  orderViolations: number;
  /** Valid rows sharing the best reference score, and the gap to the next distinct score. */
  topTieCount: number;
  topTieGap: number;
  /** Tensors left behind by the kernel call once its results are disposed. */
  leakedTensors: number;
  kernelMs: number;
  referenceMs: number;
}

export interface TtKernelResult {
  backendSet: boolean;
  backend: string;
  gpu: GpuReport;
  gpuErrors: string[];
  /** The message ttScoreTopK threw on the CPU backend (null if it did not throw). */
  cpuBackendError: string | null;
  cases: CaseResult[];
}

const CASES: CaseSpec[] = [
  {
    name: '2 cores, t=1, 3417 rows in 59x58',
    shape: { rows: [59, 58], cols: [8, 8], rank: 16, stp: 1 },
    numRows: 3417,
    k: 10,
    seed: 11,
    exclude: 'ranked',
  },
  {
    name: '2 cores, t=2, no exclusions',
    shape: { rows: [59, 58], cols: [4, 16], rank: 16, stp: 2 },
    numRows: 3417,
    k: 10,
    seed: 12,
    exclude: 'none',
  },
  {
    name: '3 cores, t=1, 3417 rows in 16x16x14',
    shape: { rows: [16, 16, 14], cols: [4, 4, 4], rank: 8, stp: 1 },
    numRows: 3417,
    k: 10,
    seed: 13,
    exclude: 'ranked',
  },
  {
    name: '3 cores, t=2, k=100',
    shape: { rows: [16, 16, 14], cols: [4, 4, 4], rank: 16, stp: 2 },
    numRows: 3417,
    k: 100,
    seed: 14,
    exclude: 'ranked',
  },
  {
    name: '3 cores, t=4',
    shape: { rows: [16, 16, 14], cols: [4, 4, 4], rank: 16, stp: 4 },
    numRows: 3417,
    k: 10,
    seed: 15,
    exclude: 'ranked',
  },
  {
    name: 'ties: equal first-core slices, 3 cores, t=2',
    shape: { rows: [16, 16, 14], cols: [4, 4, 4], rank: 16, stp: 2 },
    numRows: 3417,
    k: 10,
    seed: 16,
    exclude: 'none',
    ties: true,
  },
  {
    name: 'large: 999,983 rows in 100x100x100, 3 cores, t=2',
    shape: { rows: [100, 100, 100], cols: [4, 4, 4], rank: 16, stp: 2 },
    numRows: 999_983,
    k: 100,
    seed: 17,
    exclude: 'ranked',
  },
];

function gaussianQuery(dim: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const u = 1 - random();
    values[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return values;
}

/** The cores' values, made on whatever backend is current, read back to plain arrays. */
function coreValues(spec: CaseSpec): Float32Array[] {
  const cores = initTtCores(spec.shape, { seed: spec.seed, std: 0.1 });
  const values = cores.map((c) => c.dataSync() as Float32Array);
  tf.dispose(cores);
  if (spec.ties) {
    const [first] = values as [Float32Array];
    const sliceSize = first.length / (spec.shape.rows[0] as number);
    for (let offset = sliceSize; offset < first.length; offset += sliceSize) {
      first.copyWithin(offset, 0, sliceSize);
    }
  }
  return values;
}

const ranksBefore = (scoreA: number, rowA: number, scoreB: number, rowB: number): boolean =>
  scoreA > scoreB || (scoreA === scoreB && rowA < rowB);

/** The `count` best of rows 1..numRows-1 by reference score (one scan each: count is small). */
function bestRows(scores: Float32Array, numRows: number, count: number): number[] {
  const chosen: number[] = [];
  for (let n = 0; n < count; n++) {
    let best = -1;
    for (let row = 1; row < numRows; row++) {
      if (chosen.includes(row)) continue;
      if (best < 0 || ranksBefore(scores[row] as number, row, scores[best] as number, best)) {
        best = row;
      }
    }
    chosen.push(best);
  }
  return chosen;
}

/** The ids to exclude (sorted, distinct) and the best unmasked rows among them. */
function exclusionList(
  spec: CaseSpec,
  scores: Float32Array,
): { exclude: Int32Array; unmaskedBest: number[] } {
  if (spec.exclude === 'none') return { exclude: new Int32Array(0), unmaskedBest: [] };
  const random = seededRandom(spec.seed + 1000);
  const others = Array.from({ length: 20 }, () => 1 + Math.floor(random() * (spec.numRows - 1)));
  const unmaskedBest = bestRows(scores, spec.numRows, 5);
  const ids = [...unmaskedBest, ...others, 0, spec.numRows, spec.numRows + 3];
  return { exclude: Int32Array.from([...new Set(ids)].sort((a, b) => a - b)), unmaskedBest };
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const { shape, numRows, k } = spec;
  const dim = shape.cols.reduce((a, b) => a * b, 1);
  const paddedRows = shape.rows.reduce((a, b) => a * b, 1);
  const queryValues = gaussianQuery(dim, spec.seed + 500);

  // Reference on the CPU backend.
  if (!(await tf.setBackend('cpu'))) throw new Error('the CPU backend did not start');
  const values = coreValues(spec);
  const referenceStart = performance.now();
  const referenceCores = values.map((v, i) =>
    tf.tensor3d(v, ttCoreShapes(shape)[i] as [number, number, number]),
  );
  const scores = tf
    .tidy(() => ttScoreAll(referenceCores, shape, tf.tensor2d(queryValues, [1, dim])))
    .dataSync() as Float32Array;
  tf.dispose(referenceCores);
  const { exclude, unmaskedBest } = exclusionList(spec, scores);
  const masked = Float32Array.from(scores);
  masked[0] = Number.NEGATIVE_INFINITY;
  masked.fill(Number.NEGATIVE_INFINITY, numRows);
  for (const row of exclude) if (row >= 0 && row < paddedRows) masked[row] = -Infinity;
  const referenceTop = tf.tidy(() => tf.topk(tf.tensor1d(masked), k));
  const referenceValues = Array.from(referenceTop.values.dataSync());
  const referenceIndices = Array.from(referenceTop.indices.dataSync());
  tf.dispose([referenceTop.values, referenceTop.indices]);
  const referenceMs = performance.now() - referenceStart;

  // The kernel on the WebGPU backend, from the same values.
  if (!(await tf.setBackend('webgpu'))) throw new Error('the WebGPU backend did not start');
  const cores = values.map((v, i) =>
    tf.tensor3d(v, ttCoreShapes(shape)[i] as [number, number, number]),
  );
  const query = tf.tensor2d(queryValues, [1, dim]);
  const tensorsBefore = tf.memory().numTensors;
  const kernelStart = performance.now();
  const top = ttScoreTopK(cores, shape, numRows, query, k, exclude);
  const kernelValues = Array.from(await top.values.data());
  const kernelIndices = Array.from(await top.indices.data());
  const kernelMs = performance.now() - kernelStart;
  tf.dispose([top.values, top.indices]);
  const leakedTensors = tf.memory().numTensors - tensorsBefore;
  tf.dispose([...cores, query]);

  const referenceSet = new Set(referenceIndices);
  const kernelSet = new Set(kernelIndices);
  const kth = referenceValues[k - 1] as number;
  const notTiedWithKth = (row: number) => !(Math.abs((scores[row] as number) - kth) <= TOLERANCE);
  const excludeSet = new Set(exclude);
  let orderViolations = 0;
  for (let r = 0; r + 1 < k; r++) {
    const [v, i, nextV, nextI] = [
      kernelValues[r],
      kernelIndices[r],
      kernelValues[r + 1],
      kernelIndices[r + 1],
    ] as [number, number, number, number];
    if (!ranksBefore(v, i, nextV, nextI)) orderViolations++;
  }
  const best = referenceValues[0] as number;
  let topTieCount = 0;
  let nextDistinct = Number.NEGATIVE_INFINITY;
  for (let row = 1; row < numRows; row++) {
    const s = masked[row] as number;
    if (s === best) topTieCount++;
    else if (s > nextDistinct) nextDistinct = s;
  }

  return {
    name: spec.name,
    numRows,
    paddedRows,
    k,
    exclude: Array.from(exclude),
    unmaskedBest,
    kernelIndices,
    kernelValues,
    referenceIndices,
    referenceValues,
    maxRankScoreGap: Math.max(
      ...kernelValues.map((v, r) => Math.abs(v - (referenceValues[r] as number))),
    ),
    maxOwnScoreGap: Math.max(
      ...kernelValues.map((v, r) =>
        Math.abs(v - (scores[kernelIndices[r] as number] ?? Number.NaN)),
      ),
    ),
    unexplainedIndices: [
      ...kernelIndices.filter((row) => !referenceSet.has(row) && notTiedWithKth(row)),
      ...referenceIndices.filter((row) => !kernelSet.has(row) && notTiedWithKth(row)),
    ],
    exactIndexMatch: kernelIndices.every((row, r) => row === referenceIndices[r]),
    excludedReturned: kernelIndices.filter((row) => excludeSet.has(row)),
    paddingReturned: kernelIndices.filter((row) => row < 1 || row >= numRows),
    duplicates: k - kernelSet.size,
    orderViolations,
    topTieCount,
    topTieGap: best - nextDistinct,
    leakedTensors,
    kernelMs,
    referenceMs,
  };
}

async function run(): Promise<TtKernelResult> {
  const gpu = await probeGpu();
  const backendSet = await tf.setBackend('webgpu');
  if (!backendSet) {
    return {
      backendSet,
      backend: tf.getBackend(),
      gpu,
      gpuErrors: [],
      cpuBackendError: null,
      cases: [],
    };
  }
  // Small ops would otherwise run on the CPU, and the kernel's neighbours would go untested.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const gpuErrors: string[] = [];
  (tf.backend() as WebGPUBackend).device.addEventListener('uncapturederror', (event) => {
    gpuErrors.push((event as GPUUncapturedErrorEvent).error.message);
  });

  const cases: CaseResult[] = [];
  for (const spec of CASES) cases.push(await runCase(spec));

  await tf.setBackend('cpu');
  let cpuBackendError: string | null = null;
  const spec = CASES[0] as CaseSpec;
  const cores = initTtCores(spec.shape, { seed: 1, std: 0.1 });
  try {
    ttScoreTopK(cores, spec.shape, spec.numRows, tf.zeros([1, 64]), 10, new Int32Array(0));
  } catch (err) {
    cpuBackendError = err instanceof Error ? err.message : String(err);
  }
  tf.dispose(cores);
  await tf.setBackend('webgpu');
  return { backendSet, backend: tf.getBackend(), gpu, gpuErrors, cpuBackendError, cases };
}

const result = run();
(window as unknown as { ttKernel: Promise<TtKernelResult> }).ttKernel = result;
result.then(
  () => {
    document.getElementById('status')?.replaceChildren('done');
  },
  (err: unknown) => {
    document.getElementById('status')?.replaceChildren(`failed: ${String(err)}`);
  },
);
