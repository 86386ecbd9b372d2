/**
 * `npm run bench:browsers`: bench.html in Debian's Chromium (WebGPU on its SwiftShader
 * fallback adapter, WASM, CPU) and in Debian's Firefox ESR (WASM, CPU; no WebGPU on
 * Linux), both driven by puppeteer-core (Chromium over CDP, Firefox over WebDriver BiDi),
 * never a downloaded browser build. Each browser's report is written to
 * bench-results/<browser>-<date>.json and one comparison table is printed (Markdown).
 * A benchmark, not a test: it prints what it measured and asserts nothing about time.
 *
 *   npm run bench:browsers -- [--runs 100] [--warmup 20] [--models tt,teacher,baseline]
 *       [--backends webgpu,wasm,cpu] [--browsers chromium,firefox] [--catalogue ml-1m|<items>]
 *       [--no-idb] [--data-dir <dir>] [--out bench-results]
 *
 * The sessions replayed are ML-1M users (from --data-dir, default ../shared/data), the same
 * for both browsers; without the data the page's generated sessions are used, and the
 * report says so. A generated catalogue (--catalogue 1000000) is written to runs/bench/
 * first when missing.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createLogger } from 'vite';
import { headlines, markdownTable } from '../src/pages/bench/compare.ts';
import { generatedModelDir } from '../src/pages/bench/models.ts';
import { BenchParamError, paramsToSearch, parseParams } from '../src/pages/bench/params.ts';
import type { BenchReport } from '../src/pages/bench/report.ts';
import { parseReport } from '../src/pages/bench/report.ts';
import { reportFileName } from '../src/pages/bench/report-io.ts';
import type { Sessions } from '../src/pages/bench/sessions.ts';
import { chromiumArgs, chromiumPath, projectRoot, startServer } from '../test/browser/harness.ts';
import { generateTtModel } from './generate-tt-model.ts';
import { loadMl1mSessions } from './ml1m-sessions.ts';

const FIREFOX = process.env.POCKETREC_FIREFOX || '/usr/bin/firefox-esr';
/**
 * Firefox: tfjs 4.22's threaded WASM binary hangs now and then when it starts in a worker
 * (Firefox ESR 153: 2 of 8 starts never finished; Chromium 8 of 8), so Firefox gets
 * bench.html without cross-origin isolation (WASM with SIMD, no threads). Without isolation
 * Firefox rounds performance.now() to 1 ms; this pref gives it back its precision.
 */
const FIREFOX_PREFS = { 'privacy.reduceTimerPrecision': false };
const FIREFOX_QUERY = 'isolate=0';
const BROWSERS = ['chromium', 'firefox'] as const;
type BrowserName = (typeof BROWSERS)[number];
/** A whole run of one browser may take this long before the runner gives up on it. */
const RUN_TIMEOUT_MS = 60 * 60_000;

