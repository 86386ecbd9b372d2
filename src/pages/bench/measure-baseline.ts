/**
 * The baseline a developer would write without pocketrec, on the page's main thread: the
 * package's network as a tfjs LayersModel on a stock tfjs backend, kept with
 * `model.save('indexeddb://...')`, answering with `model.predict` (layers-baseline.ts).
 * Measured the same way as pocketrec's variants, step for step.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { readModelPackage, urlSource } from '../../index.ts';
import type { TopItem } from './correctness.ts';
import { jsHeapBytes } from './environment.ts';
import { LayersBaseline } from './layers-baseline.ts';
import {
  K,
  type MeasureContext,
  type Measured,
  rowCorrectness,
  timed,
  wasmDetail,
} from './measurement.ts';
import type { VariantModel } from './models.ts';
import type { BenchBackend } from './params.ts';
import { summarize } from './stats.ts';
import { useStockBackend } from './stock-backend.ts';

/** Item id <-> row of the package (ids "1".."N" when it has no id map). */
function itemIndex(itemIds: string[] | null) {
  const rows = itemIds ? new Map(itemIds.map((id, i) => [id, i + 1])) : null;
  const row = (id: string): number => {
    const r = rows ? rows.get(id) : Number(id);
    if (r === undefined || !Number.isInteger(r)) throw new Error(`unknown item ${id}`);
    return r;
  };
  return {
    rows: (ids: readonly string[]) => Int32Array.from(ids, row),
    id: (r: number) => (itemIds ? (itemIds[r - 1] as string) : String(r)),
  };
}

async function answer(
  baseline: LayersBaseline,
  index: ReturnType<typeof itemIndex>,
  history: readonly string[],
): Promise<TopItem[]> {
  const { rows, scores } = await baseline.recommend(index.rows(history), K);
  return Array.from(rows, (row, i) => ({ item: index.id(row), score: scores[i] as number }));
}

async function ranOn(): Promise<{ backend: string; detail: string | null }> {
  const backend = tf.getBackend();
  if (backend === 'webgpu') {
    const info = (tf.backend() as unknown as { adapterInfo?: Record<string, string> }).adapterInfo;
    const detail = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
    return { backend, detail: detail || null };
  }
  if (backend !== 'wasm') return { backend, detail: null };
  const [simd, threaded] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  ]);
  return {
    backend,
    detail: wasmDetail({
      simd: Boolean(simd),
      threaded: Boolean(simd && threaded),
      threads: getThreadsCount(),
    }),
  };
}

export async function measureBaseline(
  model: VariantModel,
  backend: BenchBackend,
  ctx: MeasureContext,
): Promise<Measured> {
  const { params, log } = ctx;
  const saved = `indexeddb://pocketrec-bench-${ctx.runId}-baseline-${backend}`;
  let baseline: LayersBaseline | null = null;
  try {
    log(`baseline on ${backend}: backend, download, build`);
    const backendInit = await timed(() => useStockBackend(backend));
    const download = await timed(() => readModelPackage(urlSource(model.url)));
    const pkg = download.value;
    const build = await timed(async () => LayersBaseline.fromPackage(pkg));
    baseline = build.value;
    let indexeddbMs: number | null = null;
    if (params.idb) {
      log(`baseline on ${backend}: model.save to IndexedDB, tf.loadLayersModel back`);
      await baseline.model.save(saved);
      const loaded = await timed(() => tf.loadLayersModel(saved));
      baseline.dispose();
      baseline = LayersBaseline.fromLayersModel(loaded.value);
      indexeddbMs = loaded.ms;
    }
    const index = itemIndex(pkg.itemIds);
    const current = baseline;
    // The first predict compiles (shaders on WebGPU) and allocates what later ones reuse.
    const warmup = await timed(() => current.recommend(index.rows([ctx.firstItem]), K));
    const first = await timed(() => current.recommend(index.rows([ctx.firstItem]), K));

    log(`baseline on ${backend}: correctness check`);
    const answers: TopItem[][] = [];
    for (const history of ctx.checks) answers.push(await answer(current, index, history));
    const correctness = rowCorrectness(ctx.checks, answers, ctx.reference);

    log(`baseline on ${backend}: ${params.warmup} warm-up + ${params.runs} timed requests`);
    const window = index.rows(ctx.warmHistory);
    for (let i = 0; i < params.warmup; i++) await current.recommend(window, K);
    const before = tf.memory().numTensors;
    const warmMs: number[] = [];
    for (let i = 0; i < params.runs; i++) {
      warmMs.push((await timed(() => current.recommend(window, K))).ms);
    }

    log(`baseline on ${backend}: ${ctx.steps.length} x append one event + predict`);
    const incrementalMs: number[] = [];
    let history: string[] = [];
    for (const step of ctx.steps) {
      if (step.newSession) history = [];
      const { ms } = await timed(() => {
        history.push(step.item);
        return current.recommend(index.rows(history), K);
      });
      incrementalMs.push(ms);
    }
    const memory = tf.memory();
    return {
      row: {
        variant: 'baseline',
        backend,
        status: 'ok',
        reason: null,
        model: {
          name: `${pkg.manifest.name} as a tf.LayersModel`,
          url: model.url,
          kind: 'tf.LayersModel',
          numItems: pkg.manifest.items.count,
          bytes: pkg.manifest.size.bytes,
          params: current.model.countParams(),
          scoring: 'layers',
        },
        ran: await ranOn(),
        open: {
          downloadMs: download.ms,
          indexeddbMs,
          initMs: backendInit.ms + build.ms,
          warmupMs: warmup.ms,
          firstRecommendMs: first.ms,
        },
        warm: summarize(warmMs),
        incremental: { ...summarize(incrementalMs), reusedRuns: null },
        memory: {
          jsHeapBytes: jsHeapBytes(),
          tfBytes: memory.numBytes,
          tensorsBefore: before,
          tensorsAfter: memory.numTensors,
          tensorsLeaked: memory.numTensors - before,
        },
        correctness,
        ratioToBaseline: { warmP50: null, incrementalP50: null },
        samples: { warmMs, incrementalMs },
      },
      answers,
    };
  } finally {
    baseline?.dispose();
    if (params.idb) await tf.io.removeModel(saved).catch(() => undefined);
  }
}
