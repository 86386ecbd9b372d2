/**
 * The CTR rows of `npm run bench:engine`: rank requests of 100 candidates (one context,
 * the item varying; src/pages/bench/ctr-requests.ts) through the client API, per backend
 * and package: a ctr-dense package, ctr-pruned ones (Shaver) and cut-down ones (UMEC's
 * FLOPs budgets), each row with its ratio to the dense row of the same backend and run and
 * its package's FLOPs ratio (packageFlops: to the model it was cut from, 1 if it was not).
 * A benchmark: it prints, it asserts nothing.
 *
 * Packages: `--ctr <dir>,<dir>,...` (directories under the project), else every CTR
 * package in models/, else the generated ones of scripts/generate-ctr-models.ts (written to
 * runs/bench/ctr-frappe at `--ctr-sparsity`, default 0.5,0.8,0.95, when missing; needs the
 * frappe data). `--ctr none` leaves the CTR rows out. To those, the first dense package
 * (not itself cut down) cut to each `--ctr-flops-budget` (default 0.5,0.35,0.2,0.1; `none`
 * for no such rows) by magnitude without fine-tuning (generateCutCtrModels), written to
 * runs/bench/ctr-frappe/<its folder>-f<budget> when missing or cut from another version.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Page } from 'playwright-core';
import { checkCtrPackage, UNPRUNED_FLOPS_KEY } from '../src/model/ctr/package.ts';
import { CTR_PRUNED_KIND, checkCtrPrunedPackage } from '../src/model/ctr/pruned-package.ts';
import { packageFlops } from '../src/model/package-flops.ts';
import { directorySource } from '../src/package/node-fs.ts';
import { readModelPackage } from '../src/package/reader.ts';
import { CTR_BENCH_REQUEST_DEFAULTS, ctrBenchRequests } from '../src/pages/bench/ctr-requests.ts';
import type { RankInput } from '../src/runtime/ctr-request.ts';
import type { BackendName } from '../src/runtime/engine/backend.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../src/runtime/engine/engine.ts';
import type { MemoryReport } from '../src/runtime/protocol.ts';
import { projectRoot } from '../test/browser/harness.ts';
import {
  CTR_BENCH_DEFAULTS,
  CTR_BENCH_DIR,
  ctrBenchPackageDir,
  generateCtrModels,
  generateCutCtrModels,
} from './generate-ctr-models.ts';

export interface CtrPackage {
  key: string;
  url: string;
  dir: string;
  kind: string;
  /** 0 for ctr-dense. */
  sparsity: number;
  /** Multiply-adds of one row (packageFlops). */
  flops: number;
  /** flops over the model's it was cut from (1 if it was not cut down). */
  flopsRatio: number;
  packageBytes: number;
  embeddingBytes: number;
  requests: RankInput[];
}

export const CTR_BENCH_OPTIONS = { warmup: 3 } as const;

type Row = Record<string, unknown>;

