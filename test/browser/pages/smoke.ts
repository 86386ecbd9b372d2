// The smoke page's module: exercises real IndexedDB, WebGPU (page and worker) and a same-origin
// fetch, and exposes the outcome as `window.smoke` (a promise page.evaluate can await).
import { type GpuReport, probeGpu } from './gpu.ts';

export interface SmokeResult {
  indexedDb: {
    /** The record's text before this run wrote (from an earlier load on the same profile). */
    previous: string | null;
    wrote: string;
    readBack: string | null;
    countAfterReopen: number;
  };
  gpu: GpuReport;
  workerGpu: GpuReport;
  fetchStatus: number;
  crossOriginIsolated: boolean;
  userAgent: string;
}

interface Greeting {
  id: string;
  text: string;
  at: number;
}

const DB = 'pocketrec-smoke';
const STORE = 'records';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb(): Promise<IDBDatabase> {
  const req = indexedDB.open(DB, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore(STORE, { keyPath: 'id' });
  };
  return request(req);
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

async function indexedDbRoundTrip(): Promise<SmokeResult['indexedDb']> {
  const wrote = `hello ${Date.now()} ${Math.random()}`;
  let db = await openDb();
  const tx = db.transaction(STORE, 'readwrite');
  const before = (await request(tx.objectStore(STORE).get('greeting'))) as Greeting | undefined;
  tx.objectStore(STORE).put({ id: 'greeting', text: wrote, at: Date.now() });
  await done(tx);
  db.close();

  // Reopen so the value is read back from storage, not from the open connection.
  db = await openDb();
  const rtx = db.transaction(STORE, 'readonly');
  const store = rtx.objectStore(STORE);
  const record = (await request(store.get('greeting'))) as Greeting | undefined;
  const count = await request(store.count());
  db.close();
  return {
    previous: before?.text ?? null,
    wrote,
    readBack: record?.text ?? null,
    countAfterReopen: count,
  };
}

function workerGpu(): Promise<GpuReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./smoke.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<{ ok: boolean; report?: GpuReport; error?: string }>) => {
      worker.terminate();
      if (e.data.ok && e.data.report) resolve(e.data.report);
      else reject(new Error(e.data.error ?? 'worker failed'));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`worker error: ${e.message}`));
    };
  });
}

async function run(): Promise<SmokeResult> {
  const [indexedDb, gpu, wGpu, res] = await Promise.all([
    indexedDbRoundTrip(),
    probeGpu(),
    workerGpu(),
    fetch('/test/browser/pages/smoke.html', { method: 'GET' }),
  ]);
  return {
    indexedDb,
    gpu,
    workerGpu: wGpu,
    fetchStatus: res.status,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    userAgent: navigator.userAgent,
  };
}

const smoke = run();
(window as unknown as { smoke: Promise<SmokeResult> }).smoke = smoke;
smoke.then(
  () => {
    document.getElementById('status')?.replaceChildren('done');
  },
  (err: unknown) => {
    document.getElementById('status')?.replaceChildren(`failed: ${String(err)}`);
  },
);
