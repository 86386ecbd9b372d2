/** The strip of figures under the header: what runs, how fast, how small, where it lives. */
import type { RecommenderInfo } from '../../index.ts';
import { byId, el } from './dom.ts';
import { formatBytes, formatCount, formatMs, formatRatio, plural } from './format.ts';

const BACKEND_NAMES: Record<RecommenderInfo['backend'], string> = {
  webgpu: 'WebGPU',
  wasm: 'WASM',
  cpu: 'CPU',
};

const SCORING: Record<RecommenderInfo['scoring'], string> = {
  'dense-table': 'dense item table',
  'tt-materialised': 'tensor-train table, built once',
  'tt-contracted': 'tensor-train cores, contracted per request',
  'tt-webgpu-kernel': 'fused tensor-train kernel',
  'jpq-materialised': 'RecJPQ table, built once',
  'jpq-codebooks': 'RecJPQ codebooks, scored per request',
  'qr-materialised': 'quotient-remainder table, built once',
  'fused-wasm': 'fused WASM SIMD kernels (encoder, scores, top-k)',
  'fused-wasm+webgpu': 'fused WASM encoder; scores and top-k in one WebGPU kernel',
  markov: 'Markov transitions',
  popularity: 'training popularity',
  ctr: 'CTR model over fields',
};

function stat(id: string, value: string, detail: string, data: Record<string, string> = {}) {
  const value_ = byId(`stat-${id}`);
  value_.textContent = value;
  Object.assign(value_.dataset, data);
  byId(`stat-${id}-detail`).textContent = detail;
}

/** Everything but the latency, which changes with every request. */
export function showModel(info: RecommenderInfo): void {
  const { model } = info;
  stat(
    'backend',
    BACKEND_NAMES[info.backend],
    info.adapter ? `${SCORING[info.scoring]} · ${info.adapter}` : SCORING[info.scoring],
    { backend: info.backend },
  );
  stat(
    'size',
    formatBytes(model.bytes),
    `${model.name} · ${formatCount(model.numItems)} items · ${formatCount(model.params)} weights`,
    { bytes: String(model.bytes) },
  );
  stat(
    'compression',
    formatRatio(model.modelCompression),
    model.embeddingCompression > 1
      ? `smaller than dense · item table ${formatRatio(model.embeddingCompression)}`
      : 'smaller than the dense equivalent',
    { ratio: String(model.modelCompression) },
  );
  const where =
    info.storage.model === 'memory'
      ? ['In memory', 'IndexedDB unavailable: downloaded again next visit']
      : info.source === 'indexeddb'
        ? ['This device', `opened from IndexedDB in ${formatMs(info.timings.loadMs)}, no download`]
        : ['This device', `downloaded once, verified (SHA-256), kept in IndexedDB`];
  stat('source', where[0] as string, where[1] as string, { source: info.source });
  showWarnings(info.warnings);
}

export function showLatency(info: RecommenderInfo): void {
  const t = info.timings;
  stat(
    'latency',
    formatMs(t.lastRecommendMs),
    t.lastWorkerMs === null
      ? `warm-up took ${formatMs(t.warmupMs)}`
      : `worker ${formatMs(t.lastWorkerMs)} · encode ${formatMs(t.lastEncodeMs)} · score ${formatMs(t.lastScoreMs)}`,
  );
  // The backend can change under us (a lost GPU device falls back to WASM).
  const backend = byId('stat-backend');
  if (backend.dataset.backend !== info.backend) {
    backend.textContent = BACKEND_NAMES[info.backend];
    backend.dataset.backend = info.backend;
    showWarnings(info.warnings);
  }
}

function showWarnings(warnings: readonly string[]): void {
  const box = byId('warnings');
  box.hidden = warnings.length === 0;
  byId('warnings-list').replaceChildren(...warnings.map((w) => el('li', { text: w })));
  byId('warnings-count').textContent = `${plural(warnings.length, 'warning')} from the runtime`;
}
