/**
 * `npm run bench:engine`: speed and memory of the browser runtime, in Debian's Chromium,
 * per backend (wasm, webgpu, cpu) and model, through the client API the pages use; with a
 * plain tfjs LayersModel of the same network (src/pages/bench/layers-baseline.ts) side by side, and
 * the engine's own split of each request (encoding, then scoring and top-k). A benchmark, not a
 * test: it asserts nothing about time, it prints. WebGPU here is SwiftShader (the CPU):
 * its rows check that the path runs, their timings mean nothing.
 *
 *   npm run bench:engine -- [--json] [--data-dir <dir>] [--calls 200] [--slow-calls 10]
 *       [--webgpu-1m-calls 2] [--webgpu-reopen] [--backends wasm,webgpu,cpu] [--site dev|built]
 *       [--models ml-1m-tt-r12,ml-1m-teacher,tt-1m,<package dir under the project> | none]
 *       [--ctr <ctr package dir>,... | none] [--ctr-sparsity 0.5,0.8,0.95] [--ctr-calls n]
 *       [--ctr-candidates 100] [--ctr-flops-budget 0.5,0.35,0.2,0.1 | none]
 *
 * --json prints one JSON object per line (backend x model x measurement set); otherwise
 * a table. --calls is the warm requests per WASM row, --slow-calls per WebGPU and CPU row
 * (--webgpu-1m-calls for the 1M model on WebGPU, about 10 s a request on SwiftShader).
 * On WebGPU the model is opened once (from the network) unless --webgpu-reopen: on
 * SwiftShader every open compiles the shaders again, about a minute.
 * On WebGPU a row first times the floor under any WebGPU request on that adapter (upload, one
 * workgroup, read back; src/pages/bench/engine/webgpu-floor.ts).
 * The generated 1M-item model is written to runs/bench/tt-1m when it is missing.
 * --site built serves the page from a production build (runs/bench/site) instead of the dev
 * server's unbundled modules: the opens' figures are then what a shop's visitor gets.
 * CTR rows (scripts/bench-engine-ctr.ts): p50/p95 of rank() over 100 candidates, a dense
 * package against Shaver-pruned ones and against itself cut down to each FLOPs budget (UMEC's
 * magnitude selection, not fine-tuned), each with its ratio to the dense row of the same run
 * and its package's FLOPs ratio; --ctr-calls defaults to --calls on WASM and --slow-calls
 * elsewhere. The same packages on bench.html: the URL it logs.
 * Sequence rows carry the package's FLOPs (packageFlops: one incremental step and the scoring)
 * and its encoder's; a package whose encoder `pocketrec umec` cut, listed after its source in
 * --models, also gets its p50s over the source's of the same backend and run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { Page } from 'playwright-core';
import { build, createLogger } from 'vite';
import { umecCutOf } from '../src/cli/report-encoder-cut.ts';
import { packageFlops } from '../src/model/package-flops.ts';
import {
  BUILT_SCORING,
  encoderFlops,
  encodesIncrementally,
  sequentialFlops,
} from '../src/model/sequential-flops.ts';
import { checkSequentialStructure, isSequentialKind } from '../src/model/sequential-structure.ts';
import { type Manifest, parseManifest } from '../src/package/manifest.ts';
import { directorySource } from '../src/package/node-fs.ts';
import { readItemIds } from '../src/package/reader.ts';
import type { Pattern, PatternArgs } from '../src/pages/bench/engine/main.ts';
import { generatedSessions, type Sessions } from '../src/pages/bench/sessions.ts';
import type { BackendName } from '../src/runtime/engine/backend.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../src/runtime/engine/engine.ts';
import type { MemoryReport } from '../src/runtime/protocol.ts';
import {
  type ChromiumSession,
  launchChromium,
  projectRoot,
  serveBuilt,
  startServer,
} from '../test/browser/harness.ts';
import { contentSecurityPolicy } from '../vite.config.ts';
import {
  benchCtr,
  CTR_CANDIDATES,
  CTR_FLOPS_BUDGETS,
  CTR_SPARSITIES,
  ctrPackageDirs,
  ctrPackages,
  printCtrTable,
} from './bench-engine-ctr.ts';
import { generateTtModel, TT_1M_DIR } from './generate-tt-model.ts';
import { loadMl1mSessions, type Ml1mSessions } from './ml1m-sessions.ts';

/** The page this script drives (window.bench). */
const ENGINE_PAGE = 'src/pages/bench/engine/engine.html';

