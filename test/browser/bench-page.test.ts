/**
 * bench.html in Chromium with a tiny run count: every variant on WASM and CPU, the report
 * downloaded as the page offers it, checked field by field, its correctness check passed;
 * then loaded back beside itself as another browser's would be. No timing is asserted:
 * how fast is the benchmark's business (npm run bench:browsers), not the test's.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReport, validateReport } from '../../src/pages/bench/report.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  startServer,
  type TestServer,
} from './harness.ts';

let server: TestServer;
let browser: ChromiumSession;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('bench.html', () => {
  it('measures every variant on WASM and CPU, checks them against the CPU, and downloads a complete report', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(
      `${server.url}/bench.html?models=tt,teacher,baseline&backends=wasm,cpu&warmup=1&runs=3&idb=1&seed=3&run=1`,
    );
    await page.waitForFunction(
      () => ['done', 'failed'].includes(document.body.dataset.state ?? ''),
      null,
      { timeout: 150_000, polling: 500 },
    );
    const outcome = await page.evaluate(() => ({
      state: window.pocketrecBench.state,
      error: window.pocketrecBench.error,
    }));
    expect(outcome).toEqual({ state: 'done', error: null });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const text = await readFile((await download.path()) as string, 'utf8');
    const report = parseReport(text, download.suggestedFilename());
    expect(validateReport(JSON.parse(text))).toEqual([]);
    expect(download.suggestedFilename()).toMatch(/^chromium-\d{4}-\d\d-\d\dT[\d-]+Z\.json$/);

    expect(report.params).toMatchObject({ runs: 3, warmup: 1, idb: true, catalogue: 'ml-1m' });
    expect(report.environment.browser.name).toBe('Chromium');
    // The plugin isolates bench.html: tfjs may load its threaded WASM binary.
    expect(report.environment.crossOriginIsolated).toBe(true);
    expect(report.rows.map((r) => `${r.variant}/${r.backend}/${r.status}`)).toEqual([
      'tt/cpu/ok',
      'tt/wasm/ok',
      'teacher/cpu/ok',
      'teacher/wasm/ok',
      'baseline/cpu/ok',
      'baseline/wasm/ok',
    ]);
    for (const row of report.rows) {
      expect(row.ran?.backend).toBe(row.backend);
      expect(row.correctness?.isReference).toBe(row.backend === 'cpu');
      expect(row.correctness?.passed, JSON.stringify(row.correctness?.mismatches)).toBe(true);
      expect(row.correctness?.histories).toBe(5);
      expect(row.warm?.runs).toBe(3);
      expect(row.incremental?.runs).toBe(3);
      expect(row.samples?.warmMs).toHaveLength(3);
      expect(row.open?.indexeddbMs).not.toBeNull();
      if (row.backend === 'wasm') expect(row.ran?.detail).toMatch(/^SIMD, /);
      if (row.variant !== 'baseline') {
        expect(row.ratioToBaseline.warmP50).not.toBeNull();
        expect(row.ratioToBaseline.incrementalP50).not.toBeNull();
      }
    }
    expect(report.rows.find((r) => r.variant === 'tt')?.model?.kind).toBe('sequential-tt');
    expect(report.rows.find((r) => r.variant === 'baseline')?.model?.kind).toBe('tf.LayersModel');
    expect(report.correctness).toEqual({
      passed: true,
      checkedRows: 3,
      mismatchedRows: 0,
      baselineMatchesDense: true,
    });

    // The table shows every row; the four charts are drawn.
    expect(await page.locator('#table tbody tr').count()).toBe(6);
    const charts = await page.$$eval('.charts canvas', (canvases) =>
      canvases.map((c) => (c as HTMLCanvasElement).width > 0 && c.hasAttribute('style')),
    );
    expect(charts).toEqual([true, true, true, true]);

    // A report from "another browser" shows beside this one.
    const other = { ...report, label: 'Other browser 1 (Linux)' };
    await page.setInputFiles('#load', {
      name: 'other.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(other)),
    });
    await page.waitForFunction(() => document.querySelectorAll('#table tbody tr').length === 12);
    const browsers = await page.$$eval('#table tbody tr td:nth-child(3)', (cells) =>
      cells.slice(0, 2).map((c) => c.textContent),
    );
    expect(browsers).toEqual([report.label, 'Other browser 1 (Linux)']);

    // A file that is not a report is refused, naming what is wrong.
    await page.setInputFiles('#load', {
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify({ ...report, rows: 'none' })),
    });
    await expect
      .poll(() => page.textContent('#param-error'))
      .toContain('broken.json is not a bench report');

    // The form: a bad field is named on the page; a good one becomes the URL of its run.
    await page.fill('input[name="runs"]', '0');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.textContent('#param-error')).toContain('runs must be an integer');
    await page.fill('input[name="runs"]', '2');
    await page.uncheck('input[name="backends"][value="wasm"]');
    await Promise.all([page.waitForURL(/run=1/), page.click('button[type="submit"]')]);
    const asked = new URL(page.url()).searchParams;
    expect(Object.fromEntries(asked)).toMatchObject({
      models: 'tt,teacher,baseline',
      backends: 'cpu',
      runs: '2',
      warmup: '1',
      idb: '1',
      run: '1',
    });
    expect(errors.lines()).toEqual([]);
    await page.close();
  });
});
