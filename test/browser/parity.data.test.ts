// The worker's recommendations in real Chromium against the Node reference, for 200 real
// ML-1M sessions on the cpu and wasm backends and 6 of them, spread over the lengths, on
// webgpu (SwiftShader runs at CPU speed), for the dense teacher and the tensor-train
// student, with incremental encoding on and off. On WASM the dense models run on the fused
// WASM SIMD kernels (src/kernels/wasm/sasrec-fused/), so those rows hold the fused path to
// the tfjs reference on every session. The page
// drives the public client API (track, then recommend) and the Node side scores the same
// histories with scoreHistories, the function `pocketrec eval` ranks with.
//
// After each of a session's last events the page asks twice: reusing the previous
// request's encoding (the incremental path) and encoding the whole history afresh. One
// replay of the session serves both, which halves the IndexedDB writes of the test.
// The tensor-train student is never materialised here (materialiseRows 0): on WebGPU the
// fused WASM kernels encode and its table is scored by the fused WGSL kernel (as the dense
// teacher's, by its own), on WASM by the fused WASM kernels through its cores, on the cpu
// backend by tfjs contracting the cores.
//
// Last, a teacher narrowed inside its blocks (SasrecConfig.inner: query/key, value and
// feed-forward widths cut, the residual stream untouched, as UMEC prunes it), sliced here
// from the dense teacher and written under the project root (a *.tmp folder, gitignored):
// every session on WASM, and a handful on WebGPU (SwiftShader), whose fixed-shape encoder
// holds each block's keys and values at their own widths.
//
// Then the tensor-train student quantised as `pocketrec quantize` stores it (int4 cores with
// a float16 scale per row, int8 encoder matrices with one scale each, float16 vectors): the
// worker dequantises it once at load, so it must answer as Node does from the same package.
//
// Then the teacher's encoder over a RecJPQ item table (uint8 codes drawn from ML-1M, drawn
// codebooks), never built (materialiseRows 0): the worker scores it through its codebooks.
//
// Last, the teacher's encoder over a quotient-remainder item table (drawn factors, ⌈√n⌉
// remainders): the worker builds it at load even at materialiseRows 0.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { quantizeCandidates } from '../../src/compression/quantize/tensor-schemes.ts';
import { loadUserSequences } from '../../src/data/index.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { jpqItemTable, qrItemTable } from '../../src/model/item-table.ts';
import { assignJpqCodes } from '../../src/model/jpq-codes.ts';
import { defaultQrBuckets, qrFactorStd, qrQuotientRows } from '../../src/model/qr-partition.ts';
import type { BlockWidths, Weights } from '../../src/model/sasrec.ts';
import { type SequentialModel, scoreHistories } from '../../src/model/sequential.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
} from '../../src/model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';
import { repackageSpec } from '../../src/package/repackage.ts';
import { buildModelPackage } from '../../src/package/writer.ts';
import { seededRandom } from '../../src/random.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  startServer,
  type TestServer,
} from './harness.ts';

// Positions from the oldest item, so the reused requests take the incremental path.
const MODELS = ['models/ml-1m-teacher-fo', 'models/ml-1m-tt2-r12-fo'];
const SESSIONS = 200;
const K = 10;
/** Each session is recommended for after its last two events: the first request encodes
 * the whole history, the second appends one event (the incremental path). */
const STEPS = 2;
const FIXTURES = 'test/browser/parity-fixtures.tmp';
/** The narrowed teacher, sliced from MODELS[0]. */
const NARROW = `${FIXTURES}/ml-1m-teacher-fo-narrow`;
/**
 * Which indices of each inner width a block drops (i: the index within a head, for qk and v;
 * the unit, for ffn): a different count of each per block. Of the teacher's 64 (one head):
 * block 0 keeps qk 48, v 42, ffn 32; block 1 keeps qk 32, v 56, ffn 16.
 */
const DROPPED: Record<keyof BlockWidths, (i: number) => boolean>[] = [
  { qk: (i) => i % 4 === 0, v: (i) => i % 3 === 0, ffn: (i) => i % 2 === 0 },
  { qk: (i) => i % 2 === 1, v: (i) => i % 8 === 0, ffn: (i) => i % 4 !== 0 },
];
/**
 * Sessions asked on SwiftShader WebGPU for the teacher and the student: CPU-speed, so a
 * handful that spans the lengths (see sessionsAcrossLengths); every session runs on cpu and wasm.
 */