const args = process.argv.slice(2);
const option = (name: string, fallback?: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const json = args.includes('--json');
const calls = Number(option('calls', '200'));
const slowCalls = Number(option('slow-calls', '10'));
/** The 1M model on SwiftShader takes about 10 s a request. */
const webgpu1mCalls = Number(option('webgpu-1m-calls', '2'));
const backends = (option('backends', 'wasm,webgpu,cpu') as string).split(',') as BackendName[];
const modelKeys = (
  option('models', 'ml-1m-compact,ml-1m-tt2-r12-fo,ml-1m-tt-r12,ml-1m-teacher,tt-1m') as string
)
  .split(',')
  .filter((key) => key !== '' && key !== 'none');
const ctrOption = option('ctr');
const ctrSparsities = option('ctr-sparsity')?.split(',').map(Number) ?? CTR_SPARSITIES;
const ctrBudgetOption = option('ctr-flops-budget');
const ctrBudgets =
  ctrBudgetOption === 'none' ? [] : (ctrBudgetOption?.split(',').map(Number) ?? CTR_FLOPS_BUDGETS);
const ctrCalls = option('ctr-calls');
const ctrCandidates = Number(option('ctr-candidates', String(CTR_CANDIDATES)));
const dataDirOption = option('data-dir');
const webgpuReopen = args.includes('--webgpu-reopen');
const site = option('site', 'dev') as 'dev' | 'built';
if (site !== 'dev' && site !== 'built') {
  process.stderr.write(`bench:engine: --site must be dev or built, got ${site}\n`);
  process.exit(2);
}
/** Where --site built writes the build. */
const BUILT_SITE_DIR = 'runs/bench/site';
const SEED = 1;
const STEP_TIMEOUT_MS = 240_000;

interface ModelSpec {
  key: string;
  url: string;
  dir: string;
  /** The layers baseline runs against this model. */
  baseline: boolean;
  /** Sessions from ML-1M (mapped to the package's ids) when the data is there. */
  ml1m: boolean;
  /** The key of the package `pocketrec umec` cut this one from, when it was. */
  cutFrom?: string;
}

const MODELS: ModelSpec[] = [
  {
    // The compact model (dense d 48, int4 in the package, float32 in the worker).
    key: 'ml-1m-compact',
    url: '/models/ml-1m-compact',
    dir: 'models/ml-1m-compact',
    baseline: true,
    ml1m: true,
  },
  {
    // Positions from the oldest item: the incremental path.
    key: 'ml-1m-tt2-r12-fo',
    url: '/models/ml-1m-tt2-r12-fo',
    dir: 'models/ml-1m-tt2-r12-fo',
    baseline: true,
    ml1m: true,
  },
  {
    key: 'ml-1m-teacher-fo',
    url: '/models/ml-1m-teacher-fo',
    dir: 'models/ml-1m-teacher-fo',
    baseline: false,
    ml1m: true,
  },
  {
    key: 'ml-1m-tt-r12',
    url: '/models/ml-1m-tt-r12',
    dir: 'models/ml-1m-tt-r12',
    baseline: true,
    ml1m: true,
  },
  {
    key: 'ml-1m-teacher',
    url: '/models/ml-1m-teacher',
    dir: 'models/ml-1m-teacher',
    baseline: false,
    ml1m: true,
  },
  { key: 'tt-1m', url: `/${TT_1M_DIR}`, dir: TT_1M_DIR, baseline: false, ml1m: false },
];

/**
 * Targets to print next to the figures (WASM, worker-side warm p50 of the shopper pattern;
 * slideP50Ms: of the slide pattern, a whole window encoded at every request; rtAddsMs: the
 * round trip's p50 over the worker's).
 */
const TARGETS = {
  'ml-1m-compact': { p50Ms: 0.25, slideP50Ms: 0.5, rtAddsMs: 0.15, speedupVsLayers: 8 },
  'ml-1m-tt2-r12-fo': { p50Ms: 1.5, speedupVsLayers: 5 },
  'ml-1m-tt-r12': { p50Ms: 1.5, speedupVsLayers: 5 },
  'tt-1m': { p50Ms: 4, maxPeakBytes: 256_000_000 },
};
const DENSE_1M_TABLE_BYTES = 1_000_000 * 64 * 4;

// ---------------------------------------------------------------------------------------
// Statistics and output

const r3 = (x: number | null | undefined): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000;

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (at - lo);
}

const rows: Record<string, unknown>[] = [];
function emit(row: Record<string, unknown>): void {
  rows.push(row);
  if (json) process.stdout.write(`${JSON.stringify(row)}\n`);
}
const log = (message: string) => process.stderr.write(`[bench:engine] ${message}\n`);

// ---------------------------------------------------------------------------------------
// Sessions

/** The package's external ids as its reader decodes them (either id map encoding). */
async function itemIdsOf(dir: string): Promise<string[] | null> {
  return (await readItemIds(directorySource(join(projectRoot, dir)))).itemIds;
}

function randomSessions(ids: string[] | null, count: number, length: number): Sessions {
  return generatedSessions(ids, ids ? ids.length : 1_000_000, { seed: SEED, count, length });
}

let ml1mCache: Promise<Ml1mSessions> | null = null;
const ml1mSessions = (): Promise<Ml1mSessions> =>
  (ml1mCache ??= loadMl1mSessions({ dataDir: dataDirOption, seed: SEED, users: 80 }));

async function sessionsFor(model: ModelSpec): Promise<Sessions> {
  const ids = await itemIdsOf(model.dir);
  if (model.ml1m) {
    const loaded = await ml1mSessions();
    if ('sequences' in loaded) {
      const known = new Set(ids ?? []);
      const sessions = loaded.sequences
        .map((s) => s.filter((id) => known.has(id)))
        .filter((s) => s.length > 0);
      return {
        source: `ml-1m user sequences (${sessions.length} users, seeded order ${SEED})`,
        sessions,
      };
    }
    const fallback = randomSessions(ids, 40, 120);
    return { ...fallback, source: `${fallback.source}; no ML-1M: ${loaded.error}` };
  }
  return randomSessions(ids, 40, 120);
}

// ---------------------------------------------------------------------------------------
// Driving the page

async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: no answer after ${STEP_TIMEOUT_MS / 1000} s`)),
          STEP_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    log(`${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
}

