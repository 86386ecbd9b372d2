// The page of `npm run bench:engine` (scripts/bench-engine.ts): functions on `window.bench`
// that the script calls with page.evaluate. They drive the client API exactly as a page
// would, and the layers baseline in a worker of its own; every figure
// goes back raw (one number per request) and the script does the statistics.
import { createRecommender, type Recommender } from '../../../runtime/client.ts';
import type { RankInput } from '../../../runtime/ctr-request.ts';
import type { BackendName } from '../../../runtime/engine/backend.ts';
import type { MemoryReport } from '../../../runtime/protocol.ts';
import { measureMessaging } from './messaging.ts';
import { type RpcClient, rpcClient } from './rpc.ts';
import { measureSimdRate } from './simd-rate.ts';
import { measureWebgpuFloor } from './webgpu-floor.ts';

export type Pattern = 'track' | 'repeat' | 'slide';

export interface PatternArgs {
  pattern: Pattern;
  /** Sessions of external item ids, oldest first. */
  sessions: string[][];
  calls: number;
  /** Events per session in 'track' (the window: maxLen); the preloaded length in 'slide'. */
  cap: number;
}

/** One request of a pattern: what the history becomes, then a timed recommend. */
interface Step {
  /** Start over with this history (untimed): a new session. */
  reset: string[] | null;
  /** The event tracked just before the request. */
  add: string | null;
  /** The whole history at the request. */
  history: string[];
}

/**
 * 'track': each session's events one at a time, a request after each (the first request
 * of a session has one event). 'slide': sessions longer than `cap` start with `cap` events,
 * then the same; the window is full, so each new event slides it. 'repeat': one full
 * window, the same request again and again.
 */
function* steps({ pattern, sessions, calls, cap }: PatternArgs): Generator<Step> {
  let made = 0;
  if (pattern === 'repeat') {
    const history = (sessions.find((s) => s.length >= cap) ?? (sessions[0] as string[])).slice(
      0,
      cap,
    );
    for (; made < calls; made++) yield { reset: made === 0 ? history : null, add: null, history };
    return;
  }
  for (;;) {
    let any = false;
    for (const session of sessions) {
      const start = pattern === 'slide' ? cap : 0;
      const end = pattern === 'slide' ? session.length : Math.min(session.length, cap);
      if (end <= start) continue;
      any = true;
      for (let i = start; i < end; i++) {
        yield {
          reset: i === start ? session.slice(0, start) : null,
          add: session[i] as string,
          history: session.slice(0, i + 1),
        };
        if (++made >= calls) return;
      }
    }
    if (!any) throw new Error(`no session fits the '${pattern}' pattern (cap ${cap})`);
  }
}

let rec: Recommender | null = null;
let baseline: {
  rpc: RpcClient;
  rows: (ids: string[]) => Int32Array;
  id(row: number): string;
} | null = null;

function current(): Recommender {
  if (!rec) throw new Error('no recommender is open');
  return rec;
}

function rowMapper(itemIds: string[] | null) {
  const index = itemIds ? new Map(itemIds.map((id, i) => [id, i + 1])) : null;
  const row = (id: string): number => {
    const r = index ? index.get(id) : Number(id);
    if (r === undefined || !Number.isInteger(r)) throw new Error(`unknown item ${id}`);
    return r;
  };
  return {
    rows: (ids: string[]) => Int32Array.from(ids, row),
    id: (r: number) => (itemIds ? (itemIds[r - 1] as string) : String(r)),
  };
}