const WEBGPU_SESSIONS = 6;
/** Sessions asked on SwiftShader WebGPU for the narrowed teacher: a handful. */
const NARROW_WEBGPU_SESSIONS = 4;
/** The student quantised to int4 and int8, from MODELS[1]. */
const INT8 = `${FIXTURES}/ml-1m-tt2-r12-fo-int8`;
/** Sessions asked on SwiftShader WebGPU for the quantised student: dequantising is backend-free. */
const INT8_WEBGPU_SESSIONS = 2;

interface Session {
  /** External item ids, oldest first. */
  items: string[];
}

interface Ranked {
  items: string[];
  scores: number[];
}

let server: TestServer;
let browser: ChromiumSession;
let sessions: Session[];

beforeAll(async () => {
  const data = await loadUserSequences('ml-1m');
  const ids = data.sourceItemIds as ArrayLike<number | string>;
  const random = seededRandom(2026);
  const users = Array.from({ length: data.sequences.length }, (_, u) => u);
  sessions = [];
  while (sessions.length < SESSIONS) {
    const u = users.splice(Math.floor(random() * users.length), 1)[0] as number;
    const sequence = data.sequences[u] as Int32Array;
    // Lengths from 3 to 70: short sessions, full windows, and windows that slid past maxLen 50.
    const length = Math.min(sequence.length, 3 + Math.floor(random() * 68));
    sessions.push({ items: Array.from(sequence.subarray(0, length), (i) => String(ids[i])) });
  }
  server = await startServer();
  browser = await launchChromium({ webgpu: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * Indices of `count` sessions spread over the lengths, shortest to longest: short ones, full
 * windows and windows that slid past maxLen all reach a backend asked only a few.
 */
function sessionsAcrossLengths(count: number): number[] {
  const byLength = sessions.map((_, s) => s).sort((a, b) => lengthOf(a) - lengthOf(b));
  return Array.from(
    { length: count },
    (_, i) => byLength[Math.round((i * (byLength.length - 1)) / (count - 1))] as number,
  );
}

function lengthOf(s: number): number {
  return (sessions[s] as Session).items.length;
}

/** Node's answer for every step of every session: top-K, seen items left out. */
async function nodeReference(modelDir: string, asked = sessions): Promise<Ranked[][]> {
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${modelDir}`));
  const model = sequentialFromPackage(pkg);
  const itemIds = pkg.itemIds as string[];
  const row = new Map(itemIds.map((id, i) => [id, i + 1]));
  const out: Ranked[][] = [];
  for (const session of asked) {
    const rows = session.items.map((id) => row.get(id) as number);
    const prefixes = Array.from({ length: STEPS }, (_, s) =>
      Int32Array.from(rows.slice(0, rows.length - (STEPS - 1) + s)),
    );
    const scored = await scoreHistories(model, prefixes);
    out.push(
      scored.map((scores, s) => {
        const seen = new Set(prefixes[s]);
        const ranked = Array.from(scores, (score, r) => ({ r, score }))
          .filter(({ r }) => r > 0 && !seen.has(r))
          .sort((a, b) => b.score - a.score || a.r - b.r)
          .slice(0, K);
        return {
          items: ranked.map(({ r }) => itemIds[r - 1] as string),
          scores: ranked.map(({ score }) => score),
        };
      }),
    );
  }
  tf.disposeVariables();
  return out;
}

interface PageAnswers {
  /** [session][step] with the encoding reused, and encoded afresh. */
  reused: Ranked[][];
  fresh: Ranked[][];
  backendUsed: string;
  scoring: string;
  reusedPositions: number;
  incremental: boolean;
}

/** The page's answers, through createRecommender → track → recommend. */
async function browserAnswers(
  modelDir: string,
  backend: string,
  asked = sessions,
): Promise<PageAnswers> {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(`${server.url}/test/browser/pages/runtime.html`);
  await page.waitForSelector('body[data-ready="true"]');
  const result = await page.evaluate(
    async ({ model, backend, sessions, k, steps }) => {
      const rec = await window.pocketrec.createRecommender({
        model: `/${model}`,
        backend: backend as 'cpu',
        materialiseRows: 0,
        databases: { history: `parity-${backend}` },
      });
      const ranked = (top: { item: string; score: number }[]) => ({
        items: top.map((t) => t.item),
        scores: top.map((t) => t.score),
      });
      const reused = [];
      const fresh = [];
      for (const session of sessions) {
        await rec.clear();
        const reusedSteps = [];
        const freshSteps = [];
        for (let i = 0; i < session.items.length; i++) {
          await rec.track({ item: session.items[i] as string });
          if (i >= session.items.length - steps) {
            // Reusing first: it extends what the previous step's requests left behind. At
            // the first step there is nothing of this session to extend: it would be a
            // second whole encoding, so it is left out (SwiftShader makes each costly).
            if (i > session.items.length - steps)
              reusedSteps.push(ranked(await rec.recommend({ k })));
            freshSteps.push(ranked(await rec.recommend({ k, reuseEncoding: false })));
          }
        }
        reused.push(reusedSteps);
        fresh.push(freshSteps);
      }
      const info = rec.info();
      rec.dispose();
      return {
        reused,
        fresh,
        backendUsed: info.backend,
        scoring: info.scoring,
        reusedPositions: info.stats.reusedPositions,
        incremental: info.incremental,
      };
    },
    { model: modelDir, backend, sessions: asked, k: K, steps: STEPS },
  );
  expect(errors.lines()).toEqual([]);
  await page.close();
  return result;
}

function compare(got: Ranked[][], want: Ranked[][]): { worst: number; itemMismatches: number } {
  let worst = 0;
  let itemMismatches = 0;
  want.forEach((steps, s) => {
    steps.forEach((w, step) => {
      const g = (got[s] as Ranked[])[step] as Ranked;
      expect(g.items.length).toBe(w.items.length);
      w.items.forEach((item, i) => {
        const diff = Math.abs((g.scores[i] as number) - (w.scores[i] as number));
        worst = Math.max(worst, diff);
        if (g.items[i] !== item) {
          // A different item at the same rank is only allowed as a tie.
          itemMismatches++;
          expect(diff, `session ${s} step ${step} rank ${i}`).toBeLessThan(1e-4);
          expect(w.items).toContain(g.items[i]);
        }
      });
    });
  });
  return { worst, itemMismatches };
}

describe.each(MODELS)('parity with Node: %s', (modelDir) => {
  let reference: Ranked[][];
  let positions: string;
  let kind: string;
  beforeAll(async () => {
    reference = await nodeReference(modelDir);
    const manifest = JSON.parse(await readFile(`${projectRoot}/${modelDir}/manifest.json`, 'utf8'));
    positions = manifest.architecture.positions ?? 'from-latest';
    kind = manifest.kind;
  });

  test.each([
    ['cpu', SESSIONS],
    ['wasm', SESSIONS],
    ['webgpu', WEBGPU_SESSIONS],
  ] as const)(
    '%s backend, %i sessions, incremental on and off: same top-10, scores within 1e-4',
    async (backend, count) => {
      const picked = count === SESSIONS ? sessions.map((_, s) => s) : sessionsAcrossLengths(count);
      const answers = await browserAnswers(
        modelDir,
        backend,
        picked.map((s) => sessions[s] as Session),
      );
      const want = picked.map((s) => reference[s] as Ranked[]);
      expect(answers.backendUsed).toBe(backend);
      if (kind === 'sequential-tt') {
        expect(answers.scoring).toBe(
          { cpu: 'tt-contracted', wasm: 'fused-wasm', webgpu: 'fused-wasm+webgpu' }[backend],
        );
      } else {
        // On WASM the dense teacher runs on the fused kernels, tfjs's ops on the Node side.
        expect(answers.scoring).toBe(
          { cpu: 'dense-table', wasm: 'fused-wasm', webgpu: 'fused-wasm+webgpu' }[backend],
        );
      }
      // Earlier positions are reused exactly where the positions allow it.
      expect(answers.incremental).toBe(positions === 'from-oldest');
      expect(answers.reusedPositions > 0).toBe(positions === 'from-oldest');
      const laterSteps = want.map((steps) => steps.slice(1));
      expect(compare(answers.reused, laterSteps).worst).toBeLessThan(1e-4);
      expect(compare(answers.fresh, want).worst).toBeLessThan(1e-4);
    },
    600_000,
  );
});

/**
 * The teacher with each block's dropped query/key and value indices (in every head) and
 * feed-forward units sliced out of its kernels and biases, written as a package.
 */
async function writeNarrowedTeacher(): Promise<void> {
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${MODELS[0]}`));
  const model = sequentialFromPackage(pkg);
  const { dim, heads, blocks } = model.config;
  const head = dim / heads;
  const encoder: Weights = { ...model.encoder };
  const inner: BlockWidths[] = [];
  for (let b = 0; b < blocks; b++) {
    const dropped = DROPPED[b] as (typeof DROPPED)[number];
    const keptInHeads = (drop: (i: number) => boolean) =>
      Array.from({ length: heads * head }, (_, c) => c).filter((c) => !drop(c % head));
    const kept = {
      qk: keptInHeads(dropped.qk),
      v: keptInHeads(dropped.v),
      ffn: Array.from({ length: dim }, (_, u) => u).filter((u) => !dropped.ffn(u)),
    };
    inner.push({ qk: kept.qk.length / heads, v: kept.v.length / heads, ffn: kept.ffn.length });
    const slices: [string, keyof BlockWidths, number][] = [
      ['attention.query.kernel', 'qk', 1],
      ['attention.query.bias', 'qk', 0],
      ['attention.key.kernel', 'qk', 1],
      ['attention.key.bias', 'qk', 0],
      ['attention.value.kernel', 'v', 1],
      ['attention.value.bias', 'v', 0],
      ['attention.output.kernel', 'v', 0],
      ['ffn.inner.kernel', 'ffn', 1],
      ['ffn.inner.bias', 'ffn', 0],
      ['ffn.outer.kernel', 'ffn', 0],
    ];
    for (const [name, width, axis] of slices) {
      const full = encoder[`blocks.${b}.${name}`] as tf.Tensor;
      encoder[`blocks.${b}.${name}`] = tf.gather(full, tf.tensor1d(kept[width], 'int32'), axis);
    }
  }
  expect(inner).toEqual([
    { qk: 48, v: 42, ffn: 32 },
    { qk: 32, v: 56, ffn: 16 },
  ]);
  const narrowed: SequentialModel = { ...model, config: { ...model.config, inner }, encoder };
  const spec = await sequentialPackageSpec(narrowed, {
    name: 'ml-1m-teacher-fo-narrow',
    dataset: 'ml-1m',
    ...(pkg.itemIds ? { itemIds: pkg.itemIds } : {}),
  });
  const { files } = await buildModelPackage(spec);
  await writePackageDirectory(join(projectRoot, NARROW), files);
  tf.disposeVariables();
}

describe('parity with Node: the teacher narrowed inside its blocks', () => {
  let reference: Ranked[][];
  beforeAll(async () => {
    await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
    await writeNarrowedTeacher();
    reference = await nodeReference(NARROW);
  });
  afterAll(async () => {
    await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  });

  test('wasm backend, incremental on and off: same top-10, scores within 1e-4', async () => {
    const manifest = JSON.parse(await readFile(join(projectRoot, NARROW, 'manifest.json'), 'utf8'));
    expect(manifest.architecture).toMatchObject({
      innerQk: [48, 32],
      innerV: [42, 56],
      innerFfn: [32, 16],
    });
    const answers = await browserAnswers(NARROW, 'wasm');
    expect(answers.backendUsed).toBe('wasm');
    expect(answers.scoring).toBe('fused-wasm');
    expect(answers.incremental).toBe(true);
    expect(answers.reusedPositions).toBeGreaterThan(0);
    const laterSteps = reference.map((steps) => steps.slice(1));
    const reused = compare(answers.reused, laterSteps).worst;
    const fresh = compare(answers.fresh, reference).worst;
    console.log(`narrowed teacher wasm: worst |score difference| ${Math.max(reused, fresh)}`);
    expect(reused).toBeLessThan(1e-4);
    expect(fresh).toBeLessThan(1e-4);
  }, 600_000);

  test(`webgpu backend, ${NARROW_WEBGPU_SESSIONS} sessions: same top-10, scores within 1e-4`, async () => {
    const started = performance.now();
    const asked = sessions.slice(0, NARROW_WEBGPU_SESSIONS);
    const answers = await browserAnswers(NARROW, 'webgpu', asked);
    expect(answers.backendUsed).toBe('webgpu');
    expect(answers.reusedPositions).toBeGreaterThan(0);
    const want = reference.slice(0, NARROW_WEBGPU_SESSIONS);
    const reused = compare(
      answers.reused,
      want.map((steps) => steps.slice(1)),
    ).worst;
    const fresh = compare(answers.fresh, want).worst;
    console.log(
      `narrowed teacher webgpu: worst |score difference| ${Math.max(reused, fresh)}, ${(performance.now() - started).toFixed(0)} ms`,
    );
    expect(reused).toBeLessThan(1e-4);
    expect(fresh).toBeLessThan(1e-4);
  }, 600_000);
});

/**
 * The student with every float32 tensor stored as `pocketrec quantize` may store it: the
 * item table's cores in int4 with a float16 scale per row (two values to a byte), the
 * encoder's matrices in int8 with one scale each, its vectors in float16, so that every
 * stored form is read.
 */
async function writeQuantizedStudent(): Promise<string[]> {
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${MODELS[1]}`));
  const tensors = new Map(pkg.tensors);
  for (const tensor of pkg.tensors.values()) {
    const table = tensor.name.startsWith('items.');
    const candidates = quantizeCandidates(tensor, table ? 'int4' : 'int8');
    const wanted = table ? 'int4-rows' : 'int8-tensor';
    const chosen = candidates.find((c) => c.scheme === wanted) ?? candidates[0];
    if (chosen) tensors.set(tensor.name, chosen.tensor);
  }
  const spec = repackageSpec({ ...pkg, tensors }, { name: 'int8', notes: '{}', metrics: {} });
  const { manifest, files } = await buildModelPackage(spec);
  await writePackageDirectory(join(projectRoot, INT8), files);
  return manifest.tensors.map((t) => (t.scales ? `${t.dtype}-rows` : t.dtype));
}

describe('parity with Node: the student in int4 and int8', () => {
  let reference: Ranked[][];
  beforeAll(async () => {
    await rm(join(projectRoot, INT8), { recursive: true, force: true });
    const stored = await writeQuantizedStudent();
    expect(new Set(stored)).toEqual(new Set(['int4-rows', 'int8', 'float16']));
    reference = await nodeReference(INT8);
  });
  afterAll(async () => {
    await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  });

  test.each([
    ['wasm', SESSIONS],
    ['webgpu', INT8_WEBGPU_SESSIONS],
  ] as const)(
    '%s backend, %i sessions: same top-10, scores within 1e-4',
    async (backend, count) => {
      const asked = sessions.slice(0, count);
      const answers = await browserAnswers(INT8, backend, asked);
      expect(answers.backendUsed).toBe(backend);
      const want = reference.slice(0, count);
      const reused = compare(
        answers.reused,
        want.map((steps) => steps.slice(1)),
      ).worst;
      const fresh = compare(answers.fresh, want).worst;
      console.log(
        `int4/int8 student ${backend}: worst |score difference| ${Math.max(reused, fresh)}`,
      );
      expect(reused).toBeLessThan(1e-4);
      expect(fresh).toBeLessThan(1e-4);
    },
    600_000,
  );
});

/** The teacher's encoder over a RecJPQ table, from MODELS[0]. */
const JPQ = `${FIXTURES}/ml-1m-teacher-fo-jpq`;
const JPQ_SESSIONS = 20;

async function writeJpqTeacher(): Promise<void> {
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${MODELS[0]}`));
  const teacher = sequentialFromPackage(pkg);
  const { numItems, dim } = teacher.config;
  const shape = { splits: 8, centroids: 256 };
  const data = await loadUserSequences('ml-1m');
  const { codes } = assignJpqCodes(data.sequences, numItems, shape, { seed: 1 });
  const model: SequentialModel = {
    ...teacher,
    items: jpqItemTable(
      tf.randomNormal([8, 256, dim / 8], 0, 1 / Math.sqrt(dim), 'float32', 2),
      tf.tensor2d(Int32Array.from(codes), [numItems + 1, 8], 'int32'),
      numItems + 1,
    ),
  };
  const spec = await sequentialPackageSpec(model, {
    name: 'ml-1m-teacher-fo-jpq',
    dataset: 'ml-1m',
    ...(pkg.itemIds ? { itemIds: pkg.itemIds } : {}),
  });
  const { files } = await buildModelPackage(spec);
  await writePackageDirectory(join(projectRoot, JPQ), files);
  tf.disposeVariables();
}