async function pageHeap(page: Page): Promise<Record<string, number | null>> {
  try {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    await cdp.detach();
    const metric = (name: string) => metrics.find((m) => m.name === name)?.value ?? null;
    return {
      page_js_heap_used_bytes: metric('JSHeapUsedSize'),
      page_js_heap_total_bytes: metric('JSHeapTotalSize'),
    };
  } catch {
    return { page_js_heap_used_bytes: null, page_js_heap_total_bytes: null };
  }
}

interface Timed {
  workerMs: number[];
  rtMs: number[];
}

function timingFields(t: Timed): Record<string, number | null> {
  return {
    calls: t.workerMs.length,
    p50_ms: r3(quantile(t.workerMs, 0.5)),
    p95_ms: r3(quantile(t.workerMs, 0.95)),
    mean_ms: r3(t.workerMs.reduce((a, b) => a + b, 0) / t.workerMs.length),
    rt_p50_ms: r3(quantile(t.rtMs, 0.5)),
    rt_p95_ms: r3(quantile(t.rtMs, 0.95)),
  };
}

/** What each request of a pattern asked of the GPU (WebGPU rows; nothing where no GPU work). */
function gpuPerRequest(
  gpu: { dispatches: number; submits: number; maps: number; mappedBytes: number } | null,
  requests: number,
): Record<string, number> {
  if (!gpu || gpu.dispatches === 0 || requests === 0) return {};
  return {
    gpu_dispatches_per_request: r3(gpu.dispatches / requests) as number,
    gpu_submits_per_request: r3(gpu.submits / requests) as number,
    gpu_maps_per_request: r3(gpu.maps / requests) as number,
    gpu_mapped_bytes_per_request: r3(gpu.mappedBytes / requests) as number,
  };
}

/** SwiftShader's WebGPU is the CPU: its rows say the path runs, their times mean nothing. */
const swiftshaderNote = (adapter: unknown) =>
  /swiftshader/i.test(String(adapter)) ? { note: 'swiftshader: correctness only' } : {};

/** A sequence package's FLOPs: the whole request's, its ratio to the uncut model's, the encoder's. */
async function workOf(dir: string): Promise<Record<string, number | null>> {
  const manifest = await parseManifest(readFileSync(join(projectRoot, dir, 'manifest.json')));
  const work = packageFlops(manifest, DEFAULT_ENGINE_OPTIONS);
  return {
    flops: work?.flops ?? null,
    flops_ratio: r3(work?.flopsRatio),
    encoder_flops: isSequentialKind(manifest.kind)
      ? encoderFlops(checkSequentialStructure(manifest).config)
      : null,
  };
}

/**
 * The multiply-adds of one request of each pattern (src/model/sequential-flops.ts, served as
 * the engine serves the package): 'track', an incremental step at the middle of the window
 * (its sessions run 1..maxLen events) and the scoring, or the whole window for a model that
 * cannot step; 'slide', the whole window and the scoring; 'repeat', the scoring alone (the
 * same window again is not encoded). A tensor-train table the engine does not build is
 * scored by the fused kernels' contraction on the fused path on WASM ('tt-fused-wasm'), by
 * the WGSL kernel on WebGPU ('tt-webgpu-kernel'), by ttScoreAll's on tfjs. Null for kinds without products to count.
 */
function patternMacs(
  manifest: Manifest,
  pattern: Pattern,
  path: EnginePath,
  backend: BackendName,
): number | null {
  if (!isSequentialKind(manifest.kind)) return null;
  const { config, table } = checkSequentialStructure(manifest);
  const built =
    table.kind !== 'dense' && config.numItems + 1 <= DEFAULT_ENGINE_OPTIONS.materialiseRows;
  const scoring = built
    ? { scoring: BUILT_SCORING[table.kind] }
    : table.kind === 'tt' && path === 'fused' && backend === 'wasm'
      ? { scoring: 'tt-fused-wasm' as const }
      : table.kind === 'tt' && backend === 'webgpu'
        ? { scoring: 'tt-webgpu-kernel' as const }
        : {};
  const whole = { ...scoring, encoding: 'whole-window' as const, length: config.maxLen };
  if (pattern === 'slide') return sequentialFlops(config, table, whole);
  if (pattern === 'repeat') {
    return sequentialFlops(config, table, whole) - encoderFlops(config, whole);
  }
  const step = encodesIncrementally(config)
    ? { ...scoring, encoding: 'incremental' as const, length: Math.ceil(config.maxLen / 2) }
    : whole;
  return sequentialFlops(config, table, step);
}

/** The machine's WASM SIMD rate, measured once on the first page (see simd-rate.ts). */
let simdMacsPerSecond: number | null = null;
/** The p50 round trip of a worker that only echoes (postMessage), measured on the page. */
let messagingFloorMs: number | null = null;

/** A request's arithmetic bound at the measured rate, and a p50's distance from it. */
function boundFields(macs: number | null, p50: number): Record<string, number | null> {
  if (macs === null || simdMacsPerSecond === null) return {};
  const boundMs = (macs / simdMacsPerSecond) * 1000;
  return { macs, bound_ms: r3(boundMs), p50_over_bound: r3(p50 / boundMs) };
}

/** A fused row's p50s against the tfjs row of the same backend, model and pattern, run just before. */
function againstTfjs(model: ModelSpec, backend: string, row: Record<string, unknown>) {
  const tfjs = rows.find(
    (r) => r.set === row.set && r.backend === backend && r.model === model.key && r.path === 'tfjs',
  );
  if (row.path !== 'fused' || !tfjs) return {};
  return {
    tfjs_p50_ms: tfjs.p50_ms,
    speedup_vs_tfjs: r3((tfjs.p50_ms as number) / (row.p50_ms as number)),
    rt_speedup_vs_tfjs: r3((tfjs.rt_p50_ms as number) / (row.rt_p50_ms as number)),
  };
}

