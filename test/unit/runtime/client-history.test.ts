// createRecommender's mirror of the stored history, in Node: the real worker host behind a
// fake Worker (two-stage-fixtures.ts), fake-indexeddb, Node's BroadcastChannel between two
// history connections as between two tabs. The history is read while the model still opens,
// so another tab's event in between must not be lost from the mirror the requests read.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../../../src/kernels/wasm/backend.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { createRecommender, type Recommender } from '../../../src/runtime/client.ts';
import { openHistoryStore } from '../../../src/runtime/history-store.ts';
import type { WorkerRequest } from '../../../src/runtime/protocol.ts';
import { fakeServer, ITEM_IDS, retrievalPackage, spawnIn } from './two-stage-fixtures.ts';

const MODEL = 'https://shop.test/models/retrieval/';

let retrieval: SequentialModel;
let server: ReturnType<typeof fakeServer>;
const open: Recommender[] = [];

beforeAll(async () => {
  await useWasmBackend();
  const built = await retrievalPackage();
  retrieval = built.model;
  server = fakeServer();
  server.serve(MODEL, built.files);
});

afterAll(() => {
  for (const rec of open) rec.dispose();
  tf.dispose([...Object.values(retrieval.encoder), ...Object.values(retrieval.items.weights)]);
});

describe('createRecommender: the history mirror', () => {
  it("another tab's event while the model is still opening reaches the first request", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The model's download waits for the gate: the history is read long before it opens.
    const gated = {
      fetch: async (input: RequestInfo | URL) => {
        await gate;
        return server.fetch(input);
      },
    };
    const databases = { models: 'mirror-models', history: 'mirror-history' };
    const opening = createRecommender({
      model: MODEL,
      backend: 'wasm',
      spawnWorker: spawnIn(gated),
      databases,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const otherTab = await openHistoryStore({
      dbName: databases.history,
      isKnownItem: (id) => ITEM_IDS.includes(id),
    });
    const item = ITEM_IDS[4] as string;
    await otherTab.append({ item });
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    const rec = await opening;
    open.push(rec);
    otherTab.close();

    const top = await rec.recommend({ k: 5 });
    // With the event: the model's answer, the seen item left out. Without: the prior's.
    expect(top.map((r) => r.reason)).toEqual(Array(5).fill('model'));
    expect(top.map((r) => r.item)).not.toContain(item);
  });
});

describe('createRecommender: the worker keeps a copy of the history', () => {
  /** The recommend messages a worker was sent; `forget` makes it drop its copy once. */
  function watchedWorkers() {
    const sent: WorkerRequest[] = [];
    const control = { forget: false };
    const spawn = () => {
      const worker = spawnIn(server)();
      const post = worker.postMessage.bind(worker);
      worker.postMessage = ((message: WorkerRequest, transfer?: Transferable[]) => {
        if (message.type === 'recommend') {
          sent.push(message);
          if (control.forget && message.history.kind === 'delta') {
            control.forget = false;
            // As a worker that holds another copy than the page thinks.
            message = { ...message, history: { ...message.history, rev: message.history.rev + 1 } };
          }
        }
        post(message, transfer ?? []);
      }) as Worker['postMessage'];
      return worker;
    };
    return { sent, control, spawn };
  }

  it('sends the new event alone, and the whole history to a worker without the copy', async () => {
    const databases = { models: 'copy-models', history: 'copy-history' };
    const watched = watchedWorkers();
    const rec = await createRecommender({
      model: MODEL,
      backend: 'wasm',
      spawnWorker: watched.spawn,
      databases,
    });
    open.push(rec);
    const top5 = async (r: Recommender) => (await r.recommend({ k: 5 })).map((x) => x.item);
    let answer: string[] = [];
    for (const item of ITEM_IDS.slice(0, 6)) {
      await rec.track({ item });
      answer = await top5(rec);
    }
    const kinds = () => watched.sent.map((m) => (m.type === 'recommend' ? m.history.kind : ''));
    expect(kinds()).toEqual(['whole', 'delta', 'delta', 'delta', 'delta', 'delta']);
    const last = watched.sent.at(-1);
    expect(last?.type === 'recommend' && Array.from(last.history.rows)).toEqual([6]);
    // The same answer as a recommender (a new worker) sent the whole history.
    await rec.flush();
    const fresh = await createRecommender({
      model: MODEL,
      backend: 'wasm',
      spawnWorker: spawnIn(server),
      databases,
    });
    open.push(fresh);
    expect(await top5(fresh)).toEqual(answer);

    // A worker whose copy is not the page's refuses the delta; the page sends it whole.
    watched.control.forget = true;
    await rec.track({ item: ITEM_IDS[6] as string });
    await fresh.track({ item: ITEM_IDS[6] as string });
    expect(await top5(rec)).toEqual(await top5(fresh));
    expect(kinds().slice(-2)).toEqual(['delta', 'whole']);

    await rec.clear();
    expect((await rec.recommend({ k: 5 })).map((r) => r.reason)).toEqual(Array(5).fill('popular'));
    expect(kinds().at(-1)).toEqual('whole');
  });
});