async function open(args: {
  model: string;
  backend: BackendName;
  db: string;
  firstItem: string;
  /** Open again from IndexedDB (false: keep the first, network, open). */
  reopen: boolean;
  /** The fused WASM kernels where they apply (false: tfjs's ops). */
  fused: boolean;
}): Promise<Record<string, unknown>> {
  const options = {
    model: args.model,
    backend: args.backend,
    fused: args.fused,
    debug: true,
    databases: { models: `${args.db}-models`, history: `${args.db}-history` },
  };
  let started = performance.now();
  const first = await createRecommender(options);
  const networkMs = performance.now() - started;
  const firstInfo = first.info();
  let indexeddbMs: number | null = null;
  if (args.reopen) {
    first.dispose();
    started = performance.now();
    rec = await createRecommender(options);
    indexeddbMs = performance.now() - started;
  } else {
    rec = first;
  }
  const info = rec.info();
  const memory = await (rec.debug as NonNullable<Recommender['debug']>).memory();
  // A CTR model has no history to recommend after: its first request is timed by rank().
  const firstRequest = info.scoring === 'ctr' ? null : await firstRecommend(rec, args.firstItem);
  return {
    networkMs,
    networkSource: firstInfo.source,
    networkLoadMs: firstInfo.timings.loadMs,
    networkWarmupMs: firstInfo.timings.warmupMs,
    indexeddbMs,
    indexeddbSource: args.reopen ? info.source : null,
    indexeddbLoadMs: args.reopen ? info.timings.loadMs : null,
    warmupMs: info.timings.warmupMs,
    firstMs: firstRequest?.workerMs ?? null,
    firstRtMs: firstRequest?.rtMs ?? null,
    backend: info.backend,
    adapter: info.adapter,
    scoring: info.scoring,
    incremental: info.incremental,
    model: info.model,
    warnings: info.warnings,
    memory,
  };
}

async function firstRecommend(r: Recommender, item: string) {
  await r.clear();
  await r.track({ item });
  const started = performance.now();
  await r.recommend({ k: 10 });
  const rtMs = performance.now() - started;
  const workerMs = r.info().timings.lastWorkerMs;
  await r.clear();
  return { rtMs, workerMs };
}

/**
 * A CTR model: `calls` rank requests, cycling through `requests`, after `warmup` untimed
 * ones (the first request of a shape compiles shaders on WebGPU).
 */
async function rank(args: { requests: RankInput[]; calls: number; warmup: number }) {
  const r = current();
  const workerMs: number[] = [];
  const encodeMs: number[] = [];
  const scoreMs: number[] = [];
  const rtMs: number[] = [];
  for (let i = -args.warmup; i < args.calls; i++) {
    const request = args.requests[(i + args.warmup) % args.requests.length] as RankInput;
    const started = performance.now();
    await r.rank(request);
    if (i < 0) continue;
    rtMs.push(performance.now() - started);
    const { timings } = r.info();
    workerMs.push(timings.lastWorkerMs as number);
    encodeMs.push(timings.lastEncodeMs as number);
    scoreMs.push(timings.lastScoreMs as number);
  }
  return { workerMs, encodeMs, scoreMs, rtMs };
}

/**
 * Runs a pattern through the client API. With `paired`, the layers baseline answers the
 * same history right after each request, so both see the same load on the machine.
 */
async function pattern(args: PatternArgs & { paired?: boolean }) {
  const r = current();
  const b = args.paired ? currentBaseline() : null;
  const workerMs: number[] = [];
  const encodeMs: number[] = [];
  const scoreMs: number[] = [];
  const rtMs: number[] = [];
  const reused: number[] = [];
  const baselineWorkerMs: number[] = [];
  const baselineRtMs: number[] = [];
  let last: Int32Array = new Int32Array(0);
  const debug = r.debug as NonNullable<Recommender['debug']>;
  // From here, what the requests ask of the GPU (null without WebGPU in the worker).
  await debug.webgpuCalls();
  for (const step of steps(args)) {
    if (step.reset) {
      await r.clear();
      for (const item of step.reset) await r.track({ item });
    }
    if (step.add !== null) await r.track({ item: step.add });
    const before = r.info().stats.reusedPositions;
    let started = performance.now();
    await r.recommend({ k: 10 });
    rtMs.push(performance.now() - started);
    const info = r.info();
    workerMs.push(info.timings.lastWorkerMs as number);
    encodeMs.push(info.timings.lastEncodeMs as number);
    scoreMs.push(info.timings.lastScoreMs as number);
    reused.push(info.stats.reusedPositions - before);
    if (b) {
      last = b.rows(step.history);
      started = performance.now();
      const result = await b.rpc.call<{ ms: number }>('recommend', { history: last, k: 10 });
      baselineRtMs.push(performance.now() - started);
      baselineWorkerMs.push(result.ms);
    }
  }
  const gpu = await debug.webgpuCalls();
  const baselineMemory = b ? await b.rpc.call<MemoryReport>('memory', { history: last }) : null;
  return {
    gpu,
    workerMs,
    encodeMs,
    scoreMs,
    rtMs,
    reused,
    baseline: b ? { workerMs: baselineWorkerMs, rtMs: baselineRtMs, memory: baselineMemory } : null,
  };
}

