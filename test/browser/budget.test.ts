// Download budgets in real Chromium, and the servers they rely on. A progressive ctr-pruned
// package built in Node is served by the dev server as static files (under a *.tmp folder,
// so the shared server configuration is untouched); createRecommender with a budget must
// transfer exactly the prefix's bytes (HTTP Range, 206) and rank with the model pruned to
// that prefix. The dev server and `vite preview` both answer Range with 206 (Vite's static
// file server, sirv): checked from Node, preview started programmatically on a folder of
// its own.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Response as PlaywrightResponse } from 'playwright-core';
import { preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrFromPrunedPackage, prunedPrefixLayout } from '../../src/model/ctr/pruned-package.ts';
import { ctrProbabilities } from '../../src/model/ctr/score.ts';
import { MANIFEST_FILE } from '../../src/package/manifest.ts';
import { readModelPackage } from '../../src/package/reader.ts';
import { memorySource } from '../../src/package/source.ts';
import { CtrRequestEncoder, type RankInput } from '../../src/runtime/ctr-request.ts';
import { type ProgressiveFixture, progressivePackage } from '../fixtures/progressive-ctr.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  startServer,
  type TestServer,
} from './harness.ts';

const PAGE = '/test/browser/pages/runtime.html';
/** Under the project root, so the dev server serves it; removed after the run. */
const FIXTURE_DIR = 'test/browser/budget-fixture.tmp';
const MODEL = `/${FIXTURE_DIR}/ctr-progressive`;
/** The chunks the budget below allows. */
const CHUNKS = 4;

const REQUEST: RankInput = {
  context: { user: 'u7', hour: 9 },
  candidates: [
    ...Array.from({ length: 12 }, (_, i) => ({ item: `i${i * 7 + 1}` })),
    { item: 'never-seen' },
  ],
};

let server: TestServer;
let fixture: ProgressiveFixture;
const sessions: ChromiumSession[] = [];

async function writePackage(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all([...files].map(([path, bytes]) => writeFile(join(dir, path), bytes)));
}

/** The probabilities `REQUEST` must get from the package cut to `chunks` chunks. */
async function expectedScores(chunks: number): Promise<Float32Array> {
  const pkg = await readModelPackage(memorySource(fixture.files));
  const model = ctrFromPrunedPackage(pkg, { prefixChunks: chunks });
  return ctrProbabilities(model, new CtrRequestEncoder(model.schema).encode(REQUEST).rows);
}

beforeAll(async () => {
  fixture = await progressivePackage({ shardBytes: 8192 });
  await writePackage(join(projectRoot, MODEL), fixture.files);
  server = await startServer();
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await server?.close();
  await rm(join(projectRoot, FIXTURE_DIR), { recursive: true, force: true });
});

interface Transfer {
  path: string;
  status: number;
  range: string | null;
  bodyBytes: number;
}