/** A cut model's track p50s over its source's, when the source ran before it on `backend`. */
function againstSource(model: ModelSpec, backend: string, row: Record<string, unknown>) {
  const source = rows.find(
    (r) =>
      r.set === 'track' &&
      r.backend === backend &&
      r.model === model.cutFrom &&
      r.path === row.path,
  );
  if (!model.cutFrom || !source) return {};
  const over = (key: string) => r3((row[key] as number) / (source[key] as number));
  return {
    cut_from: model.cutFrom,
    encoder_flops_vs_source: over('encoder_flops'),
    p50_vs_source: over('p50_ms'),
    encode_p50_vs_source: over('encode_p50_ms'),
  };
}

/**
 * How the engine may serve a model on a backend: on WASM a next-item model runs on the
 * fused kernels by default and on tfjs's ops when asked; on WebGPU the fused kernels encode
 * and the table is scored on the GPU by default, or all of it on tfjs's ops (both measured,
 * tfjs first); on the CPU backend only tfjs.
 */
type EnginePath = 'fused' | 'tfjs';

async function benchModel(
  page: Page,
  backend: BackendName,
  model: ModelSpec,
  n: number,
  path: EnginePath,
): Promise<void> {
  const { source, sessions } = await sessionsFor(model);
  const manifest = JSON.parse(readFileSync(join(projectRoot, model.dir, 'manifest.json'), 'utf8'));
  const parsedManifest = await parseManifest(
    readFileSync(join(projectRoot, model.dir, 'manifest.json')),
  );
  const maxLen = manifest.architecture.maxLen as number;
  const base: Record<string, unknown> = { backend, model: model.key, path };
  const work = await workOf(model.dir);
  const db = `bench-${backend}-${model.key}-${Date.now()}`;
  // Not the first item of a pattern's first request, which would then find it encoded.
  const firstItem = (sessions.at(-1) as string[])[0] as string;
  const label = `${backend} ${model.key} (${path})`;
  // On SwiftShader a second open compiles every shader again (about a minute).
  const reopen = backend !== 'webgpu' || webgpuReopen;

  const opened = await step(
    `${label}: open from the network${reopen ? ', then from IndexedDB' : ''}`,
    () =>
      page.evaluate((a) => window.bench.open(a), {
        model: model.url,
        backend,
        db,
        firstItem,
        reopen,
        fused: path === 'fused',
      }),
  );
  Object.assign(base, swiftshaderNote(opened.adapter));
  const loadMemory = opened.memory as MemoryReport;
  const scoring = opened.scoring as string;
  const is1m = model.key === 'tt-1m';
  const num = (x: unknown) => (typeof x === 'number' ? x : null);
  emit({
    ...base,
    set: 'load',
    active_backend: opened.backend,
    adapter: opened.adapter,
    scoring,
    incremental: opened.incremental,
    positions: manifest.architecture.positions ?? 'from-latest',
    load_network_ms: r3(num(opened.networkMs)),
    load_network_source: opened.networkSource,
    load_network_worker_ms: r3(num(opened.networkLoadMs)),
    warmup_network_ms: r3(num(opened.networkWarmupMs)),
    load_indexeddb_ms: r3(num(opened.indexeddbMs)),
    load_indexeddb_source: opened.indexeddbSource,
    load_indexeddb_worker_ms: r3(num(opened.indexeddbLoadMs)),
    // The rest of the open: the worker's start (its modules from the dev server), the
    // backend's initialisation and the history store.
    open_rest_ms: r3(
      reopen
        ? (opened.indexeddbMs as number) -
            (opened.indexeddbLoadMs as number) -
            (opened.warmupMs as number)
        : (opened.networkMs as number) -
            (opened.networkLoadMs as number) -
            (opened.networkWarmupMs as number),
    ),
    warmup_ms: r3(num(opened.warmupMs)),
    first_ms: r3(num(opened.firstMs)),
    first_rt_ms: r3(num(opened.firstRtMs)),
    tf_bytes_after_load: loadMemory.numBytes,
    tf_tensors_after_load: loadMemory.numTensors,
    package_bytes: manifest.size.bytes,
    ...(is1m
      ? { dense_table_bytes: DENSE_1M_TABLE_BYTES, materialised: scoring === 'tt-materialised' }
      : {}),
    ...(reopen
      ? {}
      : { reopen: 'skipped (--webgpu-reopen): warmup and first_ms are of the network open' }),
    ...((opened.warnings as string[]).length ? { warnings: opened.warnings } : {}),
    ...(await pageHeap(page)),
  });

  let checks: Awaited<ReturnType<typeof window.bench.baselineCheck>> | null = null;
  let baselineOpened: Record<string, unknown> | null = null;
  // The layers baseline runs beside the engine's default path.
  const withBaseline = model.baseline && (path === 'fused' || backend === 'cpu');
  if (withBaseline) {
    baselineOpened = await step(`${label}: layers baseline open`, () =>
      page.evaluate((a) => window.bench.baselineOpen(a), { model: model.url, backend }),
    );
    const histories = [1, 7, 30, maxLen, maxLen + 20].map((len) => {
      const s = sessions.find((x) => x.length >= len) ?? (sessions[0] as string[]);
      return s.slice(0, len);
    });
    checks = await step(`${label}: baseline agreement`, () =>
      page.evaluate((a) => window.bench.baselineCheck(a), { histories }),
    );
  }

  const patternRows: Record<Pattern, Record<string, unknown>> = {} as never;
  for (const pattern of ['track', 'repeat', 'slide'] as const) {
    const paired = pattern === 'track' && withBaseline;
    const patternArgs: PatternArgs & { paired: boolean } = {
      pattern,
      sessions,
      calls: n,
      cap: maxLen,
      paired,
    };
    const timed = await step(
      `${label}: ${n} x ${pattern}${paired ? ', each followed by the layers baseline' : ''}`,
      () => page.evaluate((a) => window.bench.pattern(a), patternArgs),
    );
    const memory = await page.evaluate(() => window.bench.memory());
    const reusedCalls = timed.reused.filter((r) => r > 0).length;
    const incremental = timed.workerMs.filter((_, i) => (timed.reused[i] as number) > 0);
    const whole = timed.workerMs.filter((_, i) => timed.reused[i] === 0);
    const row: Record<string, unknown> = {
      ...base,
      set: pattern,
      sessions: source,
      request:
        pattern === 'repeat'
          ? `recommend({ k: 10 }) on the same ${maxLen}-event history`
          : pattern === 'track'
            ? `track one more event, then recommend({ k: 10 }); sessions of up to ${maxLen} events`
            : `history of >= ${maxLen} events: track one more (the window slides), then recommend({ k: 10 })`,
      ...timingFields(timed),
      // The engine's own split (Recommendations.encodeMs / scoreMs).
      encode_p50_ms: r3(quantile(timed.encodeMs, 0.5)),
      score_p50_ms: r3(quantile(timed.scoreMs, 0.5)),
      calls_reusing_encoding: reusedCalls,
      p50_ms_reusing: r3(quantile(incremental, 0.5)),
      p50_ms_whole_window: r3(quantile(whole, 0.5)),
      scoring,
      ...work,
      ...boundFields(
        patternMacs(parsedManifest, pattern, path, backend),
        quantile(timed.workerMs, 0.5),
      ),
      ...gpuPerRequest(timed.gpu, timed.workerMs.length),
      tf_bytes: memory.numBytes,
      tf_tensors: memory.numTensors,
      peak_bytes: memory.peakBytes,
      ...(await pageHeap(page)),
    };
    if (pattern === 'track') {
      Object.assign(row, againstSource(model, backend, row));
      // What the round trip adds, from a run on its own: in the paired run the baseline's
      // worker has just computed for about 10 ms and the two workers share 2 cores.
      const alone = paired
        ? await step(`${label}: ${n} x track, alone (the round trip)`, () =>
            page.evaluate((a) => window.bench.pattern(a), { ...patternArgs, paired: false }),
          )
        : timed;
      const aloneP50 = quantile(alone.workerMs, 0.5);
      const aloneRtP50 = quantile(alone.rtMs, 0.5);
      row.alone_p50_ms = r3(aloneP50);
      row.alone_rt_p50_ms = r3(aloneRtP50);
      // The messaging's own round trip (a worker call that does nothing), in the same run: what
      // a request's round trip cannot go below, and what it adds beyond that.
      const echo = await page.evaluate((a) => window.bench.echo(a), { calls: n });
      const echoP50 = quantile(echo, 0.5);
      row.echo_rt_p50_ms = r3(echoP50);
      row.rt_adds_beyond_echo_ms = r3(aloneRtP50 - aloneP50 - echoP50);
    }
    Object.assign(row, againstTfjs(model, backend, row));
    if (is1m) {
      Object.assign(row, {
        dense_table_bytes: DENSE_1M_TABLE_BYTES,
        materialised: scoring === 'tt-materialised',
      });
    }
    const target = TARGETS[model.key as keyof typeof TARGETS];
    const defaultPath = path === 'fused' || scoring !== 'fused-wasm';
    if (pattern === 'track' && backend === 'wasm' && target && defaultPath) {
      row.target_p50_ms = target.p50Ms;
      row.meets_p50_target = (row.p50_ms as number) <= target.p50Ms;
      if ('maxPeakBytes' in target) {
        row.no_256mb_allocation = (memory.peakBytes ?? 0) < target.maxPeakBytes;
      }
      if ('rtAddsMs' in target) {
        const adds = (row.alone_rt_p50_ms as number) - (row.alone_p50_ms as number);
        row.rt_adds_ms = r3(adds);
        row.target_rt_adds_ms = target.rtAddsMs;
        row.meets_rt_adds_target = adds <= target.rtAddsMs;
      }
    }
    if (pattern === 'slide' && backend === 'wasm' && target && 'slideP50Ms' in target) {
      row.target_p50_ms = target.slideP50Ms;
      row.meets_p50_target = (row.p50_ms as number) <= target.slideP50Ms;
    }
    let baselineRow: Record<string, unknown> | null = null;
    if (timed.baseline) {
      const timing = timingFields(timed.baseline);
      const speedup = (timing.p50_ms as number) / (row.p50_ms as number);
      const rtSpeedup = (timing.rt_p50_ms as number) / (row.rt_p50_ms as number);
      row.speedup_vs_layers = r3(speedup);
      const memoryB = timed.baseline.memory as MemoryReport;
      baselineRow = {
        ...base,
        model: `${model.key} (layers baseline)`,
        set: pattern,
        sessions: source,
        request:
          "the same histories, each request right after pocketrec's: model.predict(ids [1, maxLen] left-padded) -> matMul(hidden, table^T) -> mask seen -> topk -> data()",
        baseline_agrees: (checks ?? []).every((c) => c.agrees),
        agreement: (checks ?? []).map((c) => ({
          history_length: c.length,
          agrees: c.agrees,
          max_score_diff: c.maxScoreDiff,
          ...(c.agrees ? {} : { pocketrec: c.pocketrec, baseline: c.baseline }),
        })),
        active_backend: baselineOpened?.backend,
        layers_params: baselineOpened?.params,
        ...timing,
        tf_bytes: memoryB.numBytes,
        tf_tensors: memoryB.numTensors,
        peak_bytes: memoryB.peakBytes,
        pocketrec_p50_ms: row.p50_ms,
        speedup_vs_layers: r3(speedup),
        rt_speedup_vs_layers: r3(rtSpeedup),
      };
      if (backend === 'wasm' && target && 'speedupVsLayers' in target) {
        row.target_speedup_vs_layers = target.speedupVsLayers;
        row.meets_speedup_target = speedup >= target.speedupVsLayers;
        baselineRow.target_speedup = target.speedupVsLayers;
        baselineRow.meets_speedup_target = speedup >= target.speedupVsLayers;
      }
      await page.evaluate(() => window.bench.baselineClose());
    }
    patternRows[pattern] = row;
    emit(row);
    if (baselineRow) emit(baselineRow);
  }

  await page.evaluate(() => window.bench.close());
}