const args = process.argv.slice(2);
const option = (name: string, fallback?: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const log = (message: string) => process.stderr.write(`[bench:browsers] ${message}\n`);

function usage(message: string): never {
  process.stderr.write(`bench:browsers: ${message}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseParams>;
try {
  parsed = parseParams(
    new URLSearchParams({
      models: option('models', 'tt,teacher,baseline') as string,
      backends: option('backends', 'webgpu,wasm,cpu') as string,
      warmup: option('warmup', '20') as string,
      runs: option('runs', '100') as string,
      catalogue: option('catalogue', 'ml-1m') as string,
      idb: args.includes('--no-idb') ? '0' : '1',
      seed: option('seed', '1') as string,
    }),
  );
} catch (error) {
  if (error instanceof BenchParamError) usage(error.message);
  throw error;
}
const { params } = parsed;
const browsers = (option('browsers', BROWSERS.join(',')) as string).split(',');
for (const b of browsers) {
  if (!BROWSERS.includes(b as BrowserName)) usage(`--browsers: unknown browser ${b}`);
}
const outDir = join(projectRoot, option('out', 'bench-results') as string);

async function sessionsToReplay(): Promise<Sessions | undefined> {
  if (params.catalogue !== 'ml-1m') return undefined;
  const loaded = await loadMl1mSessions({
    dataDir: option('data-dir'),
    seed: params.seed,
    users: 80,
  });
  if ('error' in loaded) {
    log(`no ML-1M sessions (${loaded.error}): the page generates its own`);
    return undefined;
  }
  return {
    source: `ML-1M user sequences (80 users in a seeded order, seed ${params.seed}, from ${loaded.dataDir})`,
    sessions: loaded.sequences,
  };
}

async function launch(name: BrowserName): Promise<Browser> {
  if (name === 'chromium') {
    return puppeteer.launch({
      executablePath: chromiumPath(),
      args: chromiumArgs({ webgpu: true }),
      headless: true,
      protocolTimeout: RUN_TIMEOUT_MS,
    });
  }
  if (!existsSync(FIREFOX)) {
    throw new Error(
      `${FIREFOX} is missing: apt-get install firefox-esr (or set POCKETREC_FIREFOX)`,
    );
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    protocolTimeout: RUN_TIMEOUT_MS,
    extraPrefsFirefox: FIREFOX_PREFS,
  });
}

async function waitForState(page: Page, states: string[], timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let shown = 0;
  for (;;) {
    const { state, lines } = await page.evaluate(
      (from) => ({
        state: document.body.dataset.state ?? '',
        lines: window.pocketrecBench?.log.slice(from) ?? [],
      }),
      shown,
    );
    for (const line of lines) log(`  ${line}`);
    shown += lines.length;
    if (states.includes(state)) return state;
    if (Date.now() > until)
      throw new Error(`bench.html still '${state}' after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function runIn(
  name: BrowserName,
  url: string,
  sessions: Sessions | undefined,
): Promise<BenchReport> {
  const browser = await launch(name);
  try {
    const flags = [
      ...(browser.process()?.spawnargs.slice(1) ?? []),
      ...(name === 'firefox'
        ? Object.entries(FIREFOX_PREFS).map(([pref, value]) => `pref ${pref}=${value}`)
        : []),
    ];
    log(`${name}: ${await browser.version()}`);
    const page = await browser.newPage();
    // Vite's client asks for its HMR socket, which this server does not open (server.ws
    // false: no reloads mid-run); the page's CSP blocks it too.
    const viteSocket = /ws:\/\/127\.0\.0\.1:\d+\/\?token=/;
    page.on('pageerror', (error) => {
      if (!viteSocket.test(String(error))) log(`${name} page error: ${String(error)}`);
    });
    page.on('console', (message) => {
      if (message.type() === 'error' && !viteSocket.test(message.text())) {
        log(`${name} console error: ${message.text()}`);
      }
    });
    await page.goto(name === 'firefox' ? `${url}&${FIREFOX_QUERY}` : url);
    await waitForState(page, ['idle'], 180_000);
    await page.evaluate(
      (options) => {
        void window.pocketrecBench.start(options);
      },
      { flags, ...(sessions ? { sessions } : {}) },
    );
    const state = await waitForState(page, ['done', 'failed'], RUN_TIMEOUT_MS);
    if (state === 'failed') {
      throw new Error(
        `bench.html failed: ${await page.evaluate(() => window.pocketrecBench.error)}`,
      );
    }
    const json = await page.evaluate(() => JSON.stringify(window.pocketrecBench.report));
    // The same validation a report loaded into the page gets.
    return parseReport(json, `${name}'s report`);
  } finally {
    await browser.close();
  }
}

if (typeof params.catalogue === 'number') {
  const dir = generatedModelDir(params.catalogue);
  if (!existsSync(join(projectRoot, dir, 'manifest.json'))) {
    log(`generating ${dir}`);
    await generateTtModel({ out: join(projectRoot, dir), items: params.catalogue });
  }
}

const started = performance.now();
const sessions = await sessionsToReplay();
const viteLog = createLogger('info');
const toLog = (message: string) => log(`vite: ${message}`);
const server = await startServer({
  // Its own dependency cache, so a test run beside it never re-optimises under it; no HMR
  // socket, so no page reloads in the middle of a run.
  cacheDir: 'node_modules/.vite-bench',
  logLevel: 'info',
  customLogger: { ...viteLog, info: toLog, warn: toLog, warnOnce: toLog, error: toLog },
  server: { ws: false },
  optimizeDeps: { entries: ['bench.html'] },
});
const reports: BenchReport[] = [];
try {
  const url = `${server.url}/bench.html?${paramsToSearch(params)}`;
  log(`${url} (load average ${loadavg()[0]?.toFixed(2)}, ${cpus().length} cores)`);
  for (const name of browsers as BrowserName[]) {
    try {
      const report = await runIn(name, url, sessions);
      await mkdir(outDir, { recursive: true });
      const file = join(outDir, reportFileName(report));
      await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
      log(`${name}: ${file}`);
      reports.push(report);
    } catch (error) {
      log(`${name} failed: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  }
} finally {
  await server.close();
}

const minutes = ((performance.now() - started) / 60_000).toFixed(1);
console.log(
  `pocketrec bench.html, ${params.runs} timed runs after ${params.warmup} warm-up, catalogue ${params.catalogue}; Linux ${release()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]?.toFixed(2)} at the end; ${minutes} min\n`,
);
console.log(markdownTable(reports));
console.log('');
for (const line of headlines(reports)) console.log(`- ${line}`);
for (const report of reports) {
  const a = report.environment.webgpu.adapter;
  console.log(
    `\n${report.label}: ${report.environment.browser.name} ${report.environment.browser.version}, ${report.environment.os}, WebGPU ${a ? `${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ')}${report.environment.webgpu.software ? ' (SOFTWARE: not GPU timings)' : ''}` : `none: ${report.environment.webgpu.reason}`}, cross-origin isolated ${report.environment.crossOriginIsolated}, correctness ${report.correctness.passed ? 'passed' : 'FAILED'}`,
  );
}
console.log('');
for (const note of new Set(reports.flatMap((r) => r.notes))) console.log(`- ${note}`);
// A mismatch, or a row that failed (not one a browser lacks), fails the run.
if (reports.some((r) => !r.correctness.passed || r.rows.some((row) => row.status === 'failed'))) {
  process.exitCode = 1;
}
