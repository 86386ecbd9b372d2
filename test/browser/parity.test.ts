// The worker's recommendations in real Chromium against the Node reference, for 200 real
// ML-1M sessions: on the cpu, wasm and webgpu (SwiftShader) backends, for the dense
// teacher and the tensor-train student, with incremental encoding on and off. The page
// drives the public client API (track, then recommend) and the Node side scores the same
// histories with scoreHistories, the function `pocketrec eval` ranks with.
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

const MODELS = ['models/ml-1m-teacher', 'models/ml-1m-tt-r12'];
const SESSIONS = 200;
const K = 10;
/** Each session is recommended for after its last three events: a whole encoding, then two
 * appended events (the incremental path where the model allows it). */
const STEPS = 3;

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

/** The page's answers, through createRecommender → track → recommend. */
async function browserAnswers(
  modelDir: string,
  backend: string,
  incremental: boolean,
): Promise<{ answers: Ranked[][]; backendUsed: string; reused: number; incremental: boolean }> {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(`${server.url}/test/browser/pages/runtime.html`);
  await page.waitForSelector('body[data-ready="true"]');
  const result = await page.evaluate(
    async ({ model, backend, incremental, sessions, k, steps }) => {
      const rec = await window.pocketrec.createRecommender({
        model: `/${model}`,
        backend: backend as 'cpu',
        incremental,
        databases: { history: `parity-history-${backend}-${incremental}` },
      });
      const answers = [];
      for (const session of sessions) {
        await rec.clear();
        const steps_ = [];
        for (let i = 0; i < session.items.length; i++) {
          await rec.track({ item: session.items[i] as string });
          if (i >= session.items.length - steps) {
            const top = await rec.recommend({ k });
            steps_.push({ items: top.map((t) => t.item), scores: top.map((t) => t.score) });
          }
        }
        answers.push(steps_);
      }
      const info = rec.info();
      rec.dispose();
      return {
        answers,
        backendUsed: info.backend,
        reused: info.stats.reusedPositions,
        incremental: info.incremental,
      };
    },
    { model: modelDir, backend, incremental, sessions, k: K, steps: STEPS },
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
  beforeAll(async () => {
    reference = await nodeReference(modelDir);
    const manifest = JSON.parse(await readFile(`${projectRoot}/${modelDir}/manifest.json`, 'utf8'));
    positions = manifest.architecture.positions ?? 'from-latest';
  });

  test.each([
    ['cpu', false],
    ['cpu', true],
    ['wasm', false],
    ['wasm', true],
    ['webgpu', false],
    ['webgpu', true],
  ])(
    '%s backend, incremental %s: same top-10, scores within 1e-4',
    async (backend, incremental) => {
      const {
        answers,
        backendUsed,
        reused,
        incremental: used,
      } = await browserAnswers(modelDir, backend as string, incremental as boolean);
      expect(backendUsed).toBe(backend);
      // Incremental encoding is on only where asked for and where the positions allow it.
      expect(used).toBe(incremental && positions === 'from-oldest');
      expect(reused > 0).toBe(used);
      const { worst } = compare(answers, reference);
      expect(worst).toBeLessThan(1e-4);
    },
  );
});
