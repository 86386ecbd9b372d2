/**
 * What bench.html needs from the dev and preview servers (a Vite plugin):
 *
 * - Cross-origin isolation (COOP same-origin, COEP require-corp) for bench.html and the
 *   page of `npm run bench:engine`, and COEP for the workers they start, so tfjs's WASM backend can load its threaded binary
 *   (SharedArrayBuffer) and performance.now() is not coarsened to 0.1 ms. Only this page:
 *   every other page is served as before. `bench.html?isolate=0` turns it off, to measure
 *   WASM without threads.
 * - chart.js bundled before the first page asks (a dependency found later makes the dev
 *   server re-bundle and reload the page in the middle of a run).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Connect, Plugin } from 'vite';

/** The isolated pages: bench.html and the page of `npm run bench:engine`. */
const PAGES = ['/bench.html', '/src/pages/bench/engine/engine.html'];

function pathOf(url: string | undefined): URL | null {
  try {
    return new URL(url ?? '', 'http://localhost');
  } catch {
    return null;
  }
}

/** bench.html itself, or a worker script it starts (the request's referrer is the page). */
export function wantsIsolation(request: Pick<IncomingMessage, 'url' | 'headers'>): {
  page: boolean;
  worker: boolean;
} {
  const url = pathOf(request.url);
  if (url && PAGES.includes(url.pathname)) {
    return { page: url.searchParams.get('isolate') !== '0', worker: false };
  }
  const referer = pathOf(request.headers.referer);
  const isWorker = ['worker', 'sharedworker'].includes(String(request.headers['sec-fetch-dest']));
  const fromPage =
    referer !== null &&
    PAGES.includes(referer.pathname) &&
    referer.searchParams.get('isolate') !== '0';
  return { page: false, worker: isWorker && fromPage };
}

const isolate: Connect.NextHandleFunction = (
  request: IncomingMessage,
  response: ServerResponse,
  next: () => void,
) => {
  const wants = wantsIsolation(request);
  if (wants.page) response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  if (wants.page || wants.worker) {
    response.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  }
  next();
};

export function benchPagePlugin(): Plugin {
  return {
    name: 'pocketrec-bench-page',
    config: () => ({ optimizeDeps: { include: ['chart.js'] } }),
    configureServer(server) {
      server.middlewares.use(isolate);
    },
    configurePreviewServer(server) {
      server.middlewares.use(isolate);
    },
  };
}
