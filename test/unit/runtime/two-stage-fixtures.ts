/**
 * What the two-stage tests share: a tiny retrieval package (a dense SASRec with a
 * popularity prior, items 'p01'..'p24') and rankers for it whose weights are chosen so the
 * context visibly matters, an in-memory web server, and the real worker host
 * (src/runtime/worker-host.ts) behind a fake Worker, so createRecommender runs in Node
 * exactly as in a page, structured clone and transfers included.
 *
 * The ranker is an FM of width 1 over four fields (hour, device: context; item, category:
 * the item's), every weight 0 except the device and category vectors: its logit is
 * v(device) · v(category), so on a phone shoes go up and bags down by `strength`, on a
 * desktop the reverse, and any other device (or an item the table lacks) changes nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { fieldLayout } from '../../../src/model/ctr/field-embedding.ts';
import { type CtrModel, initCtrModel } from '../../../src/model/ctr/model.ts';
import { ctrPackageSpec } from '../../../src/model/ctr/package.ts';
import { type RankerSpec, withRanker } from '../../../src/model/ctr/ranker.ts';
import type { CtrSchema } from '../../../src/model/ctr/schema.ts';
import { withPopularityPrior } from '../../../src/model/popularity.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';
import { sequentialPackageSpec } from '../../../src/model/sequential-package.ts';
import { buildModelPackage, type PackageSpec } from '../../../src/package/writer.ts';
import type { WorkerRequest } from '../../../src/runtime/protocol.ts';
import {
  createWorkerHost,
  serveWorker,
  type WorkerHost,
  type WorkerScope,
} from '../../../src/runtime/worker-host.ts';
import { tinyModel } from '../cli/helpers.ts';

export type Files = Map<string, Uint8Array>;

export const NUM_ITEMS = 24;
export const ITEM_IDS = Array.from(
  { length: NUM_ITEMS },
  (_, i) => `p${String(i + 1).padStart(2, '0')}`,
);
/** Odd rows are shoes, even rows bags. */
export const categoryOfRow = (row: number): 'shoes' | 'bags' => (row % 2 === 1 ? 'shoes' : 'bags');
/** The last item is not in the rankers' tables: its item fields are unknown. */
export const UNLISTED = ITEM_IDS[NUM_ITEMS - 1] as string;
/** Distinct training counts, so the prior's order is known. */
export const COUNTS = Int32Array.from({ length: NUM_ITEMS + 1 }, (_, i) =>
  i === 0 ? 0 : 1 + ((i * 7) % NUM_ITEMS) * 3,
);

export const RANKER_SCHEMA: CtrSchema = {
  fields: [
    {
      name: 'hour',
      kind: 'categorical',
      vocabularySize: 25,
      values: Array.from({ length: 24 }, (_, h) => String(h)),
    },
    {
      name: 'device',
      kind: 'categorical',
      vocabularySize: 4,
      values: ['mobile', 'desktop', 'tablet'],
    },
    { name: 'item', kind: 'categorical', vocabularySize: NUM_ITEMS, values: ITEM_IDS.slice(0, -1) },
    { name: 'category', kind: 'categorical', vocabularySize: 3, values: ['shoes', 'bags'] },
  ],
};

/** v(device) for the ranker's logit; 0 for tablet and unknown. */
export const DEVICE_VECTOR: Record<string, number> = { mobile: 1, desktop: -1 };

export interface RankerOptions {
  /** v(shoes) = strength, v(bags) = -strength. */
  strength: number;
  weight: number;
  candidates: number;
  name?: string;
}

/** The FM ranker's logit for a retrieval row on a device (see the file comment). */
export function rankerLogit(row: number, device: string | undefined, strength: number): number {
  if (ITEM_IDS[row - 1] === UNLISTED) return 0;
  const v = categoryOfRow(row) === 'shoes' ? strength : -strength;
  return (DEVICE_VECTOR[device ?? ''] ?? 0) * v;
}

/** The FM model of a ranker (see the file comment); the caller disposes its weights. */
export function rankerModel(strength: number): CtrModel {
  const model = initCtrModel({ kind: 'fm', config: { dim: 1 } }, RANKER_SCHEMA, 1);
  const layout = fieldLayout(RANKER_SCHEMA);
  const table = new Float32Array(layout.totalRows);
  const row = (field: number, id: number) => (layout.offsets[field] as number) + id;
  table[row(1, 1)] = DEVICE_VECTOR.mobile as number;
  table[row(1, 2)] = DEVICE_VECTOR.desktop as number;
  table[row(3, 1)] = strength;
  table[row(3, 2)] = -strength;
  tf.dispose(Object.values(model.weights));
  model.weights = {
    embedding: tf.tensor2d(table, [layout.totalRows, 1]),
    linear: tf.zeros([layout.totalRows, 1]),
    bias: tf.zeros([1]),
  };
  return model;
}

