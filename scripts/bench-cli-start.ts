/**
 * `npm run bench:cli-start`: how long `pocketrec --help` takes to start from the installed
 * package, against baselines measured in the same run on the same machine. A benchmark,
 * not a test: it asserts nothing, it prints.
 *
 *   npm run bench:cli-start -- [--runs 15] [--json] [--keep] [--installed <project>]
 *
 * The library is built, packed and installed from the tarball into a scratch project
 * (scripts/pack-install.ts, as test/browser/package.test.ts does), then each command runs
 * --runs times, the commands taking turns, and its median and spread of wall time are printed:
 *
 *   node -e 0                      Node's own start, the floor of any command
 *   installed: pocketrec --help    the package's bin (node_modules/.bin/pocketrec), compiled
 *   installed: npx pocketrec --help   the same through npx, which adds npm's own start
 *   npx --version                  npm's own start alone
 *   repository: pocketrec --help   bin/pocketrec.js in this checkout: the TypeScript source
 *                                  through tsx, no build step
 *
 * --keep leaves the scratch project (its path on stderr); --installed measures one already
 * made, without building and installing again.
 *
 * The load average is printed before and after: on a shared machine every figure moves
 * with it, which is why the baselines are measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installPackage, npmEnv, packPackage } from './pack-install.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Measure {
  name: string;
  command: string[];
  cwd: string;
}

interface Figures {
  name: string;
  command: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : process.argv[at + 1];
}

/** One run of `measure`, in milliseconds of wall time. */
function once({ command, cwd }: Measure): number {
  const [file, ...args] = command as [string, ...string[]];
  const started = performance.now();
  const result = spawnSync(file, args, { cwd, env: npmEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`${command.join(' ')} exited with ${result.status}: ${result.stderr}`);
  }
  return performance.now() - started;
}

/**
 * Every measure `runs` times, taking turns (one run of each, then again), so that a change
 * of the machine's load meets all of them alike; one unmeasured round first, since the first
 * read of each file from disk is not startup time.
 */
function timeAll(measures: readonly Measure[], runs: number): Figures[] {
  for (const measure of measures) once(measure);
  const times = measures.map(() => [] as number[]);
  for (let run = 0; run < runs; run++) {
    for (const [i, measure] of measures.entries()) times[i]?.push(once(measure));
  }
  return measures.map((measure, i) => {
    const sorted = (times[i] ?? []).sort((a, b) => a - b);
    const at = (k: number) => sorted[k] as number;
    const middle = sorted.length >> 1;
    const median = sorted.length % 2 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
    return {
      name: measure.name,
      command: measure.command.join(' '),
      runs,
      medianMs: Math.round(median),
      minMs: Math.round(at(0)),
      maxMs: Math.round(at(sorted.length - 1)),
    };
  });
}

const runs = Number(option('runs') ?? 15);
const json = process.argv.includes('--json');
const installed = option('installed');
const work = installed ? null : await mkdtemp(join(tmpdir(), 'pocketrec-bench-cli-'));
try {
  const app = installed ? resolve(installed) : join(work as string, 'app');
  if (work) {
    if (!json) console.error('building, packing and installing the package...');
    const { tarball } = await packPackage(work);
    await installPackage(app, tarball);
  }

  const loadBefore = loadavg();
  const measures: Measure[] = [
    { name: 'node -e 0', command: [process.execPath, '-e', '0'], cwd: app },
    {
      name: 'installed: pocketrec --help',
      command: [join(app, 'node_modules/.bin/pocketrec'), '--help'],
      cwd: app,
    },
    { name: 'installed: npx pocketrec --help', command: ['npx', 'pocketrec', '--help'], cwd: app },
    { name: 'npx --version', command: ['npx', '--version'], cwd: app },
    {
      name: 'repository: pocketrec --help (tsx)',
      command: [process.execPath, join(root, 'bin/pocketrec.js'), '--help'],
      cwd: root,
    },
  ];
  const results = timeAll(measures, runs);
  const report = {
    node: process.version,
    cpus: cpus().length,
    loadAverage: {
      before: loadBefore.map((l) => +l.toFixed(2)),
      after: loadavg().map((l) => +l.toFixed(2)),
    },
    results,
  };
  if (json) {
    console.log(JSON.stringify(report));
  } else {
    const width = Math.max(...results.map((r) => r.name.length));
    console.log(`${'command'.padEnd(width)}  median ms  min ms  max ms  (${runs} runs each)`);
    for (const r of results) {
      console.log(
        `${r.name.padEnd(width)}  ${String(r.medianMs).padStart(9)}  ${String(r.minMs).padStart(6)}  ${String(r.maxMs).padStart(6)}`,
      );
    }
    console.log(
      `load average (1, 5, 15 min): ${report.loadAverage.before.join(' ')} before, ${report.loadAverage.after.join(' ')} after; ${report.cpus} CPUs, Node ${report.node}`,
    );
    console.log(JSON.stringify(report));
  }
} finally {
  if (work && process.argv.includes('--keep')) console.error(`kept ${join(work, 'app')}`);
  else if (work) await rm(work, { recursive: true, force: true });
}
