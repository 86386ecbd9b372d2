/**
 * One pocketrec variant on one backend, through the client API exactly as a page uses it
 * (the engine runs in pocketrec's worker): open from the network, again from IndexedDB,
 * the first request, the correctness check, then the timed requests.
 */
import { createRecommender, type Recommender, type RecommenderInfo } from '../../index.ts';
import type { TopItem } from './correctness.ts';
import { jsHeapBytes } from './environment.ts';
import {
  K,
  type MeasureContext,
  type Measured,
  notRun,
  rowCorrectness,
  timed,
  wasmDetail,
} from './measurement.ts';
import type { VariantModel } from './models.ts';
import type { BenchBackend } from './params.ts';
import { summarize } from './stats.ts';

async function replay(rec: Recommender, history: readonly string[]): Promise<void> {
  await rec.clear();
  for (const item of history) await rec.track({ item });
}

const top = (answer: { item: string; score: number }[]): TopItem[] =>
  answer.map(({ item, score }) => ({ item, score }));

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = request.onerror = () => resolve();
    // Blocked until the worker's connection is gone; it goes with the worker.
    setTimeout(resolve, 2000);
  });
}

function ranOn(info: RecommenderInfo): { backend: string; detail: string | null } {
  const detail = info.adapter ?? (info.wasm ? wasmDetail(info.wasm) : null);
  return { backend: info.backend, detail };
}

export async function measurePocketrec(
  model: VariantModel,
  backend: BenchBackend,
  ctx: MeasureContext,
): Promise<Measured> {
  const { params, log } = ctx;
  const name = `pocketrec-bench-${ctx.runId}-${model.variant}-${backend}`;
  const databases = { models: `${name}-models`, history: `${name}-history` };
  const options = {
    model: model.url,
    backend,
    debug: true,
    databases,
    ...(model.materialiseRows ? { materialiseRows: model.materialiseRows } : {}),
  };
  let rec: Recommender | null = null;
  try {
    log(`${model.variant} on ${backend}: open from the network`);
    rec = await createRecommender(options);
    const fromNetwork = rec.info();
    if (fromNetwork.backend !== backend) {
      return {
        row: notRun(
          model.variant,
          backend,
          'unavailable',
          `pocketrec ran on ${fromNetwork.backend} instead: ${fromNetwork.warnings.join('; ')}`,
        ),
        answers: [],
      };
    }
    let indexeddbMs: number | null = null;
    if (params.idb) {
      log(`${model.variant} on ${backend}: open again from IndexedDB`);
      rec.dispose();
      rec = await createRecommender(options);
      const again = rec.info();
      if (again.source !== 'indexeddb') {
        throw new Error(
          `the second open came from ${again.source}, not IndexedDB (${again.warnings.join('; ')})`,
        );
      }
      indexeddbMs = again.timings.loadMs;
    }
    const info = rec.info();
    const debug = rec.debug as NonNullable<Recommender['debug']>;

    await replay(rec, [ctx.firstItem]);
    const first = await timed(() => (rec as Recommender).recommend({ k: K }));

    log(`${model.variant} on ${backend}: correctness check`);
    const answers: TopItem[][] = [];
    for (const history of ctx.checks) {
      await replay(rec, history);
      answers.push(top(await rec.recommend({ k: K, reuseEncoding: false })));
    }
    const correctness = rowCorrectness(ctx.checks, answers, ctx.reference);

    log(`${model.variant} on ${backend}: ${params.warmup} warm-up + ${params.runs} timed requests`);
    await replay(rec, ctx.warmHistory);
    // A whole window encoded afresh each time: what a history the engine has not seen costs.
    const warmRequest = { k: K, reuseEncoding: false };
    for (let i = 0; i < params.warmup; i++) await rec.recommend(warmRequest);
    const before = await debug.memory();
    const warmMs: number[] = [];
    for (let i = 0; i < params.runs; i++) {
      warmMs.push((await timed(() => (rec as Recommender).recommend(warmRequest))).ms);
    }

    log(`${model.variant} on ${backend}: ${ctx.steps.length} x track one event + recommend`);
    const incrementalMs: number[] = [];
    let reusedRuns = 0;
    for (const step of ctx.steps) {
      if (step.newSession) await rec.clear();
      const reusedBefore = rec.info().stats.reusedPositions;
      const current = rec;
      const { ms } = await timed(async () => {
        await current.track({ item: step.item });
        return current.recommend({ k: K });
      });
      incrementalMs.push(ms);
      if (rec.info().stats.reusedPositions > reusedBefore) reusedRuns++;
    }
    const after = await debug.memory();
    const last = rec.info();
    return {
      row: {
        variant: model.variant,
        backend,
        status: 'ok',
        reason: null,
        model: {
          name: info.model.name,
          url: model.url,
          kind: info.model.kind,
          numItems: info.model.numItems,
          bytes: info.model.bytes,
          params: info.model.params,
          scoring: info.scoring,
        },
        ran: ranOn(last),
        open: {
          downloadMs: fromNetwork.timings.loadMs,
          indexeddbMs,
          initMs: info.timings.initMs,
          warmupMs: info.timings.warmupMs,
          firstRecommendMs: first.ms,
        },
        warm: summarize(warmMs),
        incremental: { ...summarize(incrementalMs), reusedRuns },
        memory: {
          jsHeapBytes: jsHeapBytes(),
          tfBytes: after.numBytes,
          tensorsBefore: before.numTensors,
          tensorsAfter: after.numTensors,
          tensorsLeaked: after.numTensors - before.numTensors,
        },
        correctness,
        ratioToBaseline: { warmP50: null, incrementalP50: null },
        samples: { warmMs, incrementalMs },
      },
      answers,
    };
  } finally {
    rec?.dispose();
    await Promise.all([deleteDatabase(databases.models), deleteDatabase(databases.history)]);
  }
}
