/**
 * Experiment (not part of the toolkit): does it help a tensor-train student to choose which
 * TT row each item gets? Row i of a TT table shares its cores' slices with every row that
 * has a digit in common, so which items sit together could matter.
 *
 * The experiment alternates a least-squares fit of the cores to the teacher's table with
 * pairwise swaps of items between rows that lower the fit's error. Each error is weighted
 * by √(count + 1), so that frequent items count for more. It then relabels the data and
 * the teacher by that assignment (metrics do not depend on labels) and distils an ordinary
 * student with `distillStudent`.
 *
 * Usage: npx tsx scripts/experiments/slot-assignment.ts [--rank 12] [--epochs 3] [--teacher models/ml-1m-teacher]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { trainingData } from '../../src/cli/training-data.ts';
import { DEFAULT_DISTILL, distillStudent } from '../../src/compression/distill/distill.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import { itemCounts } from '../../src/eval/hot-items.ts';
import { sequentialScorer } from '../../src/eval/sequential-scorer.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { denseItemTable } from '../../src/model/item-table.ts';
import { sequentialFromPackage } from '../../src/model/sequential-package.ts';
import { initTtCores, type TtShape, ttMaterialise } from '../../src/model/tt-matrix.ts';
import { directorySource } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';

const { values } = parseArgs({
  options: {
    rank: { type: 'string', default: '12' },
    epochs: { type: 'string', default: '3' },
    teacher: { type: 'string', default: 'models/ml-1m-teacher' },
  },
});
await useWasmBackend();
const teacherPackage = await readModelPackage(directorySource(values.teacher));
const teacher = sequentialFromPackage(teacherPackage);
const data = await trainingData(teacherPackage.manifest.training.dataset, {});
const table = teacher.items.materialise();
const [rows, d] = table.shape;
const counts = itemCounts(data.train, rows - 1);
const shape: TtShape = { rows: [59, 58], cols: [8, 8], rank: Number(values.rank), stp: 2 };
// Row 0 pads: it stays where it is and weighs nothing.
const weight = tf.tensor2d(
  Float32Array.from({ length: rows }, (_, i) => (i === 0 ? 0 : Math.sqrt((counts[i] ?? 0) + 1))),
  [rows, 1],
);
const norm = tf.tidy(() => table.square().mul(weight).sum().dataSync()[0] as number);
const cores = initTtCores(shape, { seed: 1, std: 0.1 }).map((c) => tf.variable(c));
const rowOf = Int32Array.from({ length: rows }, (_, i) => i);
const itemAt = Int32Array.from({ length: rows }, (_, i) => i);
const ttTable = () => ttMaterialise(cores, shape).slice([0, 0], [rows, d]) as tf.Tensor2D;

function fitCores(steps: number, lr: number): number {
  const optimizer = tf.train.adam(lr);
  const target = tf.gather(table, Array.from(itemAt));
  const w = tf.gather(weight, Array.from(itemAt));
  const loss = () => ttTable().sub(target).square().mul(w).sum().div(norm) as tf.Scalar;
  for (let s = 0; s < steps; s++) optimizer.minimize(loss);
  const error = tf.tidy(() => loss().dataSync()[0] as number);
  optimizer.dispose();
  tf.dispose([target, w]);
  return error;
}

/** Swaps of two items' rows while any lowers the weighted error; returns how many. */
function swapRows(): number {
  const cost = tf.tidy(() => {
    const t = ttTable();
    return table
      .square()
      .sum(1, true)
      .sub(table.matMul(t, false, true).mul(2))
      .add(t.square().sum(1).expandDims(0))
      .mul(weight);
  });
  const c = cost.dataSync() as Float32Array;
  cost.dispose();
  let moved = 0;
  for (let pass = 0; pass < 5; pass++) {
    let improved = 0;
    for (let a = 1; a < rows; a++) {
      const ra = rowOf[a] as number;
      let best = 0;
      let bestRow = -1;
      for (let r = 1; r < rows; r++) {
        const b = itemAt[r] as number;
        const delta =
          (c[a * rows + r] as number) +
          (c[b * rows + ra] as number) -
          (c[a * rows + ra] as number) -
          (c[b * rows + r] as number);
        if (delta < best) {
          best = delta;
          bestRow = r;
        }
      }
      if (bestRow < 0) continue;
      const b = itemAt[bestRow] as number;
      [rowOf[a], rowOf[b], itemAt[bestRow], itemAt[ra]] = [bestRow, ra, a, b];
      improved++;
    }
    moved += improved;
    if (improved === 0) break;
  }
  return moved;
}

console.log(`given order: weighted fit error ${fitCores(400, 0.01).toFixed(4)}`);
for (let round = 0; round < 10; round++) {
  const moved = swapRows();
  console.log(`round ${round}: ${moved} items moved, error ${fitCores(150, 0.005).toFixed(4)}`);
}
tf.dispose(cores);

const relabel = (s: Int32Array) => s.map((i) => rowOf[i] as number);
const validation = {
  inputs: data.validation.inputs.map(relabel),
  targets: relabel(data.validation.targets),
};
const relabelled = {
  ...teacher,
  items: denseItemTable(tf.gather(table, Array.from(itemAt)) as tf.Tensor2D),
};
const epochs = Number(values.epochs);
await distillStudent(
  relabelled,
  data.train.map(relabel),
  { ...DEFAULT_DISTILL, shape, epochs, patience: epochs },
  {
    validate: async (m) =>
      (await evaluate(sequentialScorer(m), validation, { protocol: 'full', maskHistory: true }))
        .metrics['NDCG@10'] as number,
    onEpoch: (r) =>
      console.log(
        `epoch ${r.epoch}: validation NDCG@10 ${r.validation.toFixed(4)}, ${r.seconds.toFixed(0)} s`,
      ),
  },
);