// ---------------------------------------------------------------------------------------
// The table

function printTable(): void {
  const f = (x: unknown, digits = 2) =>
    typeof x === 'number' ? x.toFixed(digits) : x === null || x === undefined ? '-' : String(x);
  const mb = (x: unknown) => (typeof x === 'number' ? `${(x / 1e6).toFixed(2)} MB` : '-');
  const meta = rows.find((r) => r.set === 'meta');
  if (meta) {
    console.log(
      `pocketrec engine benchmark: ${meta.browser}, tfjs ${meta.tfjs}, ${meta.cpus} cores, load average ${meta.loadavg_1m} at start`,
    );
  }
  console.log(
    '\nLoad (ms; first open from the network into a fresh IndexedDB, then again from IndexedDB)',
  );
  console.log(
    `${'backend'.padEnd(8)}${'model'.padEnd(16)}${'network'.padStart(9)}${'indexeddb'.padStart(10)}${'warmup'.padStart(9)}${'first'.padStart(8)}  ${'scoring'.padEnd(16)}tf bytes`,
  );
  for (const r of rows.filter((x) => x.set === 'load')) {
    console.log(
      `${String(r.backend).padEnd(8)}${String(r.model).padEnd(16)}${f(r.load_network_ms, 0).padStart(9)}${f(r.load_indexeddb_ms, 0).padStart(10)}${f(r.warmup_ms, 0).padStart(9)}${f(r.first_ms).padStart(8)}  ${String(r.scoring).padEnd(16)}${mb(r.tf_bytes_after_load)}`,
    );
  }
  console.log('\nWarm requests (ms; worker = inside the worker, rt = round trip on the page)');
  console.log(
    `${'backend'.padEnd(8)}${'model'.padEnd(30)}${'set'.padEnd(8)}${'calls'.padStart(6)}${'p50'.padStart(9)}${'p95'.padStart(9)}${'rt p50'.padStart(9)}${'rt p95'.padStart(9)}${'reused'.padStart(8)}  peak`,
  );
  for (const r of rows.filter((x) => ['track', 'repeat', 'slide'].includes(x.set as string))) {
    console.log(
      `${String(r.backend).padEnd(8)}${modelLabel(r).padEnd(30)}${String(r.set).padEnd(8)}${f(r.calls, 0).padStart(6)}${f(r.p50_ms, 3).padStart(9)}${f(r.p95_ms, 3).padStart(9)}${f(r.rt_p50_ms, 3).padStart(9)}${f(r.rt_p95_ms, 3).padStart(9)}${f(r.calls_reusing_encoding, 0).padStart(8)}  ${mb(r.peak_bytes)}${r.note ? `  (${r.note})` : ''}`,
    );
  }
  for (const r of rows.filter((x) => x.set === 'webgpu-floor')) {
    console.log(
      `\nWebGPU floor (${r.adapter}): upload, one workgroup, read back, p50 ${f(r.p50_ms, 3)} ms, p95 ${f(r.p95_ms, 3)} ms over ${r.calls} calls`,
    );
  }
  for (const r of rows.filter((x) => x.gpu_dispatches_per_request !== undefined)) {
    console.log(
      `GPU per request, ${String(r.backend)} ${modelLabel(r)} ${r.set}: ${r.gpu_dispatches_per_request} dispatches, ${r.gpu_submits_per_request} submits, ${r.gpu_maps_per_request} maps of ${r.gpu_mapped_bytes_per_request} bytes`,
    );
  }
  console.log("\nThe engine's own split of the track pattern (worker p50 ms)");
  for (const r of rows.filter((x) => x.set === 'track' && x.encode_p50_ms !== undefined)) {
    console.log(
      `${String(r.backend).padEnd(8)}${modelLabel(r).padEnd(22)} encode ${f(r.encode_p50_ms, 3)}  score + top-k ${f(r.score_p50_ms, 3)}`,
    );
  }
  const cuts = rows.filter((x) => x.set === 'track' && x.p50_vs_source !== undefined);
  if (cuts.length > 0) {
    console.log(
      '\nEncoders cut to a FLOPs budget (track pattern, worker p50 over the source of the same run)',
    );
    for (const r of cuts) {
      console.log(
        `${String(r.backend).padEnd(8)}${String(r.model).padEnd(30)} from ${r.cut_from}: encoder FLOPs ${f(r.encoder_flops_vs_source, 3)}, request FLOPs ${f(r.flops_ratio, 3)}; p50 ${f(r.p50_vs_source, 3)}x, encode p50 ${f(r.encode_p50_vs_source, 3)}x`,
      );
    }
  }
  console.log('\nTargets (WASM, worker-side warm p50 of the track pattern)');
  for (const r of rows.filter((x) => x.target_p50_ms !== undefined)) {
    console.log(
      `${modelLabel(r).padEnd(22)} p50 ${f(r.p50_ms, 3)} ms vs <= ${r.target_p50_ms} ms: ${r.meets_p50_target ? 'met' : 'MISSED'}${r.no_256mb_allocation === undefined ? '' : `; peak ${mb(r.peak_bytes)} vs the ${mb(r.dense_table_bytes)} dense table: ${r.no_256mb_allocation ? 'no 256 MB allocation' : 'ALLOCATED 256 MB'}`}`,
    );
  }
  for (const r of rows.filter((x) => x.target_rt_adds_ms !== undefined)) {
    console.log(
      `${modelLabel(r).padEnd(22)} round trip adds ${f(r.rt_adds_ms, 3)} ms (track alone: rt p50 ${f(r.alone_rt_p50_ms, 3)} - worker p50 ${f(r.alone_p50_ms, 3)}; debug.ping(): ${f(r.echo_rt_p50_ms, 3)}; a bare worker's echo: ${f(messagingFloorMs, 3)}) vs <= ${r.target_rt_adds_ms} ms: ${r.meets_rt_adds_target ? 'met' : 'MISSED'}`,
    );
  }
  for (const r of rows.filter((x) => x.baseline_agrees !== undefined)) {
    console.log(
      `${String(r.backend).padEnd(8)}layers baseline agrees: ${r.baseline_agrees}; p50 ${f(r.p50_ms, 3)} ms vs pocketrec ${f(r.pocketrec_p50_ms, 3)} ms: speedup ${f(r.speedup_vs_layers)}x (round trip ${f(r.rt_speedup_vs_layers)}x)${r.target_speedup === undefined ? '' : ` vs >= ${r.target_speedup}x: ${r.meets_speedup_target ? 'met' : 'MISSED'}`}`,
    );
  }
}