describe('a download budget in Chromium', () => {
  it('fetches only the prefix the budget allows (206), and ranks with the model cut to it', async () => {
    const session = await launchChromium();
    sessions.push(session);
    const page = await session.newPage();
    const errors = collectErrors(page);
    const responses: PlaywrightResponse[] = [];
    page.on('response', (response) => {
      if (response.url().includes(`${MODEL}/`)) responses.push(response);
    });
    await page.goto(server.url + PAGE);
    await page.waitForSelector('body[data-ready="true"]');
    const budget = (fixture.prefixBytes[CHUNKS] as number) + 100;
    const result = await page.evaluate(
      async ({ model, budget, request }) => {
        const progress: number[][] = [];
        const rec = await window.pocketrec.createRecommender({
          model,
          budget,
          backend: 'wasm',
          databases: { models: 'budget-models', history: 'budget-history' },
          onProgress: (p) => progress.push([p.loaded, p.total]),
        });
        const ranking = await rec.rank(request);
        const info = rec.info();
        rec.dispose();
        return { ranking, prefix: info.model.prefix, storage: info.storage, progress };
      },
      { model: MODEL, budget, request: REQUEST },
    );

    const prefixBytes = fixture.prefixBytes[CHUNKS] as number;
    expect(result.prefix).toEqual({
      chunks: CHUNKS,
      totalChunks: fixture.manifest.architecture.chunks,
      bytes: prefixBytes,
      totalBytes: fixture.prefixBytes.at(-1),
    });
    expect(result.storage.model).toBe('indexeddb');
    expect(result.progress.at(-1)).toEqual([prefixBytes, prefixBytes]);

    // What crossed the network: the manifest, then each needed file's prefix and no more.
    const transfers: Transfer[] = await Promise.all(
      responses.map(async (r) => ({
        path: new URL(r.url()).pathname.slice(MODEL.length + 1),
        status: r.status(),
        range: (await r.request().allHeaders()).range ?? null,
        bodyBytes: (await r.request().sizes()).responseBodySize,
      })),
    );
    const files = transfers.filter((t) => t.path !== MANIFEST_FILE);
    const ends = prunedPrefixLayout(fixture.manifest).ends[CHUNKS] as Map<string, number>;
    const vocabulary = (fixture.files.get('vocabulary.json') as Uint8Array).byteLength;
    expect(new Map(files.map((t) => [t.path, t.range]))).toEqual(
      new Map([
        ...[...ends].map(([path, end]): [string, string] => [path, `bytes=0-${end - 1}`]),
        ['vocabulary.json', `bytes=0-${vocabulary - 1}`],
      ]),
    );
    expect(files.every((t) => t.status === 206)).toBe(true);
    expect(files.reduce((n, t) => n + t.bodyBytes, 0)).toBe(prefixBytes);
    expect(prefixBytes).toBeLessThan((fixture.prefixBytes.at(-1) as number) / 2);

    // The answer is the prefix's model, not the whole package's.
    const [prefixScores, wholeScores] = await Promise.all([
      expectedScores(CHUNKS),
      expectedScores(fixture.manifest.architecture.chunks as number),
    ]);
    expect(prefixScores).not.toEqual(wholeScores);
    expect(result.ranking.ranked).toHaveLength(REQUEST.candidates.length);
    for (const { index, score } of result.ranking.ranked) {
      expect(score).toBeCloseTo(prefixScores[index] as number, 5);
    }

    // The network cut: the stored prefix serves a smaller budget, cut to its chunks.
    await page.route(`**${MODEL}/**`, (route) => route.abort());
    const reopened = await page.evaluate(
      async ({ model, budget, request }) => {
        const rec = await window.pocketrec.createRecommender({
          model,
          budget,
          backend: 'wasm',
          databases: { models: 'budget-models', history: 'budget-history' },
        });
        const ranking = await rec.rank(request);
        const { source, model: summary } = rec.info();
        rec.dispose();
        return { ranking, source, prefix: summary.prefix };
      },
      { model: MODEL, budget: fixture.prefixBytes[2] as number, request: REQUEST },
    );
    expect(reopened.source).toBe('indexeddb');
    expect(reopened.prefix?.chunks).toBe(2);
    const smallerScores = await expectedScores(2);
    for (const { index, score } of reopened.ranking.ranked) {
      expect(score).toBeCloseTo(smallerScores[index] as number, 5);
    }
    expect(errors.lines()).toEqual([]);
  });
});

describe('the servers answer Range requests with 206', () => {
  async function expectRange(origin: string, path: string): Promise<void> {
    const whole = fixture.files.get('weights-0.bin') as Uint8Array;
    const response = await fetch(`${origin}${path}`, { headers: { Range: 'bytes=0-99' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 0-99/${whole.byteLength}`);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(whole.subarray(0, 100));
  }

  it('npm start (the dev server) for a file under the project root', async () => {
    await expectRange(server.url, `${MODEL}/weights-0.bin`);
  });

  it('vite preview for a package copied next to the build', async () => {
    // preview serves build.outDir: a folder of this test's own, the package copied into it
    // as a shop would copy models/<name>/ next to dist/.
    const outDir = join(projectRoot, FIXTURE_DIR, 'preview-dist');
    await writePackage(join(outDir, 'models/ctr-progressive'), fixture.files);
    const previewServer = await preview({
      root: projectRoot,
      configFile: join(projectRoot, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false },
    });
    try {
      const address = previewServer.httpServer.address();
      if (!address || typeof address === 'string') throw new Error('preview has no TCP port');
      await expectRange(
        `http://127.0.0.1:${address.port}`,
        '/models/ctr-progressive/weights-0.bin',
      );
    } finally {
      await previewServer.close();
    }
  });
});
