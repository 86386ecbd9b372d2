// Builds the demo's embedded default model from the generated storefront:
//   npx tsx scripts/build-default-model.ts
// Deterministic: the same seed gives the same catalogue, sessions and weights.
import { mkdir, writeFile } from 'node:fs/promises';
import { DEFAULT_STOREFRONT, generateStorefront } from '../src/data/storefront.ts';
import { fitMarkov, markovPackageSpec, scoreMarkov } from '../src/model/markov.ts';
import { RankingMetrics, rankOf } from '../src/model/metrics.ts';
import { writePackageDirectory } from '../src/package/node-fs.ts';
import { buildModelPackage } from '../src/package/writer.ts';

const out = 'models/storefront-markov';
const { products, sessions } = generateStorefront(DEFAULT_STOREFRONT);

// Hold out each session's last click: the model is fitted on the rest and the metrics
// describe exactly the model that ships.
const train = sessions.map((s) => s.subarray(0, s.length - 1));
const model = fitMarkov(train, products.length);
const metrics = new RankingMetrics();
for (const session of sessions) {
  const scores = scoreMarkov(model, session.subarray(0, session.length - 1));
  metrics.add(rankOf(scores, session[session.length - 1] as number));
}
const result = metrics.result();
const { files, manifest } = await buildModelPackage({
  ...markovPackageSpec(model, {
    name: 'storefront-markov',
    dataset: `generated-storefront(seed=${DEFAULT_STOREFRONT.seed})`,
    itemIds: products.map((p) => p.id),
    metrics: Object.fromEntries(Object.entries(result).filter(([k]) => k.endsWith('@10'))),
  }),
  createdAt: new Date('2026-11-22T00:00:00Z'),
});
await writePackageDirectory(out, files);
await mkdir('public/storefront', { recursive: true });
await writeFile('public/storefront/catalog.json', `${JSON.stringify(products)}\n`);
console.log(
  `${out}: ${manifest.size.bytes} bytes, ${manifest.tensors.length} tensors, last-click ${JSON.stringify(result)} over ${metrics.count} sessions`,
);
