// The WebGPU tensor-train top-k kernel (src/kernels/webgpu/tt-score-topk) in Debian's Chromium
// on SwiftShader, against ttScoreAll + masking + tf.topk on the CPU backend
// (test/browser/pages/tt-kernel.ts does the work; this file asserts on what it reports).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  startServer,
  type TestServer,
} from './harness.ts';
import type { CaseResult, TtKernelResult } from './pages/tt-kernel.ts';

const PAGE_PATH = '/test/browser/pages/tt-kernel.html';
const TOLERANCE = 1e-4;

let server: TestServer;
let session: ChromiumSession;
let result: TtKernelResult;
let consoleErrors: string[];

beforeAll(async () => {
  server = await startServer();
  session = await launchChromium({ webgpu: true });
  const page = await session.newPage();
  const errors = collectErrors(page);
  await page.goto(server.url + PAGE_PATH);
  result = await page.evaluate(
    () => (window as unknown as { ttKernel: Promise<TtKernelResult> }).ttKernel,
  );
  consoleErrors = errors.lines();
  errors.dispose();
  await page.close();
});

afterAll(async () => {
  await session?.close();
  await server?.close();
});

function caseNamed(prefix: string): CaseResult {
  const found = result.cases.find((c) => c.name.startsWith(prefix));
  if (!found) throw new Error(`no case named ${prefix}...`);
  return found;
}

/** What every case must satisfy: the reference's top k up to ties, and nothing masked. */
function expectMatchesReference(c: CaseResult) {
  expect(c.kernelIndices).toHaveLength(c.k);
  expect(c.kernelValues).toHaveLength(c.k);
  expect(c.maxRankScoreGap).toBeLessThanOrEqual(TOLERANCE);
  expect(c.maxOwnScoreGap).toBeLessThanOrEqual(TOLERANCE);
  expect(c.unexplainedIndices).toEqual([]);
  expect(c.excludedReturned).toEqual([]);
  expect(c.paddingReturned).toEqual([]);
  expect(c.duplicates).toBe(0);
  expect(c.orderViolations).toBe(0);
  expect(c.leakedTensors).toBe(0);
}

describe('PocketrecTtScoreTopK on WebGPU (SwiftShader)', () => {
  test('the page ran on a WebGPU adapter without GPU or console errors', () => {
    expect(result.backendSet).toBe(true);
    expect(result.backend).toBe('webgpu');
    expect(result.gpu.adapter).toBe(true);
    expect(result.gpuErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(result.cases).toHaveLength(7);
  });

  test.each([
    '2 cores, t=1',
    '2 cores, t=2',
    '3 cores, t=1',
    '3 cores, t=2, k=100',
    '3 cores, t=4',
  ])('%s: top k of 3,417 rows (padded product larger) matches the reference', (name) => {
    const c = caseNamed(name);
    expect(c.numRows).toBe(3417);
    expect(c.paddedRows).toBeGreaterThan(c.numRows);
    expectMatchesReference(c);
  });

  test('excluded rows that would rank first are skipped, and the rest still match', () => {
    const c = caseNamed('2 cores, t=1');
    // The exclusion list holds the 5 best rows of the unmasked reference, row 0, ids past the
    // table and random rows; the reference is computed with them masked.
    expect(c.unmaskedBest).toHaveLength(5);
    for (const row of [...c.unmaskedBest, 0, c.numRows]) expect(c.exclude).toContain(row);
    expect(c.exclude.length).toBeGreaterThan(20);
    expect(c.exclude.filter((row) => c.kernelIndices.includes(row))).toEqual([]);
    expectMatchesReference(c);
  });

  test('equal scores go to the lower row, within and across workgroups', () => {
    const c = caseNamed('ties');
    // The premise: more than k rows share the best score, well apart from the next score.
    expect(c.topTieCount).toBeGreaterThan(c.k);
    expect(c.topTieGap).toBeGreaterThan(1e-3);
    expectMatchesReference(c);
    expect(c.exactIndexMatch).toBe(true);
    expect(new Set(c.kernelValues).size).toBe(1);
    expect([...c.kernelIndices].sort((a, b) => a - b)).toEqual(c.kernelIndices);
  });

  test('a 999,983-row table (100x100x100, 3 cores) matches the reference for k=100', () => {
    const c = caseNamed('large');
    expect(c.paddedRows).toBe(1_000_000);
    expectMatchesReference(c);
  });

  test('ttScoreTopK refuses to run on another backend', () => {
    expect(result.cpuBackendError).toMatch(/only on the 'webgpu' backend.*'cpu'/);
  });
});