/** The round trip of `calls` worker calls that do nothing: the messaging's floor. */
async function echo(args: { calls: number }): Promise<number[]> {
  const debug = current().debug as NonNullable<Recommender['debug']>;
  const rtMs: number[] = [];
  for (let i = -5; i < args.calls; i++) {
    const started = performance.now();
    await debug.ping();
    if (i >= 0) rtMs.push(performance.now() - started);
  }
  return rtMs;
}

function memory(): Promise<MemoryReport> {
  return (current().debug as NonNullable<Recommender['debug']>).memory();
}

function close(): void {
  rec?.dispose();
  rec = null;
}

async function baselineOpen(args: { model: string; backend: BackendName }) {
  const rpc = rpcClient(
    new Worker(new URL('./layers-baseline.worker.ts', import.meta.url), {
      type: 'module',
      name: 'layers-baseline',
    }),
  );
  const opened = await rpc.call<{ itemIds: string[] | null } & Record<string, unknown>>(
    'open',
    args,
  );
  baseline = { rpc, ...rowMapper(opened.itemIds) };
  const { itemIds: _, ...rest } = opened;
  return rest;
}

function currentBaseline() {
  if (!baseline) throw new Error('no baseline is open');
  return baseline;
}

/** The runtime's top-10 against the baseline's on each history. */
async function baselineCheck(args: { histories: string[][] }) {
  const r = current();
  const b = currentBaseline();
  const checks = [];
  for (const history of args.histories) {
    await r.clear();
    for (const item of history) await r.track({ item });
    const ours = await r.recommend({ k: 10 });
    const theirs = await b.rpc.call<{ rows: Int32Array; scores: Float32Array }>('recommend', {
      history: b.rows(history),
      k: 10,
    });
    const theirIds = Array.from(theirs.rows, (row) => b.id(row));
    let maxScoreDiff = 0;
    ours.forEach((o, i) => {
      maxScoreDiff = Math.max(maxScoreDiff, Math.abs(o.score - (theirs.scores[i] as number)));
    });
    checks.push({
      length: history.length,
      agrees: ours.map((o) => o.item).join() === theirIds.join(),
      pocketrec: ours.map((o) => o.item),
      baseline: theirIds,
      maxScoreDiff,
    });
  }
  await r.clear();
  return checks;
}

async function baselineClose() {
  if (!baseline) return;
  await baseline.rpc.call('close');
  baseline.rpc.close();
  baseline = null;
}

declare global {
  interface Window {
    bench: {
      open: typeof open;
      pattern: typeof pattern;
      rank: typeof rank;
      memory: typeof memory;
      echo: typeof echo;
      simdRate: typeof measureSimdRate;
      messaging: typeof measureMessaging;
      webgpuFloor: typeof measureWebgpuFloor;
      close: typeof close;
      baselineOpen: typeof baselineOpen;
      baselineCheck: typeof baselineCheck;
      baselineClose: typeof baselineClose;
    };
  }
}

window.bench = {
  open,
  pattern,
  rank,
  memory,
  echo,
  simdRate: measureSimdRate,
  messaging: measureMessaging,
  webgpuFloor: measureWebgpuFloor,
  close,
  baselineOpen,
  baselineCheck,
  baselineClose,
};
document.body.dataset.ready = 'true';