describe('parity with Node: the teacher over a RecJPQ item table', () => {
  let reference: Ranked[][];
  const asked = () => sessions.slice(0, JPQ_SESSIONS);
  beforeAll(async () => {
    await rm(join(projectRoot, JPQ), { recursive: true, force: true });
    await writeJpqTeacher();
    reference = await nodeReference(JPQ, asked());
  });
  afterAll(async () => {
    await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  });

  test(`wasm backend, ${JPQ_SESSIONS} sessions, scored through the codebooks: same top-10, scores within 1e-4`, async () => {
    const answers = await browserAnswers(JPQ, 'wasm', asked());
    expect(answers.backendUsed).toBe('wasm');
    expect(answers.scoring).toBe('jpq-codebooks');
    const reused = compare(
      answers.reused,
      reference.map((steps) => steps.slice(1)),
    ).worst;
    const fresh = compare(answers.fresh, reference).worst;
    console.log(`RecJPQ teacher wasm: worst |score difference| ${Math.max(reused, fresh)}`);
    expect(reused).toBeLessThan(1e-4);
    expect(fresh).toBeLessThan(1e-4);
  }, 600_000);
});

/** The teacher's encoder over a quotient-remainder table, from MODELS[0]. */
const QR = `${FIXTURES}/ml-1m-teacher-fo-qr`;
const QR_SESSIONS = 10;

