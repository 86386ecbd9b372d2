// The worker's recommendations in real Chromium against the Node reference, for 200 real
// ML-1M sessions: on the cpu, wasm and webgpu (SwiftShader) backends, for the dense
// teacher and the tensor-train student, with incremental encoding on and off. The page
// drives the public client API (track, then recommend) and the Node side scores the same
// histories with scoreHistories, the function `pocketrec eval` ranks with.
//
// After each of a session's last events the page asks twice: reusing the previous
// request's encoding (the incremental path) and encoding the whole history afresh. One
// replay of the session serves both, which halves the IndexedDB writes of the test.
// The tensor-train student is never materialised here (materialiseRows 0): on WebGPU it
// is scored by the fused WGSL kernel, elsewhere by contracting the cores.
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadUserSequences } from '../../src/data/index.ts';
import { useWasmBackend } from '../../src/kernels/wasm/backend.ts';
import { scoreHistories } from '../../src/model/sequential.ts';
import { sequentialFromPackage } from '../../src/model/sequential-package.ts';
import { directorySource } from '../../src/package/node-fs.ts';
import { readModelPackage } from '../../src/package/reader.ts';
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

/** Node's answer for every step of every session: top-K, seen items left out. */
async function nodeReference(modelDir: string): Promise<Ranked[][]> {
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(`${projectRoot}/${modelDir}`));
  const model = sequentialFromPackage(pkg);
  const itemIds = pkg.itemIds as string[];
  const row = new Map(itemIds.map((id, i) => [id, i + 1]));
  const out: Ranked[][] = [];
  for (const session of sessions) {
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
async function browserAnswers(modelDir: string, backend: string): Promise<PageAnswers> {
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
    { model: modelDir, backend, sessions, k: K, steps: STEPS },
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

  test.each(['cpu', 'wasm', 'webgpu'])(
    '%s backend, incremental on and off: same top-10, scores within 1e-4',
    async (backend) => {
      const answers = await browserAnswers(modelDir, backend);
      expect(answers.backendUsed).toBe(backend);
      if (kind === 'sequential-tt') {
        expect(answers.scoring).toBe(backend === 'webgpu' ? 'tt-webgpu-kernel' : 'tt-contracted');
      }
      // Earlier positions are reused exactly where the positions allow it.
      expect(answers.incremental).toBe(positions === 'from-oldest');
      expect(answers.reusedPositions > 0).toBe(positions === 'from-oldest');
      const laterSteps = reference.map((steps) => steps.slice(1));
      expect(compare(answers.reused, laterSteps).worst).toBeLessThan(1e-4);
      expect(compare(answers.fresh, reference).worst).toBeLessThan(1e-4);
    },
    600_000,
  );
});