export function rankerSpec(options: RankerOptions): RankerSpec {
  const items = ITEM_IDS.slice(0, -1);
  return {
    candidates: options.candidates,
    weight: options.weight,
    contextFields: ['hour', 'device'],
    itemIdField: 'item',
    itemFields: ['category'],
    items,
    itemCodes: { category: items.map((_, i) => (categoryOfRow(i + 1) === 'shoes' ? 1 : 2)) },
  };
}

export async function filesOf(spec: PackageSpec): Promise<Files> {
  return (await buildModelPackage(spec)).files;
}

/** A ranker package: the FM above with its ranker file. */
export async function rankerPackage(options: RankerOptions): Promise<Files> {
  const model = rankerModel(options.strength);
  try {
    const spec = ctrPackageSpec(model, { name: options.name ?? 'tiny-ranker', dataset: 'unit' });
    return await filesOf(withRanker(spec, rankerSpec(options)));
  } finally {
    tf.dispose(Object.values(model.weights));
  }
}

/** The same CTR model without a ranker file. */
export async function plainCtrPackage(): Promise<Files> {
  const model = rankerModel(1);
  try {
    return await filesOf(ctrPackageSpec(model, { name: 'plain-ctr', dataset: 'unit' }));
  } finally {
    tf.dispose(Object.values(model.weights));
  }
}

/** The retrieval model (the caller disposes it) and its package, with a popularity prior. */
export async function retrievalPackage(
  seed = 5,
): Promise<{ model: SequentialModel; files: Files }> {
  const model = tinyModel(NUM_ITEMS, seed, 0.5);
  const spec = await sequentialPackageSpec(model, {
    name: 'tiny-retrieval',
    dataset: 'unit',
    itemIds: ITEM_IDS,
  });
  return { model, files: await filesOf(withPopularityPrior(spec, COUNTS)) };
}

/** A web server in a map: url → bytes; `offline` makes every request fail as a network error. */
export function fakeServer() {
  const routes = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const server = {
    offline: false,
    requests,
    /** Serves a package's files under `root` (a URL ending in '/'); replaces what was there. */
    serve(root: string, files: Files): void {
      for (const key of [...routes.keys()]) if (key.startsWith(root)) routes.delete(key);
      for (const [path, bytes] of files) routes.set(root + path, bytes);
    },
    fetch: async (input: RequestInfo | URL): Promise<Response> => {
      const url = String(input);
      requests.push(url);
      if (server.offline) throw new TypeError('fetch failed (offline)');
      const bytes = routes.get(url);
      return bytes
        ? new Response(bytes.slice(), { status: 200 })
        : new Response('not found', { status: 404 });
    },
  };
  return server;
}

/**
 * A Worker whose inside is the real worker host, in this process: messages are structured
 * clones (transfers detach), replies arrive as tasks, and terminate() releases the engine
 * (a real worker's tensors die with it; these would stay in this process's tfjs).
 */
export class InProcessWorker {
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onmessageerror: (() => void) | null = null;
  private terminated = false;
  private readonly scope: WorkerScope;
  private readonly host: WorkerHost;

  constructor(fetchImpl: typeof fetch) {
    this.scope = {
      onmessage: null,
      postMessage: (message, transfer) => {
        if (this.terminated) return;
        const data = structuredClone(message, { transfer: transfer ?? [] });
        setTimeout(() => {
          if (!this.terminated) this.onmessage?.({ data } as MessageEvent);
        }, 0);
      },
    };
    this.host = createWorkerHost({
      emit: (event) => this.scope.postMessage(event),
      fetch: fetchImpl,
    });
    serveWorker(this.scope, this.host);
  }

  postMessage(message: WorkerRequest, transfer: Transferable[] = []): void {
    const data = structuredClone(message, { transfer });
    setTimeout(() => this.scope.onmessage?.({ data } as MessageEvent<WorkerRequest>), 0);
  }

  terminate(): void {
    this.terminated = true;
    this.host.dispose();
  }
}

/** createRecommender's spawnWorker for a server. */
export function spawnIn(server: { fetch: typeof fetch }): () => Worker {
  return () => new InProcessWorker(server.fetch) as unknown as Worker;
}
