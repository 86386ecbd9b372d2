// CTR models in Chromium through the client API (createRecommender → rank): a frappe DeepFM
// (frappe's fields and libfm layout, generated: test/unit/fixtures-gen, no data sets needed)
// package built here from a fresh model (batch-norm statistics set to non-trivial values,
// so every op of the forward pass matters), its scores against Node's ctrProbabilities (the
// same ctrForward) on WASM for 1,000 frappe test rows and on WebGPU (SwiftShader: slow, so
// 60 candidates sharing a context); a small ctr-pruned package; typed errors from the worker;
// a cut-down ctr-dense package (what `pocketrec umec` writes: two fields inside the schema
// and units of every hidden layer removed, sliced from the same model by sliceModel) ranked
// with requests that still carry every frappe field, on WASM for 1,000 test rows and on
// WebGPU for a few candidates, the fields it does not read reported rather than refused.
//
// The rows go to the page as raw values, decoded from the ids the training loader gave
// them (a value unseen in training as a string the vocabulary lacks), so the page's
// encoding is checked against the loader's too. The packages are written under the project
// root (a *.tmp folder, gitignored) and served as static files by the shared dev server.
// Last, bench.html's CTR section runs on the same three packages and shows their FLOPs
// ratios (no timing is asserted).
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ranking } from '../../src/compression/shaver/prune.ts';
import { sliceModel } from '../../src/compression/umec/export.ts';
import { type KeptGroups, type UmecModel, umecModel } from '../../src/compression/umec/groups.ts';
import { type CtrFieldData, loadCtrFields } from '../../src/data/ctr/index.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { DEFAULT_DEEPFM } from '../../src/model/ctr/deepfm.ts';
import { ctrFlops } from '../../src/model/ctr/flops.ts';
import { type CtrModel, initCtrModel } from '../../src/model/ctr/model.ts';
import { ctrPackageSpec } from '../../src/model/ctr/package.ts';
import { ctrFromPrunedPackage, ctrPrunedPackageSpec } from '../../src/model/ctr/pruned-package.ts';
import { type CtrRows, type CtrSchema, idsPerRow } from '../../src/model/ctr/schema.ts';
import { ctrProbabilities } from '../../src/model/ctr/score.ts';
import { packageFlops } from '../../src/model/package-flops.ts';
import { writePackageDirectory } from '../../src/package/node-fs.ts';
import { type ModelPackage, readModelPackage } from '../../src/package/reader.ts';
import { memorySource } from '../../src/package/source.ts';
import { buildModelPackage, type PackageSpec } from '../../src/package/writer.ts';
import { seededRandom } from '../../src/random.ts';
import type { CtrFieldValues, CtrValue } from '../../src/runtime/ctr-request.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../src/runtime/engine/engine.ts';
import { useGeneratedDataDir } from '../unit/fixtures-gen/data-dir.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  startServer,
  type TestServer,
} from './harness.ts';

const PAGE = '/test/browser/pages/runtime.html';
const FIXTURES = 'test/browser/ctr-fixtures.tmp';
const DENSE = `/${FIXTURES}/frappe-deepfm`;
const PRUNED = `/${FIXTURES}/frappe-deepfm-pruned`;
const CUT = `/${FIXTURES}/frappe-deepfm-cut`;
const WASM_ROWS = 1_000;
const WEBGPU_CANDIDATES = 60;
const PRUNED_ROWS = 50;
const CUT_ROWS = 1_000;
/** A handful: every WebGPU recommender compiles its shaders again on SwiftShader. */
const CUT_WEBGPU_CANDIDATES = 8;
/**
 * The fields the cut-down package drops, both inside frappe's schema (third and ninth of
 * ten): a runtime that read a request's fields by position rather than by the package's
 * schema would feed every later field the wrong values.
 */
const REMOVED = ['daytime', 'country'];
/** Hidden unit u of layer l stays unless u % (l + 3) is 0: 266, 300 and 320 of 400. */
const keptUnits = (units: number, l: number): number[] =>
  Array.from({ length: units }, (_, u) => u).filter((u) => u % (l + 3) !== 0);
const TOLERANCE = 1e-5;
/** What a value the vocabulary lacks is sent as (ids 0 of the test rows). */
const UNSEEN = '(not in training)';

interface RankRequest {
  candidates: CtrFieldValues[];
  context?: CtrFieldValues;
}

interface PageRanking {
  ranked: { index: number; score: number; unknown: string[] }[];
  unknownContext: string[];
  backend: string;
  scoring: string;
}

