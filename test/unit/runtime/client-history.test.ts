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