function manifestOf(dir: string): { kind: string; architecture: Record<string, unknown> } | null {
  const file = join(dir, 'manifest.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

function isCtrDir(dir: string): boolean {
  return manifestOf(dir)?.kind.startsWith('ctr-') ?? false;
}

/** A ctr-dense package that was not cut down from another: what the budgets cut. */
function isUncutDense(dir: string): boolean {
  const manifest = manifestOf(dir);
  return manifest?.kind === 'ctr-dense' && !(UNPRUNED_FLOPS_KEY in manifest.architecture);
}

/**
 * The package directories to rank with (see the header), then the first uncut dense one's
 * cut to each of `budgets`.
 */
export async function ctrPackageDirs(
  option: string | undefined,
  sparsities: readonly number[],
  budgets: readonly number[],
  log: (line: string) => void,
): Promise<string[]> {
  const dirs = await sourceDirs(option, sparsities, log);
  const dense = dirs.find(isUncutDense);
  if (budgets.length === 0 || !dense) return dirs;
  try {
    const cut = await generateCutCtrModels({
      dense,
      out: join(projectRoot, CTR_BENCH_DIR),
      budgets,
    });
    return [...dirs, ...cut.filter((dir) => !dirs.includes(dir))];
  } catch (error) {
    log(
      `no FLOPs-budget rows: ${relative(projectRoot, dense)} could not be cut down (${(error as Error).message})`,
    );
    return dirs;
  }
}

async function sourceDirs(
  option: string | undefined,
  sparsities: readonly number[],
  log: (line: string) => void,
): Promise<string[]> {
  if (option === 'none') return [];
  if (option) return option.split(',').map((d) => resolve(d));
  const models = join(projectRoot, 'models');
  const shipped = readdirSync(models)
    .map((name) => join(models, name))
    .filter(isCtrDir);
  if (shipped.length > 0) return shipped;
  const generated = [0, ...sparsities].map((s) =>
    ctrBenchPackageDir(join(projectRoot, CTR_BENCH_DIR), s),
  );
  if (generated.every(isCtrDir)) return generated;
  log(`no CTR package in models/: generating ${CTR_BENCH_DIR} (sparsity ${sparsities.join(', ')})`);
  try {
    return await generateCtrModels({ out: join(projectRoot, CTR_BENCH_DIR), sparsities });
  } catch (error) {
    log(`no CTR rows: the packages could not be generated (${(error as Error).message})`);
    return [];
  }
}

/** Each package's figures and its requests, drawn from its own schema and vocabularies. */
export async function ctrPackages(
  dirs: readonly string[],
  candidates: number,
): Promise<CtrPackage[]> {
  const out: CtrPackage[] = [];
  for (const dir of dirs) {
    const rel = relative(projectRoot, dir);
    if (rel.startsWith('..'))
      throw new Error(`${dir} is not under ${projectRoot}: the server cannot serve it`);
    const pkg = await readModelPackage(directorySource(dir));
    const { manifest } = pkg;
    const pruned = manifest.kind === CTR_PRUNED_KIND;
    const schema = pruned ? checkCtrPrunedPackage(pkg).model.schema : checkCtrPackage(pkg).schema;
    const sparsity = pruned ? Number(manifest.architecture.sparsity) : 0;
    const work = packageFlops(manifest, DEFAULT_ENGINE_OPTIONS);
    out.push({
      // The package and its folder: generated packages are named by sparsity alone.
      key: `${basename(dirname(dir))}/${basename(dir)}`,
      url: `/${rel.split(sep).join('/')}`,
      dir,
      kind: manifest.kind,
      sparsity,
      flops: work?.flops ?? Number.NaN,
      flopsRatio: work?.flopsRatio ?? 1,
      packageBytes: manifest.size.bytes,
      embeddingBytes: manifest.size.embeddingBytes,
      requests: ctrBenchRequests(schema, { candidates }),
    });
  }
  // The dense row first (the others' ratios are to it), then Shaver's by sparsity, then
  // the cut-down ones from the largest FLOPs budget down.
  return out.sort(
    (a, b) =>
      Number(a.flopsRatio < 1) - Number(b.flopsRatio < 1) ||
      b.flopsRatio - a.flopsRatio ||
      a.sparsity - b.sparsity,
  );
}

export const CTR_CANDIDATES = CTR_BENCH_REQUEST_DEFAULTS.candidates;
export const CTR_SPARSITIES = CTR_BENCH_DEFAULTS.sparsities;
export const CTR_FLOPS_BUDGETS = CTR_BENCH_DEFAULTS.flopsBudgets;

const r3 = (x: number | null | undefined): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000;

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (at - lo);
}

/** The CTR rows of one backend, each pruned row with its ratios to the dense row. */
export async function benchCtr(
  page: Page,
  backend: BackendName,
  packages: readonly CtrPackage[],
  calls: number,
  step: <T>(what: string, run: () => Promise<T>) => Promise<T>,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const p of packages) {
    const label = `${backend} ${p.key}`;
    const db = `bench-ctr-${backend}-${p.key}-${Date.now()}`;
    const opened = await step(`${label}: open`, () =>
      page.evaluate((a) => window.bench.open(a), {
        model: p.url,
        backend,
        db,
        firstItem: '',
        reopen: false,
        // CTR models have no fused path: the flag changes nothing for them.
        fused: true,
      }),
    );
    const timed = await step(
      `${label}: ${calls} x rank(${p.requests[0]?.candidates.length} candidates)`,
      () =>
        page.evaluate((a) => window.bench.rank(a), {
          requests: p.requests,
          calls,
          warmup: CTR_BENCH_OPTIONS.warmup,
        }),
    );
    const memory: MemoryReport = await page.evaluate(() => window.bench.memory());
    await page.evaluate(() => window.bench.close());
    rows.push({
      set: 'ctr-rank',
      backend,
      active_backend: opened.backend,
      model: p.key,
      kind: p.kind,
      sparsity: r3(p.sparsity),
      flops: p.flops,
      flops_ratio: r3(p.flopsRatio),
      candidates: p.requests[0]?.candidates.length ?? 0,
      calls: timed.workerMs.length,
      p50_ms: r3(quantile(timed.workerMs, 0.5)),
      p95_ms: r3(quantile(timed.workerMs, 0.95)),
      rt_p50_ms: r3(quantile(timed.rtMs, 0.5)),
      rt_p95_ms: r3(quantile(timed.rtMs, 0.95)),
      encode_p50_ms: r3(quantile(timed.encodeMs, 0.5)),
      score_p50_ms: r3(quantile(timed.scoreMs, 0.5)),
      load_ms: r3(opened.networkMs as number),
      package_bytes: p.packageBytes,
      embedding_bytes: p.embeddingBytes,
      tf_bytes: memory.numBytes,
      peak_bytes: memory.peakBytes,
      ...(backend === 'webgpu' ? { note: 'swiftshader: correctness only' } : {}),
    });
  }
  return withRatios(rows);
}