let server: TestServer;
let browser: ChromiumSession;
/** frappe's files, generated (the real ones are for `npm run test:data`). */
const generatedData = useGeneratedDataDir();
let data: CtrFieldData;
let dense: CtrModel;
let pruned: CtrModel;
let cut: UmecModel;
/** Schema indices of the fields `cut` keeps, in its order. */
let keptFields: number[];
let cutPackage: ModelPackage;

beforeAll(async () => {
  await useWasmBackend();
  data = await loadCtrFields('frappe', { dataDir: generatedData });
  dense = initCtrModel({ kind: 'deepfm', config: DEFAULT_DEEPFM }, data.schema, 7);
  moveStatistics(dense, 8);
  const denseSpec = ctrPackageSpec(dense, { name: 'frappe-deepfm', dataset: 'frappe' });
  const table = dense.weights.embedding?.dataSync<'float32'>() ?? new Float32Array();
  const prunedSpec = await ctrPrunedPackageSpec(
    dense,
    { ranking: ranking(Float32Array.from(table, Math.abs)), kept: Math.floor(table.length / 10) },
    'zero',
    { name: 'frappe-deepfm-pruned', dataset: 'frappe' },
  );
  await writeFixture(DENSE, denseSpec);
  pruned = ctrFromPrunedPackage(await writeFixture(PRUNED, prunedSpec));
  // The cut-down package, as `pocketrec umec` writes one (without the search and the
  // fine-tuning, which change weights, not what the runtime does with them).
  const source = umecModel(dense);
  keptFields = data.schema.fields.flatMap((f, i) => (REMOVED.includes(f.name) ? [] : [i]));
  const kept: KeptGroups = [keptFields, ...source.config.mlp.map(keptUnits)];
  cut = sliceModel(source, kept);
  cutPackage = await writeFixture(
    CUT,
    ctrPackageSpec(cut, {
      name: 'frappe-deepfm-cut',
      dataset: 'frappe',
      unpruned: {
        denseEquivalent: denseSpec.denseEquivalent,
        flops: ctrFlops(source, source.schema),
      },
    }),
  );
  server = await startServer();
  browser = await launchChromium({ webgpu: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  for (const model of [dense, pruned, cut]) if (model) tf.dispose(Object.values(model.weights));
});

/** Batch norm's moving statistics and affine weights away from their 0/1 initial values. */
function moveStatistics(model: CtrModel, seed: number): void {
  const random = seededRandom(seed);
  for (const [name, tensor] of Object.entries(model.weights)) {
    const around = /\.(movingVariance|gamma)$/.test(name)
      ? (x: number) => 0.5 + 1.5 * x
      : /\.(movingMean|beta)$/.test(name)
        ? (x: number) => x - 0.5
        : null;
    if (!around) continue;
    const values = Float32Array.from({ length: tensor.size }, () => around(random()));
    model.weights[name] = tf.tensor(values, tensor.shape);
    tensor.dispose();
  }
}

async function writeFixture(url: string, spec: PackageSpec) {
  const { files } = await buildModelPackage(spec);
  await writePackageDirectory(join(projectRoot, url), files);
  return readModelPackage(memorySource(files));
}

/** Row r of `rows` as raw values: the text of each id, as the page would send it. */
function rawRow(schema: CtrSchema, rows: CtrRows, r: number): CtrFieldValues {
  const out: Record<string, CtrValue> = {};
  schema.fields.forEach((field, f) => {
    const width = idsPerRow(field);
    const ids = Array.from((rows.ids[f] as Int32Array).subarray(r * width, (r + 1) * width));
    const text = (id: number) => (id === 0 ? UNSEEN : (field.values?.[id - 1] as string));
    out[field.name] =
      field.kind === 'multi' ? ids.filter((id) => id >= 0).map(text) : text(ids[0] as number);
  });
  return out;
}

/** `rows` as the cut-down model reads them: the ids of its fields only. */
function keptRows(rows: CtrRows): CtrRows {
  return { ...rows, ids: keptFields.map((f) => rows.ids[f] as Int32Array) };
}

/** The fields of `values` whose value is the unseen one, in the object's order. */
function unseenFields(values: CtrFieldValues, among: readonly string[]): string[] {
  return Object.keys(values).filter((f) => among.includes(f) && values[f] === UNSEEN);
}

/** The first `n` test rows, as CtrRows. */
function testRows(n: number, pick: (f: number, r: number) => number = (_, r) => r): CtrRows {
  const { test: rows } = data;
  return {
    numRows: n,
    ids: rows.ids.map((ids, f) =>
      Int32Array.from({ length: n }, (_, r) => ids[pick(f, r)] as number),
    ),
    labels: new Float32Array(n),
  };
}

async function openPage(): Promise<{ page: Page; errors: ReturnType<typeof collectErrors> }> {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(server.url + PAGE);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

/**
 * Opens `model` and ranks each of `requests` (one request or several with one recommender);
 * with `loseDevice`, destroys the WebGPU device after that and ranks them again (the engine
 * moves to WASM), answering all of them in that order.
 */
function rankInPage(
  page: Page,
  model: string,
  backend: string,
  request: RankRequest | RankRequest[],
  loseDevice = false,
): Promise<PageRanking[]> {
  const requests = Array.isArray(request) ? request : [request];
  return page.evaluate(
    async ({ model, backend, requests, loseDevice }) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: backend as 'wasm',
        debug: loseDevice,
        databases: { models: `ctr-${backend}-${model}`, history: `ctr-history-${backend}` },
      });
      const rank = async (request: RankRequest): Promise<PageRanking> => {
        const result = await rec.rank(request);
        const info = rec.info();
        return {
          ranked: result.ranked.map(({ index, score, unknown }) => ({ index, score, unknown })),
          unknownContext: result.unknownContext,
          backend: info.backend,
          scoring: info.scoring,
        };
      };
      const rankAll = async (answers: PageRanking[]) => {
        for (const request of requests) answers.push(await rank(request));
      };
      try {
        const answers: PageRanking[] = [];
        await rankAll(answers);
        if (loseDevice && (await rec.debug?.loseDevice())) await rankAll(answers);
        return answers;
      } finally {
        rec.dispose();
      }
    },
    { model, backend, requests, loseDevice },
  );
}

