/**
 * The training side of scripts/torch/train_sasrec.py from a data set pocketrec loads (a
 * registry name or a shop's event log file): the histories `pocketrec train` would fit on
 * (the training split: each user's last two items, or a session's last, held out) and every
 * item id in the data set's numbering, so that the PyTorch teacher has a row for each item
 * and `pocketrec import --dataset` finds the same items in the same data.
 *
 *   npx tsx scripts/torch/export-sequences.ts <dataset> <out-dir> [--users n]
 *
 * writes <out-dir>/sequences.txt (a history a line, item ids separated by spaces, oldest
 * first) and <out-dir>/items.txt (an id a line, internal item 1 first). At a scale one
 * machine cannot load, write the same two files with your own pipeline (docs/scale-out.md).
 * For a user data set it also writes <out-dir>/validation.txt and test.txt, the cases of
 * `pocketrec eval --split validation|test` (leave-one-out, users of 3+ items): a case a
 * line, its whole input history then its target last, for train_sasrec.py --eval-dir.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evalData } from '../../src/cli/eval.ts';
import { trainingData } from '../../src/cli/training-data.ts';

const [dataset, out, flag, users] = process.argv.slice(2);
if (!dataset || !out || (flag !== undefined && flag !== '--users')) {
  console.error('usage: npx tsx scripts/torch/export-sequences.ts <dataset> <out-dir> [--users n]');
  process.exit(2);
}
const data = await trainingData(dataset, users ? { users } : {});
const ids = data.itemIds ?? Array.from({ length: data.numItems }, (_, i) => String(i + 1));
for (const id of ids) {
  if (/\s/.test(id))
    throw new Error(`item id ${JSON.stringify(id)} has whitespace: sequences.txt cannot hold it`);
}
mkdirSync(out, { recursive: true });
const lines = data.train
  .filter((h) => h.length > 0)
  .map((h) => Array.from(h, (i) => ids[i - 1]).join(' '));
writeFileSync(join(out, 'sequences.txt'), `${lines.join('\n')}\n`);
writeFileSync(join(out, 'items.txt'), `${ids.join('\n')}\n`);
console.log(`${data.dataset}: ${lines.length} training histories, ${ids.length} items -> ${out}`);
if (data.maskHistory) {
  for (const split of ['validation', 'test'] as const) {
    const { cases } = await evalData({
      dataset,
      protocol: 'full',
      split,
      ...(users ? { users } : {}),
    });
    const caseLines = cases.inputs.map((h, k) =>
      [...Array.from(h, (i) => ids[i - 1]), ids[(cases.targets[k] as number) - 1]].join(' '),
    );
    writeFileSync(join(out, `${split}.txt`), `${caseLines.join('\n')}\n`);
    console.log(`${split}: ${caseLines.length} cases -> ${join(out, `${split}.txt`)}`);
  }
}
