/**
 * bench.html's CTR section: rank() of 100 candidates through the client API, per backend
 * and package, a dense CTR package against pruned ones (Shaver) and cut-down ones (UMEC's
 * FLOPs budgets), each row with its p50 and p95 over the dense row's of the same backend
 * and run and its package's FLOPs ratio (packageFlops: to the model it was cut from, 1 if
 * it was not; the same figures as the CTR rows of `npm run bench:engine`, which logs the
 * address of its packages here). Its own URL parameters, so the next-item run is untouched:
 *
 *   bench.html?ctr=/runs/bench/ctr-frappe/dense,/runs/bench/ctr-frappe/s0.8,
 *             /runs/bench/ctr-frappe/dense-f0.35&ctrruns=50&backends=wasm,webgpu&ctrrun=1
 *
 * The requests come from each package's own schema and vocabularies (ctr-requests.ts).
 */
import { checkCtrPackage } from '../../model/ctr/package.ts';
import { CTR_PRUNED_KIND, checkCtrPrunedPackage } from '../../model/ctr/pruned-package.ts';
import { packageFlops } from '../../model/package-flops.ts';
import { readModelPackage } from '../../package/reader.ts';
import { urlSource } from '../../package/source.ts';
import { createRecommender } from '../../runtime/client.ts';
import type { RankInput } from '../../runtime/ctr-request.ts';
import { ctrBenchRequests } from './ctr-requests.ts';
import type { BenchBackend } from './params.ts';
import { quantile } from './stats.ts';

export interface CtrBenchParams {
  /** Package URLs; the first ctr-dense one not cut down is what the others are compared with. */
  packages: string[];
  backends: BenchBackend[];
  warmup: number;
  runs: number;
}

export const CTR_BENCH_DEFAULTS = { warmup: 3, runs: 50 } as const;

export interface CtrBenchRow {
  backend: BenchBackend;
  url: string;
  kind: string;
  sparsity: number;
  /** The package's FLOPs a row over the model's it was cut from (1: not cut down). */
  flopsRatio: number;
  packageBytes: number;
  status: 'ok' | 'failed';
  error?: string;
  candidates: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p50VsDense: number | null;
  p95VsDense: number | null;
}