/** `want` differs from `model`'s own scores of `rows`: a changed model was served, not it. */
async function expectNotScoresOf(model: CtrModel, rows: CtrRows, want: Float32Array) {
  const scores = await ctrProbabilities(model, rows);
  expect(
    Math.max(...Array.from(want, (w, i) => Math.abs(w - (scores[i] as number)))),
  ).toBeGreaterThan(1e-4);
}

/** The page's scores by candidate, against Node's; the order is highest first. */
function expectParity(got: PageRanking, want: Float32Array): number {
  expect(got.ranked).toHaveLength(want.length);
  let worst = 0;
  for (const { index, score } of got.ranked) {
    worst = Math.max(worst, Math.abs(score - (want[index] as number)));
  }
  const scores = got.ranked.map((r) => r.score);
  expect(scores).toEqual([...scores].sort((a, b) => b - a));
  expect(worst).toBeLessThan(TOLERANCE);
  return worst;
}

/** Each candidate's reported fields, in request order. */
function unknownByIndex(got: PageRanking): string[][] {
  const out: string[][] = [];
  for (const { index, unknown } of got.ranked) out[index] = unknown;
  return out;
}

/** Test row 0's context with every field but the item, and the items of the first `n` rows. */
function sharedContext(n: number) {
  const itemField = data.schema.fields.findIndex((f) => f.name === 'item');
  const rows = testRows(n, (f, r) => (f === itemField ? r : 0));
  const { item: _, ...context } = rawRow(data.schema, rows, 0);
  const candidates = Array.from({ length: n }, (_, r) => ({
    item: rawRow(data.schema, rows, r).item as string,
  }));
  return { rows, request: { context, candidates } };
}

