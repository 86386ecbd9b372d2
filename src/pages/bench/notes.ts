/**
 * What a report says beside its figures: its label among other reports, and the notes
 * that keep the figures from being misread (a software GPU adapter, coarse timers, no
 * threads, generated weights).
 */
import type { BenchParams } from './params.ts';
import type { BenchEnvironment, BenchRow } from './report.ts';

export function labelOf(env: BenchEnvironment): string {
  const major = env.browser.version.split('.')[0];
  return `${env.browser.name} ${major} (${env.os.split(' ')[0]})`;
}

export function notesOf(
  env: BenchEnvironment,
  rows: BenchRow[],
  params: BenchParams,
  sessions: string,
) {
  const notes: string[] = [];
  if (env.webgpu.software && rows.some((r) => r.backend === 'webgpu' && r.status === 'ok')) {
    const a = env.webgpu.adapter;
    notes.push(
      `WebGPU ran on a software adapter (${[a?.vendor, a?.architecture, a?.description].filter(Boolean).join(' ')}${a?.isFallbackAdapter ? ', fallback adapter' : ''}): its figures are CPU timings, not GPU timings; the WebGPU rows show that the path runs and gives the same answers.`,
    );
  }
  notes.push(
    "Times are what the page waits for: pocketrec's requests go to its worker and back; the baseline runs on the page's main thread.",
    "Warm requests encode a whole window afresh each time (recommend({ reuseEncoding: false })); 'append' is track() of one more event then recommend(), pocketrec reusing the earlier events' encoding where the model allows.",
    `Sessions: ${sessions}.`,
  );
  if (env.browser.name === 'Firefox' && env.crossOriginIsolated) {
    notes.push(
      "In Firefox tfjs's threaded WASM binary hangs now and then when it starts in a worker (Firefox ESR 153: 2 of 8 starts): a WASM row that fails with a timeout is that; bench.html?isolate=0 runs WASM without threads.",
    );
  }
  if (!env.crossOriginIsolated) {
    notes.push(
      'This page was not cross-origin isolated (bench.html?isolate=0): WASM ran without threads.',
    );
  }
  if (env.timerResolutionMs > 0.05) {
    notes.push(
      `performance.now() moves in steps of ${env.timerResolutionMs.toFixed(3)} ms in this page: shorter times are rounded to it.`,
    );
  }
  if (typeof params.catalogue === 'number') {
    notes.push(
      `Generated catalogue of ${params.catalogue} items (random weights, for timing only): the dense variant is the same tensor-train package with its table built once, the baseline builds it dense too.`,
    );
  }
  return notes;
}
