/**
 * The first step of `npm run test:data`: the real-data tests need every data set of the
 * registry (src/data/datasets.ts) in the data directory they find themselves:
 * $POCKETREC_DATA_DIR, else ../shared/data beside the checkout (resolveDataDir). Without
 * them this stops before any test runs, naming the directory and the missing files: those
 * tests fail, they never skip.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDataDir } from '../src/data/data-dir.ts';
import { DATASET_NAMES, DATASETS, needsDataDir } from '../src/data/datasets.ts';

let dataDir: string;
try {
  dataDir = resolveDataDir();
} catch (error) {
  fail(`${(error as Error).message}`);
}

const missing: string[] = [];
for (const name of DATASET_NAMES) {
  const spec = DATASETS[name];
  if (!needsDataDir(spec)) continue;
  for (const [key, file] of Object.entries(spec)) {
    if (!key.endsWith('File') && key !== 'file') continue;
    if (typeof file === 'string' && !existsSync(join(dataDir, file))) {
      missing.push(`${join(dataDir, file)} (${name})`);
    }
  }
}
if (missing.length > 0) fail(`missing in ${dataDir}:\n  ${missing.join('\n  ')}`);
console.log(`test:data: data sets found in ${dataDir}`);

function fail(problem: string): never {
  console.error(
    `npm run test:data needs the research data sets (../shared/data beside the checkout; ` +
      `see its README.md for what goes where), and found none usable: ${problem}`,
  );
  process.exit(1);
}
