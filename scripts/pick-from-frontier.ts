// Picks the package a surface ships from the frontier's candidates: the one with the best
// validation figure among those whose whole package (every file on disk) fits the budget,
// and copies it to --out. Validation, not test, chooses, so the test figure the frontier
// page reports for the pick is not the figure it was picked by.
//
//   npx tsx scripts/pick-from-frontier.ts --budget-kib 128 --metric validation/NDCG@10 \
//     --models runs/a,runs/b --out models/ml-1m-compact
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyModelStructure } from '../src/model/package-structure.ts';
import { directorySource } from '../src/package/node-fs.ts';
import { readModelPackage } from '../src/package/reader.ts';

const DEFAULTS = { budgetKib: 128, metric: 'validation/NDCG@10' };

const { values } = parseArgs({
  options: {
    'budget-kib': { type: 'string', default: String(DEFAULTS.budgetKib) },
    metric: { type: 'string', default: DEFAULTS.metric },
    models: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!values.models || !values.out) {
  throw new Error('usage: --models <dir,dir,...> --out <dir> [--budget-kib 128] [--metric m]');
}
const budget = Number(values['budget-kib']) * 1024;
const metric = values.metric as string;

const packageBytes = async (dir: string) => {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(join(dir, name))).size;
  return bytes;
};

const candidates = [];
for (const dir of values.models.split(',')) {
  const pkg = await readModelPackage(directorySource(dir));
  await verifyModelStructure(pkg);
  const bytes = await packageBytes(dir);
  const value = pkg.manifest.training.metrics[metric];
  candidates.push({ dir, bytes, value: typeof value === 'number' ? value : null });
}
const fitting = candidates.filter((c) => c.bytes <= budget && c.value !== null);
const best = fitting.sort((a, b) => (b.value as number) - (a.value as number))[0];
if (!best) throw new Error(`no candidate of at most ${budget} bytes states ${metric}`);
await rm(values.out, { recursive: true, force: true });
await cp(best.dir, values.out, { recursive: true });
console.log(
  JSON.stringify({ budget, metric, picked: best, candidates: candidates.length, fitting }, null, 2),
);
