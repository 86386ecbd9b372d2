/**
 * Experiment (not part of the toolkit): how much of its item table's rank does a trained
 * dense teacher use? And would a popularity prior close a student's gap?
 *
 * For the teacher given, the table is cut to its top-k principal directions
 * (E·V_k·V_kᵀ, from the eigenvectors of EᵀE), without retraining, and each cut table is
 * scored on the validation users with the teacher's own encoder. For every package given,
 * the score β·log(1 + training count) is added to each item's, for a few β.
 * Validation NDCG@10, full ranking, history masked: the numbers `train` prints.
 *
 * Usage: npx tsx scripts/experiments/table-rank.ts models/ml-1m-teacher [more packages…]
 */
import * as tf from '@tensorflow/tfjs';
import { loadUserSequences } from '../../src/data/index.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import { itemCounts } from '../../src/eval/hot-items.ts';
import type { Scorer } from '../../src/eval/scorer.ts';
import { sequentialScorer } from '../../src/eval/sequential-scorer.ts';
import { leaveOneOut } from '../../src/eval/splits.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../src/model/item-table.ts';
import type { SequentialModel } from '../../src/model/sequential.ts';
import { sequentialFromPackage } from '../../src/model/sequential-package.ts';
import { directorySource } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';

const dirs = process.argv.slice(2);
if (dirs.length === 0) throw new Error('usage: table-rank.ts <teacher package> [packages…]');
await useWasmBackend();
const models = await Promise.all(
  dirs.map(async (d) => sequentialFromPackage(await readModelPackage(directorySource(d)))),
);
const split = leaveOneOut((await loadUserSequences('ml-1m', {})).sequences);
const validationNdcg = async (scorer: Scorer): Promise<number> =>
  (await evaluate(scorer, split.validation, { protocol: 'full', maskHistory: true })).metrics[
    'NDCG@10'
  ] as number;

/** Eigenvalues (descending) and matching eigenvectors (columns) of a symmetric matrix, by Jacobi sweeps. */
function symmetricEigen(matrix: number[][]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => +(i === j)));
  const at = (m: number[][], i: number, j: number) => (m[i] as number[])[j] as number;
  const set = (m: number[][], i: number, j: number, x: number) => {
    (m[i] as number[])[j] = x;
  };
  for (let sweep = 0; sweep < 30; sweep++) {
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = at(a, p, q);
        if (Math.abs(apq) < 1e-12) continue;
        const theta = (at(a, q, q) - at(a, p, p)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const [kp, kq] = [at(a, k, p), at(a, k, q)];
          set(a, k, p, c * kp - s * kq);
          set(a, k, q, s * kp + c * kq);
        }
        for (let k = 0; k < n; k++) {
          const [pk, qk] = [at(a, p, k), at(a, q, k)];
          set(a, p, k, c * pk - s * qk);
          set(a, q, k, s * pk + c * qk);
        }
        for (let k = 0; k < n; k++) {
          const [kp, kq] = [at(v, k, p), at(v, k, q)];
          set(v, k, p, c * kp - s * kq);
          set(v, k, q, s * kp + c * kq);
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => at(a, j, j) - at(a, i, i));
  return {
    values: order.map((i) => at(a, i, i)),
    vectors: v.map((row) => order.map((i) => row[i] as number)),
  };
}

const teacher = models[0] as SequentialModel;
const table = teacher.items.materialise();
const dim = table.shape[1];
const { values, vectors } = symmetricEigen(
  table.transpose().matMul(table).arraySync() as number[][],
);
const energy = values.reduce((s, x) => s + x, 0);
const cuts = [];
for (const k of [8, 16, 24, 32, 48, dim].filter((k) => k <= dim)) {
  const basis = tf.tensor2d(vectors.map((row) => row.slice(0, k)));
  const cut = table.matMul(basis).matMul(basis.transpose()) as tf.Tensor2D;
  const ndcg = await validationNdcg(sequentialScorer({ ...teacher, items: denseItemTable(cut) }));
  cuts.push({
    rank: k,
    energy: Number((values.slice(0, k).reduce((s, x) => s + x, 0) / energy).toFixed(4)),
    'validation NDCG@10': Number(ndcg.toFixed(4)),
  });
}
console.log(`${dirs[0]}: its item table cut to rank k`);
console.table(cuts);

const logCounts = Float32Array.from(itemCounts(split.train, teacher.config.numItems), (c) =>
  Math.log1p(c),
);
const priors = [0, 0.2, 0.5, 1];
const rows = [];
for (const [m, dir] of dirs.entries()) {
  const scorer = sequentialScorer(models[m] as SequentialModel);
  const row: Record<string, string | number> = { package: dir };
  for (const beta of priors) {
    const ndcg = await validationNdcg({
      numItems: scorer.numItems,
      score: async (histories) =>
        (await scorer.score(histories)).map((s) =>
          s.map((x, i) => x + beta * (logCounts[i] as number)),
        ),
    });
    row[`β = ${beta}`] = Number(ndcg.toFixed(4));
  }
  rows.push(row);
}
console.log('validation NDCG@10 with β·log(1 + training count) added to every score');
console.table(rows);
