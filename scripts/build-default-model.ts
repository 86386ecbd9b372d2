// The generated storefront's catalogue and its Markov baseline model, the part of
// scripts/build-storefront.sh that needs no training:
//   npx tsx scripts/build-default-model.ts
// writes public/storefront/catalog.json and models/storefront-markov. Deterministic: the
// same generator options give the same catalogue, histories and weights.
import { mkdir, writeFile } from 'node:fs/promises';
import { DATASETS } from '../src/data/datasets.ts';
import { generateStorefront } from '../src/data/storefront.ts';
import { markovScorer } from '../src/eval/baselines.ts';
import { evaluate } from '../src/eval/evaluate.ts';
import { leaveOneOut } from '../src/eval/splits.ts';
import { fitMarkov, markovPackageSpec } from '../src/model/markov.ts';
import { writePackageDirectory } from '../src/package/node-fs.ts';
import { buildModelPackage } from '../src/package/writer.ts';

const dataset = 'storefront';
const out = 'models/storefront-markov';
const { products, shoppers } = generateStorefront(DATASETS[dataset].generator);

// Fitted on every shopper's history but the last item, the test split of
// `pocketrec eval markov --dataset storefront`: the figures in the manifest are those of
// exactly the model that ships, by the same evaluation code.
const split = leaveOneOut(shoppers);
const model = fitMarkov(split.trainAllButLast, products.length);
const result = await evaluate(markovScorer(split.trainAllButLast, products.length), split.test, {
  protocol: 'full',
  maskHistory: true,
});
const metrics = Object.fromEntries(
  Object.entries(result.metrics).filter(([name]) => name.endsWith('@10')),
);
const { files, manifest } = await buildModelPackage({
  ...markovPackageSpec(model, {
    name: 'storefront-markov',
    dataset,
    itemIds: products.map((p) => p.id),
    metrics,
  }),
  createdAt: new Date('2026-11-22T00:00:00Z'),
});
await writePackageDirectory(out, files);
await mkdir('public/storefront', { recursive: true });
await writeFile('public/storefront/catalog.json', `${JSON.stringify(products)}\n`);
console.log(
  `wrote public/storefront/catalog.json (${products.length} products) and ${out}: ` +
    `${manifest.size.bytes} bytes, test ${JSON.stringify(metrics)} over ${result.cases} shoppers`,
);
