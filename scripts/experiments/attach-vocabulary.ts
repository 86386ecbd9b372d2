/**
 * One-off (not part of the toolkit): writes a ctr-dense package trained before packages
 * kept their vocabularies again, with the data set's vocabularies (the same ones training
 * encoded with: the loader fits them on the train split deterministically), the same
 * weights and the same training record. The browser needs the vocabularies to encode a
 * request; nothing about the model changes.
 *
 * Usage: npx tsx scripts/experiments/attach-vocabulary.ts <package> <dataset> <out>
 */
import { ctrPackageWithData } from '../../src/cli/ctr-package-data.ts';
import { ctrPackageSpec } from '../../src/model/ctr/package.ts';
import { writePackageDirectory } from '../../src/package/node-fs.ts';
import { buildModelPackage } from '../../src/package/writer.ts';

const [from, dataset, out] = process.argv.slice(2);
if (!from || !dataset || !out) {
  throw new Error('usage: attach-vocabulary.ts <package> <dataset> <out>');
}
const { pkg, ctr, data } = await ctrPackageWithData(from, { dataset }, ['ctr-dense']);
const { training } = pkg.manifest;
// The training record stays as it was, with this step added, so a reader sees both.
const notes = JSON.stringify({
  ...(training.notes ? (JSON.parse(training.notes) as object) : {}),
  vocabularyAttached: `npx tsx scripts/experiments/attach-vocabulary.ts ${from} ${dataset} ${out}`,
});
const built = await buildModelPackage(
  ctrPackageSpec(
    { ...ctr, schema: data.schema },
    {
      name: out.split('/').filter(Boolean).pop() ?? pkg.manifest.name,
      dataset,
      metrics: training.metrics,
      notes,
    },
  ),
);
await writePackageDirectory(out, built.files);
console.log(`wrote ${out}: ${from}'s weights with ${dataset}'s vocabularies`);