describe('CTR models in Chromium', () => {
  test(`ctr-dense on WASM: ${WASM_ROWS} frappe test rows score as in Node; errors are typed`, async () => {
    const rows = testRows(WASM_ROWS);
    const want = await ctrProbabilities(dense, rows);
    const candidates = Array.from({ length: WASM_ROWS }, (_, r) => rawRow(data.schema, rows, r));
    const unseen = candidates.flatMap((c, i) =>
      Object.entries(c).flatMap(([field, v]) => (v === UNSEEN ? [`${i}:${field}`] : [])),
    );
    const { page, errors } = await openPage();
    const [got] = (await rankInPage(page, DENSE, 'wasm', { candidates })) as [PageRanking];
    expect([got.backend, got.scoring]).toEqual(['wasm', 'ctr']);
    const worst = expectParity(got, want);
    // Values unseen in training were scored out of vocabulary and reported, not refused.
    expect(unseen.length).toBeGreaterThan(0);
    expect(got.ranked.flatMap((r) => r.unknown.map((f) => `${r.index}:${f}`)).sort()).toEqual(
      unseen.sort(),
    );

    const failures = await page.evaluate(async (model) => {
      const rec = await window.pocketrec.createRecommender({
        model,
        backend: 'wasm',
        databases: { models: `ctr-wasm-${model}`, history: 'ctr-errors' },
      });
      const outcome = async (run: () => Promise<unknown>) => {
        try {
          await run();
          return null;
        } catch (error) {
          const e = error as Error & { code?: string };
          return { name: e.name, code: e.code, message: e.message };
        }
      };
      const result = {
        missing: await outcome(() =>
          rec.rank({ context: { user: '1' }, candidates: [{ item: '2' }] }),
        ),
        recommend: await outcome(() => rec.recommend({ k: 3 })),
      };
      rec.dispose();
      return result;
    }, DENSE);
    expect(failures.missing).toMatchObject({ name: 'RuntimeError', code: 'bad-field' });
    expect(failures.missing?.message).toMatch(/candidate 0: field "daytime" is missing/);
    expect(failures.recommend).toMatchObject({ name: 'RuntimeError', code: 'bad-request' });
    expect(failures.recommend?.message).toMatch(/is a CTR model \(ctr-dense\)/);
    expect(errors.lines()).toEqual([]);
    await page.close();
    console.log(`ctr-dense wasm: worst |score difference| ${worst.toExponential(2)}`);
  });

  test(`ctr-dense on WebGPU (SwiftShader): ${WEBGPU_CANDIDATES} candidates in one context, then a lost device; the cut-down package on ${CUT_WEBGPU_CANDIDATES}`, async () => {
    // Test row 0's context, each candidate one test row's item.
    const { rows, request } = sharedContext(WEBGPU_CANDIDATES);
    const want = await ctrProbabilities(dense, rows);
    const { page, errors } = await openPage();
    const answers = await rankInPage(page, DENSE, 'webgpu', request, true);
    const [got, recovered] = answers as [PageRanking, PageRanking];
    expect(got.backend).toBe('webgpu');
    const worst = expectParity(got, want);
    // A lost device: the engine rebuilds the model on WASM and answers the same.
    expect(answers).toHaveLength(2);
    expect(recovered.backend).toBe('wasm');
    expectParity(recovered, want);
    console.log(`ctr-dense webgpu: worst |score difference| ${worst.toExponential(2)}`);

    // The cut-down package on the same page, the context still holding every frappe field.
    const started = performance.now();
    const cutShared = sharedContext(CUT_WEBGPU_CANDIDATES);
    const cutWant = await ctrProbabilities(cut, keptRows(cutShared.rows));
    const [cutGot] = (await rankInPage(page, CUT, 'webgpu', cutShared.request)) as [PageRanking];
    expect(cutGot.backend).toBe('webgpu');
    const cutWorst = expectParity(cutGot, cutWant);
    const read = cutPackage.manifest.architecture.fieldNames as string[];
    expect(cutGot.unknownContext).toEqual([
      ...unseenFields(cutShared.request.context, read),
      ...REMOVED,
    ]);
    expect(errors.lines()).toEqual([]);
    await page.close();
    console.log(
      `ctr-dense cut webgpu: worst |score difference| ${cutWorst.toExponential(2)}, ${(performance.now() - started).toFixed(0)} ms`,
    );
  });

  test(`ctr-pruned on WASM: ${PRUNED_ROWS} rows score as the pruned model in Node`, async () => {
    const rows = testRows(PRUNED_ROWS);
    const want = await ctrProbabilities(pruned, rows);
    const candidates = Array.from({ length: PRUNED_ROWS }, (_, r) => rawRow(data.schema, rows, r));
    const { page, errors } = await openPage();
    const [got] = (await rankInPage(page, PRUNED, 'wasm', { candidates })) as [PageRanking];
    expectParity(got, want);
    // Pruning changed the scores: this is not the dense model served again.
    await expectNotScoresOf(dense, rows, want);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  test(`cut-down ctr-dense (${REMOVED.join(', ')} and hidden units removed) on WASM: ${CUT_ROWS} frappe test rows sent with every field score as in Node; the removed fields are reported`, async () => {
    // What umec writes: only the kept fields in the schema and the vocabularies, narrower
    // layers, and the FLOPs of the model it was cut from.
    const { architecture } = cutPackage.manifest;
    const names = data.schema.fields.map((f) => f.name);
    const read = names.filter((name) => !REMOVED.includes(name));
    expect(architecture.fieldNames).toEqual(read);
    const vocabulary = JSON.parse(
      await readFile(join(projectRoot, CUT, 'vocabulary.json'), 'utf8'),
    );
    expect(Object.keys(vocabulary)).toEqual(read);
    expect(architecture.mlp).toEqual(
      DEFAULT_DEEPFM.mlp.map((units, l) => keptUnits(units, l).length),
    );
    const ratio = packageFlops(cutPackage.manifest, DEFAULT_ENGINE_OPTIONS)?.flopsRatio ?? 1;
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(1);

    // Each candidate a whole test row, every frappe field in it; then test row 0's context
    // (every frappe field but the item) with the same rows' items.
    const rows = testRows(CUT_ROWS);
    const want = await ctrProbabilities(cut, keptRows(rows));
    const candidates = Array.from({ length: CUT_ROWS }, (_, r) => rawRow(data.schema, rows, r));
    const shared = sharedContext(CUT_ROWS);
    const wantShared = await ctrProbabilities(cut, keptRows(shared.rows));
    const started = performance.now();
    const { page, errors } = await openPage();
    const answers = await rankInPage(page, CUT, 'wasm', [{ candidates }, shared.request]);
    const [got, gotShared] = answers as [PageRanking, PageRanking];
    expect([got.backend, got.scoring]).toEqual(['wasm', 'ctr']);
    const worst = Math.max(expectParity(got, want), expectParity(gotShared, wantShared));
    // The fields the package does not read are reported, after those of its own whose value
    // its vocabulary lacks (there are some: the parity holds for those too).
    const unseen = candidates.map((c) => unseenFields(c, read));
    expect(unseen.some((fields) => fields.length > 0)).toBe(true);
    expect(got.unknownContext).toEqual([]);
    expect(unknownByIndex(got)).toEqual(unseen.map((fields) => [...fields, ...REMOVED]));
    expect(gotShared.unknownContext).toEqual([
      ...unseenFields(shared.request.context, read),
      ...REMOVED,
    ]);
    expect(unknownByIndex(gotShared)).toEqual(
      shared.request.candidates.map((c) => unseenFields(c, read)),
    );
    // The removed groups mattered: these are not the scores of the model it was cut from.
    await expectNotScoresOf(dense, rows, want);
    expect(errors.lines()).toEqual([]);
    await page.close();
    console.log(
      `ctr-dense cut wasm: worst |score difference| ${worst.toExponential(2)}, flopsRatio ${ratio.toFixed(3)}, ${(performance.now() - started).toFixed(0)} ms in the page`,
    );
  });

  test("bench.html's CTR section ranks with the three packages and shows their ratios", async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    // Listed out of order: the dense row comes first, the cut-down one after the pruned.
    await page.goto(
      `${server.url}/bench.html?ctr=${CUT},${DENSE},${PRUNED}&ctrruns=2&backends=wasm&ctrrun=1`,
    );
    await page.waitForFunction(() =>
      ['done', 'failed'].includes(document.body.dataset.ctrState ?? ''),
    );
    const shown = await page.evaluate(() => ({
      rows: window.pocketrecBench.ctr.rows.map((r) => [
        r.url,
        r.status,
        r.error ?? null,
        r.p50VsDense !== null,
        r.flopsRatio,
      ]),
      header: Array.from(document.querySelectorAll('#ctr-table thead th'), (th) => th.textContent),
      flopsColumn: Array.from(document.querySelectorAll('#ctr-table tbody tr'), (tr) => {
        const at = Array.from(document.querySelectorAll('#ctr-table thead th')).findIndex(
          (th) => th.textContent === 'FLOPs ratio',
        );
        return tr.querySelectorAll('td')[at]?.textContent ?? null;
      }),
    }));
    const cutRatio = packageFlops(cutPackage.manifest, DEFAULT_ENGINE_OPTIONS)?.flopsRatio;
    expect(shown.rows).toEqual([
      [DENSE, 'ok', null, true, 1],
      [PRUNED, 'ok', null, true, 1],
      [CUT, 'ok', null, true, cutRatio],
    ]);
    expect(shown.header).toContain('FLOPs ratio');
    expect(shown.flopsColumn).toEqual(['1.00', '1.00', cutRatio?.toFixed(2)]);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });
});