/** Each row's p50, p95 and bytes over the dense row's (the first uncut ctr-dense row). */
function withRatios(rows: Row[]): Row[] {
  const dense = rows.find((r) => r.kind === 'ctr-dense' && r.flops_ratio === 1);
  if (!dense) return rows;
  const ratio = (row: Row, key: string) => r3((row[key] as number) / (dense[key] as number));
  return rows.map((row) => ({
    ...row,
    dense: dense.model,
    p50_vs_dense: ratio(row, 'p50_ms'),
    p95_vs_dense: ratio(row, 'p95_ms'),
    package_bytes_vs_dense: ratio(row, 'package_bytes'),
  }));
}

export function printCtrTable(rows: readonly Row[]): void {
  const ctr = rows.filter((r) => r.set === 'ctr-rank');
  if (ctr.length === 0) return;
  const f = (x: unknown, digits = 3) => (typeof x === 'number' ? x.toFixed(digits) : '-');
  const mb = (x: unknown) => (typeof x === 'number' ? `${(x / 1e6).toFixed(2)} MB` : '-');
  console.log(
    `\nCTR ranking (ms inside the worker; ${ctr[0]?.candidates} candidates a request; ratios to the dense row of the same backend and run)`,
  );
  console.log(
    `${'backend'.padEnd(8)}${'model'.padEnd(34)}${'sparsity'.padStart(9)}${'flops'.padStart(7)}${'calls'.padStart(6)}${'p50'.padStart(9)}${'p95'.padStart(9)}${'p50/dense'.padStart(10)}${'p95/dense'.padStart(10)}${'package'.padStart(11)}${'bytes/dense'.padStart(12)}`,
  );
  for (const r of ctr) {
    console.log(
      `${String(r.backend).padEnd(8)}${String(r.model).padEnd(34)}${f(r.sparsity, 2).padStart(9)}${f(r.flops_ratio, 2).padStart(7)}${f(r.calls, 0).padStart(6)}${f(r.p50_ms).padStart(9)}${f(r.p95_ms).padStart(9)}${f(r.p50_vs_dense, 2).padStart(10)}${f(r.p95_vs_dense, 2).padStart(10)}${mb(r.package_bytes).padStart(11)}${f(r.package_bytes_vs_dense, 2).padStart(12)}${r.note ? `  (${r.note})` : ''}`,
    );
  }
  console.log(
    "flops: the package's FLOPs a row over the model's it was cut from (pocketrec info's flopsRatio; 1: not cut down)",
  );
}