// ---------------------------------------------------------------------------------------

/** A row's model, with the path it ran on where a backend runs both (WASM: tfjs, fused). */
function modelLabel(r: Record<string, unknown>): string {
  return r.path === undefined ? String(r.model) : `${String(r.model)} [${String(r.path)}]`;
}

/** A named model, or any package directory under the project root (the server's root). */
function modelSpec(key: string): ModelSpec {
  const known = MODELS.find((m) => m.key === key);
  if (known) return known;
  const dir = relative(projectRoot, resolve(key));
  if (dir.startsWith('..') || !existsSync(join(projectRoot, dir, 'manifest.json'))) {
    throw new Error(
      `unknown model ${key}: name one of ${MODELS.map((m) => m.key).join(', ')} or a package directory under ${projectRoot}`,
    );
  }
  const manifest = JSON.parse(readFileSync(join(projectRoot, dir, 'manifest.json'), 'utf8'));
  return {
    key: basename(dir),
    url: `/${dir.split(sep).join('/')}`,
    dir,
    // The layers baseline holds the table dense: catalogues the engine would materialise too.
    baseline:
      ['sequential-tt', 'sequential-dense'].includes(manifest.kind) &&
      manifest.items.count <= 100_000,
    ml1m: manifest.training?.dataset === 'ml-1m',
    ...cutFromOf(manifest.training?.notes),
  };
}