async function writeQrTeacher(): Promise<void> {
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${MODELS[0]}`));
  const teacher = sequentialFromPackage(pkg);
  const { numItems, dim } = teacher.config;
  const numRows = numItems + 1;
  const buckets = defaultQrBuckets(numRows);
  const std = qrFactorStd(dim, 'mult');
  const model: SequentialModel = {
    ...teacher,
    items: qrItemTable(
      tf.randomNormal([qrQuotientRows(numRows, buckets), dim], 0, std, 'float32', 3),
      tf.randomNormal([buckets, dim], 0, std, 'float32', 4),
      numRows,
      'mult',
    ),
  };
  const spec = await sequentialPackageSpec(model, {
    name: 'ml-1m-teacher-fo-qr',
    dataset: 'ml-1m',
    ...(pkg.itemIds ? { itemIds: pkg.itemIds } : {}),
  });
  const { files } = await buildModelPackage(spec);
  await writePackageDirectory(join(projectRoot, QR), files);
  tf.disposeVariables();
}

describe('parity with Node: the teacher over a quotient-remainder item table', () => {
  let reference: Ranked[][];
  const asked = () => sessions.slice(0, QR_SESSIONS);
  beforeAll(async () => {
    await rm(join(projectRoot, QR), { recursive: true, force: true });
    await writeQrTeacher();
    reference = await nodeReference(QR, asked());
  });
  afterAll(async () => {
    await rm(join(projectRoot, FIXTURES), { recursive: true, force: true });
  });

  test(`quotient-remainder wasm backend, ${QR_SESSIONS} sessions, the table built at load: same top-10, scores within 1e-4`, async () => {
    const answers = await browserAnswers(QR, 'wasm', asked());
    expect(answers.backendUsed).toBe('wasm');
    // Built at load, so served by the fused WASM kernels.
    expect(answers.scoring).toBe('fused-wasm');
    const reused = compare(
      answers.reused,
      reference.map((steps) => steps.slice(1)),
    ).worst;
    const fresh = compare(answers.fresh, reference).worst;
    console.log(
      `quotient-remainder teacher wasm: worst |score difference| ${Math.max(reused, fresh)}`,
    );
    expect(reused).toBeLessThan(1e-4);
    expect(fresh).toBeLessThan(1e-4);
  }, 600_000);
});
