// Which requests the bench page's dev-server plugin isolates (src/pages/bench/dev-server.ts).
import { describe, expect, it } from 'vitest';
import { wantsIsolation } from '../../../src/pages/bench/dev-server.ts';

const request = (url: string, headers: Record<string, string> = {}) => ({ url, headers });

describe('wantsIsolation', () => {
  it('isolates bench.html, unless asked not to', () => {
    expect(wantsIsolation(request('/bench.html'))).toEqual({ page: true, worker: false });
    expect(wantsIsolation(request('/bench.html?runs=3&run=1'))).toEqual({
      page: true,
      worker: false,
    });
    expect(wantsIsolation(request('/bench.html?isolate=0'))).toEqual({
      page: false,
      worker: false,
    });
  });

  it('gives COEP to the workers bench.html starts, and to nothing else', () => {
    const worker = {
      'sec-fetch-dest': 'worker',
      referer: 'http://127.0.0.1:5173/bench.html?run=1',
    };
    expect(wantsIsolation(request('/src/runtime/worker.ts?worker_file', worker)).worker).toBe(true);
    expect(
      wantsIsolation(
        request('/src/runtime/worker.ts', { ...worker, referer: 'http://x/bench.html?isolate=0' }),
      ),
    ).toEqual({ page: false, worker: false });
    // The demo's worker, a script of bench.html, and other pages are served as before.
    expect(
      wantsIsolation(
        request('/src/runtime/worker.ts', { ...worker, referer: 'http://x/index.html' }),
      ),
    ).toEqual({ page: false, worker: false });
    expect(
      wantsIsolation(
        request('/src/pages/bench/main.ts', {
          'sec-fetch-dest': 'script',
          referer: 'http://x/bench.html',
        }),
      ),
    ).toEqual({ page: false, worker: false });
    expect(wantsIsolation(request('/index.html'))).toEqual({ page: false, worker: false });
    expect(wantsIsolation(request('/'))).toEqual({ page: false, worker: false });
  });
});