/** The key (folder name) of the package a `pocketrec umec` cut came from, per its notes. */
function cutFromOf(notes: unknown): { cutFrom?: string } {
  const cut = umecCutOf(typeof notes === 'string' ? notes : undefined);
  return cut ? { cutFrom: basename(cut.from) } : {};
}

const models = modelKeys.map(modelSpec);
if (
  models.some((m) => m.key === 'tt-1m') &&
  !existsSync(join(projectRoot, TT_1M_DIR, 'manifest.json'))
) {
  log(`generating ${TT_1M_DIR}`);
  await generateTtModel({ out: join(projectRoot, TT_1M_DIR) });
}

const ctr = await ctrPackages(
  await ctrPackageDirs(ctrOption, ctrSparsities, ctrBudgets, log),
  ctrCandidates,
);
if (ctr.length > 0) {
  log(`CTR packages on bench.html: /bench.html?ctr=${ctr.map((p) => p.url).join(',')}&ctrrun=1`);
}

const started = performance.now();
const viteLogger = createLogger('info');
const toStderr = (msg: string) => log(`vite: ${msg}`);
/** Where the page and the worker's code come from: what each open's rest is made of. */
async function startSite(): Promise<{ url: string; close(): Promise<void>; note: string }> {
  if (site === 'built') {
    // The production bundle, as a shop serves it: one build with the engine page as an entry.
    const outDir = join(projectRoot, BUILT_SITE_DIR);
    await build({
      root: projectRoot,
      configFile: join(projectRoot, 'vite.config.ts'),
      logLevel: 'warn',
      build: {
        outDir,
        emptyOutDir: true,
        rolldownOptions: { input: { 'bench-engine': ENGINE_PAGE } },
      },
    });
    const served = await serveBuilt(outDir, { csp: contentSecurityPolicy, isolated: true });
    return { ...served, note: `vite build (${BUILT_SITE_DIR}), served as static files` };
  }
  const server = await startServer({
    // Its own dependency cache, so a test run beside it never re-optimises under it; every
    // dependency bundled up front, and no HMR socket, so no page reloads mid-run.
    cacheDir: 'node_modules/.vite-bench',
    logLevel: 'info',
    customLogger: {
      ...viteLogger,
      info: toStderr,
      warn: toStderr,
      warnOnce: toStderr,
      error: toStderr,
    },
    server: { ws: false },
    optimizeDeps: {
      entries: [ENGINE_PAGE],
      include: [
        '@tensorflow/tfjs',
        '@tensorflow/tfjs-backend-wasm',
        '@tensorflow/tfjs-backend-webgpu',
        'idb',
      ],
    },
  });
  return { ...server, note: 'vite dev server (modules unbundled)' };
}
const server = await startSite();
const browsers: ChromiumSession[] = [];
try {
  const tfjsVersion = JSON.parse(
    readFileSync(join(projectRoot, 'node_modules/@tensorflow/tfjs/package.json'), 'utf8'),
  ).version;
  let metaEmitted = false;
  for (const backend of backends) {
    const session = await launchChromium({ webgpu: backend === 'webgpu' });
    browsers.push(session);
    const page = await session.newPage();
    page.on('console', (m) => {
      // Chromium asks for /favicon.ico on its own; the project serves none.
      // The Vite client's socket is refused on purpose (server.ws: false).
      const url = m.location().url;
      if (m.type() === 'error' && !url.endsWith('/favicon.ico') && !url.endsWith('/@vite/client')) {
        log(`page console error: ${m.text()} (${url})`);
      }
    });
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(`${server.url}/${ENGINE_PAGE}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    if (!metaEmitted) {
      metaEmitted = true;
      const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
      const simd = await page.evaluate(() => window.bench.simdRate());
      simdMacsPerSecond = simd.macsPerSecond;
      const messaging = await page.evaluate((n) => window.bench.messaging(n), calls);
      messagingFloorMs = messaging.postMessageP50Ms;
      emit({
        set: 'meta',
        browser: `Chromium ${session.browser?.version() ?? '?'}`,
        tfjs: tfjsVersion,
        cpus: cpus().length,
        loadavg_1m: r3(loadavg()[0]),
        calls_wasm: calls,
        calls_webgpu_cpu: slowCalls,
        calls_webgpu_tt_1m: webgpu1mCalls,
        webgpu_reopen: webgpuReopen,
        server: server.note,
        // Chromium coarsens performance.now() to 100 µs unless the page is isolated.
        timer_resolution_ms: isolated ? 0.005 : 0.1,
        wasm_simd_macs_per_s: Math.round(simd.macsPerSecond),
        wasm_simd_rate_of: `the fused kernels' product ${simd.shape}, median of ${simd.runs} batches, on the page's thread`,
        // A request's round trip cannot go below these: workers that only echo.
        bare_worker_echo_p50_ms: r3(messaging.postMessageP50Ms),
        atomics_echo_p50_ms: r3(messaging.atomicsP50Ms),
        note: 'worker-side times are rec.info().timings.lastWorkerMs; WASM rows are what count',
      });
    }
    if (backend === 'webgpu') {
      // What no WebGPU request can go below on this adapter, beside its rows.
      const floor = await page.evaluate((n) => window.bench.webgpuFloor(n), calls);
      emit({
        set: 'webgpu-floor',
        backend,
        request: 'upload 256 B, one workgroup, read back 80 B: one command encoder, in a worker',
        adapter: floor.adapter,
        ...swiftshaderNote(floor.adapter),
        calls: floor.calls,
        p50_ms: r3(floor.p50Ms),
        p95_ms: r3(floor.p95Ms),
      });
    }
    for (const model of models) {
      const n =
        backend === 'wasm'
          ? calls
          : backend === 'webgpu' && model.key === 'tt-1m'
            ? webgpu1mCalls
            : slowCalls;
      // tfjs first, so each fused row can set itself against it.
      const kind = JSON.parse(
        readFileSync(join(projectRoot, model.dir, 'manifest.json'), 'utf8'),
      ).kind;
      const paths: EnginePath[] =
        backend !== 'cpu' && isSequentialKind(kind) ? ['tfjs', 'fused'] : ['tfjs'];
      for (const path of paths) await benchModel(page, backend, model, n, path);
    }
    if (ctr.length > 0) {
      const n = ctrCalls ? Number(ctrCalls) : backend === 'wasm' ? calls : slowCalls;
      for (const row of await benchCtr(page, backend, ctr, n, step)) emit(row);
    }
    await session.close();
  }
} finally {
  await Promise.all(browsers.map((b) => b.close()));
  await server.close();
}
emit({
  set: 'end',
  seconds: r3((performance.now() - started) / 1000),
  loadavg_1m: r3(loadavg()[0]),
});
log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (!json) {
  printTable();
  printCtrTable(rows);
}
