/**
 * One bench run: every variant asked for on every backend asked for, the CPU backend
 * first because its answers are what the other backends are checked against; then each
 * row's ratio to the baseline on the same backend, and the report.
 */
import { checkAgainstReference, type TopItem } from './correctness.ts';
import { collectEnvironment } from './environment.ts';
import { measureBaseline } from './measure-baseline.ts';
import { measurePocketrec } from './measure-pocketrec.ts';
import { type MeasureContext, type Measured, notRun } from './measurement.ts';
import { catalogueOf, type VariantModel, variantModels } from './models.ts';
import { labelOf, notesOf } from './notes.ts';
import type { BenchBackend, BenchParams, Variant } from './params.ts';
import { type BenchEnvironment, type BenchReport, type BenchRow, REPORT_FORMAT } from './report.ts';
import {
  appendSteps,
  checkHistories,
  generatedSessions,
  knownOnly,
  meanLength,
  type Sessions,
  warmHistory,
} from './sessions.ts';
import { ratio } from './stats.ts';

export interface RunOptions {
  /** Sessions to replay (the runner's ML-1M users); else generated from the catalogue. */
  sessions?: Sessions;
  /** The browser's command-line flags, for the report. */
  flags?: string[];
  log?: (line: string) => void;
}

function availability(backend: BenchBackend, env: BenchEnvironment): string | null {
  if (backend === 'webgpu') return env.webgpu.available ? null : env.webgpu.reason;
  if (backend === 'wasm' && typeof WebAssembly !== 'object') return 'no WebAssembly here';
  return null;
}

async function measure(
  model: VariantModel,
  backend: BenchBackend,
  ctx: MeasureContext,
): Promise<Measured> {
  return model.variant === 'baseline'
    ? measureBaseline(model, backend, ctx)
    : measurePocketrec(model, backend, ctx);
}

/** CPU first: the other backends are checked against its answers. */
const ORDER: readonly BenchBackend[] = ['cpu', 'wasm', 'webgpu'];

/** One variant on every backend asked for, and its CPU answers (the reference). */
async function measureVariant(
  model: VariantModel,
  params: BenchParams,
  environment: BenchEnvironment,
  base: Omit<MeasureContext, 'reference'>,
): Promise<{ rows: BenchRow[]; reference: TopItem[][] | null }> {
  const { variant } = model;
  const { log } = base;
  let reference: TopItem[][] | null = null;
  if (!params.backends.includes('cpu')) {
    log(`${variant}: the CPU reference answers (untimed)`);
    try {
      const quick = { ...params, runs: 1, warmup: 0, idb: false };
      const context = { ...base, params: quick, steps: base.steps.slice(0, 1), reference: null };
      reference = (await measure(model, 'cpu', context)).answers;
    } catch (error) {
      log(`${variant}: no CPU reference: ${(error as Error).message}`);
    }
  }
  const rows: BenchRow[] = [];
  for (const backend of ORDER.filter((b) => params.backends.includes(b))) {
    const unavailable = availability(backend, environment);
    if (unavailable) {
      rows.push(notRun(variant, backend, 'unavailable', unavailable));
    } else if (backend !== 'cpu' && !reference) {
      rows.push(notRun(variant, backend, 'failed', 'no CPU answers to check it against'));
    } else {
      try {
        const measured = await measure(model, backend, { ...base, reference });
        rows.push(measured.row);
        if (backend === 'cpu') reference = measured.answers;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`${variant} on ${backend} failed: ${message}`);
        rows.push(notRun(variant, backend, 'failed', message));
      }
    }
  }
  return { rows, reference };
}

/** Each pocketrec row's ratio to the baseline on the same backend. */
function addRatios(rows: BenchRow[]): void {
  for (const row of rows) {
    const baseline = rows.find(
      (b) => b.variant === 'baseline' && b.backend === row.backend && b.status === 'ok',
    );
    if (row.variant === 'baseline' || row.status !== 'ok' || !baseline) continue;
    row.ratioToBaseline = {
      warmP50: ratio(baseline.warm?.p50Ms, row.warm?.p50Ms),
      incrementalP50: ratio(baseline.incremental?.p50Ms, row.incremental?.p50Ms),
    };
  }
}

export async function runBench(
  params: BenchParams,
  options: RunOptions = {},
): Promise<BenchReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const environment = await collectEnvironment(options.flags ?? []);
  const runId = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const models = variantModels(params.catalogue);
  const catalogue = await catalogueOf(models.tt.url, params);
  const known = catalogue.ids
    ? new Set(catalogue.ids)
    : { has: (id: string) => Number(id) >= 1 && Number(id) <= catalogue.numItems };
  const given =
    options.sessions ??
    generatedSessions(catalogue.ids, catalogue.numItems, {
      seed: params.seed,
      count: 40,
      length: catalogue.maxLen + 20,
    });
  const sessions = knownOnly(given.sessions, (id) => known.has(id));
  if (sessions.length === 0) throw new Error(`no session holds an item of ${models.tt.url}`);
  const base: Omit<MeasureContext, 'reference'> = {
    params,
    runId,
    checks: checkHistories(sessions, catalogue.maxLen),
    warmHistory: warmHistory(sessions, catalogue.maxLen),
    steps: appendSteps(sessions, catalogue.maxLen, params.runs),
    firstItem: (sessions.at(-1) as string[])[0] as string,
    log,
  };

  const rows: BenchRow[] = [];
  const references = new Map<Variant, TopItem[][]>();
  for (const variant of params.variants) {
    const measured = await measureVariant(models[variant], params, environment, base);
    rows.push(...measured.rows);
    if (measured.reference) references.set(variant, measured.reference);
  }
  addRatios(rows);
  const checked = rows.filter((r) => r.correctness && !r.correctness.isReference);
  const mismatched = checked.filter((r) => !r.correctness?.passed);
  const baselineAnswers = references.get('baseline');
  const denseAnswers = references.get('teacher');
  return {
    format: REPORT_FORMAT,
    createdAt: new Date().toISOString(),
    label: labelOf(environment),
    params,
    environment,
    sessions: { source: given.source, count: sessions.length, meanLength: meanLength(sessions) },
    notes: notesOf(environment, rows, params, given.source),
    correctness: {
      passed: mismatched.length === 0,
      checkedRows: checked.length,
      mismatchedRows: mismatched.length,
      baselineMatchesDense:
        baselineAnswers && denseAnswers
          ? checkAgainstReference(
              base.checks.map((h, i) => ({
                length: h.length,
                ours: baselineAnswers[i] as TopItem[],
                reference: denseAnswers[i] as TopItem[],
              })),
            ).passed
          : null,
    },
    rows,
    durationMs: performance.now() - started,
  };
}
