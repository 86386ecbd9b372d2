/**
 * Experiment (not part of the toolkit): why does a session model miss re-clicks, test
 * targets that are already in the session it was given?
 *
 * It prints two things for a trained package:
 * - the mean norm of the item vectors, grouped by how often the item occurs in training
 *   (a score is a dot product, so an item with a short vector needs a query that points
 *   right at it to reach the top 20);
 * - for the first `--cases` re-click test cases: how often the target reaches the top 20,
 *   by how much its score falls short of the 20th best on average, and how many distinct
 *   items the sessions hold (a ranking that put the session's own items first would list
 *   them all within the top 20).
 *
 * Usage: npx tsx scripts/experiments/copy-diagnostic.ts runs/tmall-ab-last [--dataset tmall] [--cases 2000]
 */
import { parseArgs } from 'node:util';
import { loadSessionDataset } from '../../src/data/index.ts';
import { itemCounts } from '../../src/eval/hot-items.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { scoreHistories } from '../../src/model/sequential.ts';
import { sequentialFromPackage } from '../../src/model/sequential-package.ts';
import { directorySource } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dataset: { type: 'string', default: 'tmall' },
    cases: { type: 'string', default: '2000' },
  },
});
const dir = positionals[0];
if (!dir)
  throw new Error('usage: copy-diagnostic.ts <package dir> [--dataset tmall] [--cases 2000]');
await useWasmBackend();
const model = sequentialFromPackage(await readModelPackage(directorySource(dir)));
const data = await loadSessionDataset(values.dataset, {});

// A dense table is returned as is (not a copy): it must not be disposed here.
const table = model.items.materialise();
const norms = (await table.norm('euclidean', 1).data()) as Float32Array;
const counts = itemCounts(data.trainSessions, model.config.numItems);
const bands: [number, number][] = [
  [1, 3],
  [3, 10],
  [10, 100],
  [100, Number.POSITIVE_INFINITY],
];
const normsByCount = bands.map(([lo, hi]) => {
  let sum = 0;
  let items = 0;
  for (let i = 1; i < norms.length; i++) {
    const c = counts[i] as number;
    if (c >= lo && c < hi) {
      sum += norms[i] as number;
      items++;
    }
  }
  return { trainCount: `[${lo}, ${hi})`, items, meanNorm: items > 0 ? sum / items : null };
});

const reclicks: number[] = [];
data.testTargets.forEach((t, k) => {
  if ((data.testPrefixes[k] as Int32Array).includes(t)) reclicks.push(k);
});
const chosen = reclicks.slice(0, Number(values.cases));
let hits = 0;
let shortfall = 0;
let distinct = 0;
const batch = 200;
for (let start = 0; start < chosen.length; start += batch) {
  const ks = chosen.slice(start, start + batch);
  const scores = await scoreHistories(
    model,
    ks.map((k) => data.testPrefixes[k] as Int32Array),
    { materialise: true },
  );
  ks.forEach((k, b) => {
    const s = scores[b] as Float32Array;
    const target = data.testTargets[k] as number;
    const twentieth = Float32Array.from(s.subarray(1)).sort()[s.length - 1 - 20] as number;
    if ((s[target] as number) >= twentieth) hits++;
    shortfall += twentieth - (s[target] as number);
    distinct += new Set(data.testPrefixes[k]).size;
  });
}
console.log(
  JSON.stringify(
    {
      package: dir,
      dataset: values.dataset,
      normsByCount,
      reclicks: {
        cases: chosen.length,
        hr20: hits / chosen.length,
        meanShortfallBelow20th: shortfall / chosen.length,
        meanDistinctSessionItems: distinct / chosen.length,
      },
    },
    null,
    2,
  ),
);