/** The CTR run the URL asks for (null: none), and whether to start it at once. */
export function parseCtrParams(
  search: URLSearchParams,
  backends: BenchBackend[],
): { params: CtrBenchParams; autorun: boolean } | null {
  const packages = (search.get('ctr') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (packages.length === 0) return null;
  const runs = Number(search.get('ctrruns') ?? CTR_BENCH_DEFAULTS.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`ctrruns must be a positive integer`);
  return {
    params: { packages, backends, warmup: CTR_BENCH_DEFAULTS.warmup, runs },
    autorun: search.get('ctrrun') === '1',
  };
}

interface Prepared {
  url: string;
  kind: string;
  sparsity: number;
  flopsRatio: number;
  packageBytes: number;
  requests: RankInput[];
}

/** A package's figures and requests from its own (verified) files. */
async function prepare(url: string): Promise<Prepared> {
  const pkg = await readModelPackage(urlSource(url));
  const { manifest } = pkg;
  const pruned = manifest.kind === CTR_PRUNED_KIND;
  const schema = pruned ? checkCtrPrunedPackage(pkg).model.schema : checkCtrPackage(pkg).schema;
  return {
    url,
    kind: manifest.kind,
    sparsity: pruned ? Number(manifest.architecture.sparsity) : 0,
    // materialiseRows is for sequence models' tables; a CTR package has none.
    flopsRatio: packageFlops(manifest, { materialiseRows: 0 })?.flopsRatio ?? 1,
    packageBytes: manifest.size.bytes,
    requests: ctrBenchRequests(schema),
  };
}

/** Worker-side milliseconds of `runs` rank requests after `warmup` untimed ones. */
async function timeRanks(p: Prepared, backend: BenchBackend, params: CtrBenchParams) {
  const rec = await createRecommender({
    model: p.url,
    backend,
    databases: { models: `bench-ctr-${backend}`, history: 'bench-ctr-history' },
  });
  try {
    const times: number[] = [];
    for (let i = -params.warmup; i < params.runs; i++) {
      await rec.rank(p.requests[(i + params.warmup) % p.requests.length] as RankInput);
      if (i >= 0) times.push(rec.info().timings.lastWorkerMs as number);
    }
    return times;
  } finally {
    rec.dispose();
  }
}

export async function runCtrBench(
  params: CtrBenchParams,
  log: (line: string) => void,
): Promise<CtrBenchRow[]> {
  const prepared: Prepared[] = [];
  for (const url of params.packages) prepared.push(await prepare(url));
  // The dense package first (the others' ratios are to it), then the pruned ones by
  // sparsity, then the cut-down ones from the largest FLOPs budget down.
  prepared.sort(
    (a, b) =>
      Number(a.flopsRatio < 1) - Number(b.flopsRatio < 1) ||
      b.flopsRatio - a.flopsRatio ||
      a.sparsity - b.sparsity,
  );
  const rows: CtrBenchRow[] = [];
  for (const backend of params.backends) {
    const ofBackend: CtrBenchRow[] = [];
    for (const p of prepared) {
      log(`ctr: ${p.url} on ${backend}, ${params.runs} x rank`);
      const base = {
        backend,
        url: p.url,
        kind: p.kind,
        sparsity: p.sparsity,
        flopsRatio: p.flopsRatio,
        packageBytes: p.packageBytes,
        candidates: p.requests[0]?.candidates.length ?? 0,
        p50VsDense: null,
        p95VsDense: null,
      };
      try {
        const times = await timeRanks(p, backend, params);
        ofBackend.push({
          ...base,
          status: 'ok',
          p50Ms: quantile(times, 0.5),
          p95Ms: quantile(times, 0.95),
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        ofBackend.push({ ...base, status: 'failed', error: message, p50Ms: null, p95Ms: null });
      }
    }
    rows.push(...withRatios(ofBackend));
  }
  return rows;
}

function withRatios(rows: CtrBenchRow[]): CtrBenchRow[] {
  const dense = rows.find((r) => r.kind === 'ctr-dense' && r.flopsRatio === 1 && r.status === 'ok');
  const ratio = (a: number | null, b: number | null | undefined) =>
    a === null || !b ? null : a / b;
  return rows.map((r) => ({
    ...r,
    p50VsDense: ratio(r.p50Ms, dense?.p50Ms),
    p95VsDense: ratio(r.p95Ms, dense?.p95Ms),
  }));
}

const COLUMNS: [string, (r: CtrBenchRow) => string][] = [
  ['backend', (r) => r.backend],
  ['package', (r) => r.url],
  ['sparsity', (r) => r.sparsity.toFixed(2)],
  ['FLOPs ratio', (r) => r.flopsRatio.toFixed(2)],
  ['p50 ms', (r) => r.p50Ms?.toFixed(2) ?? r.error ?? '-'],
  ['p95 ms', (r) => r.p95Ms?.toFixed(2) ?? '-'],
  ['p50 / dense', (r) => r.p50VsDense?.toFixed(2) ?? '-'],
  ['p95 / dense', (r) => r.p95VsDense?.toFixed(2) ?? '-'],
  ['package', (r) => `${(r.packageBytes / 1e6).toFixed(2)} MB`],
];

export function renderCtrTable(table: HTMLTableElement, rows: readonly CtrBenchRow[]): void {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const [header] of COLUMNS)
    head.append(Object.assign(document.createElement('th'), { textContent: header }));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    if (row.status !== 'ok') tr.className = 'not-run';
    for (const [, text] of COLUMNS) tr.insertCell().textContent = text(row);
  }
}
