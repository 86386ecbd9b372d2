// The hostile-package corpus (test/fixtures/hostile) through every Node path that reads a
// package: `pocketrec verify` and `info`, the toolkit's loader and the runtime engine. Each
// case must end in the typed error it stands for (or load correctly and answer a request)
// within 5 s and 64 MiB above its declared size. The cases run in a fresh process of their
// own (node-runner.ts), so its resident-memory peak is theirs alone.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLine } from '../../../src/cli/terminal-text.ts';
import { MODEL_PACKAGE_PROBLEMS } from '../../../src/package/errors.ts';
import { HOSTILE_BUDGET } from '../../fixtures/hostile/budget.ts';
import type { CaseReport } from '../../fixtures/hostile/node-runner.ts';

const runner = join(import.meta.dirname, '../../fixtures/hostile/node-runner.ts');
let scratch: string;
let reports: CaseReport[];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pocketrec-hostile-'));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', runner, scratch],
    { maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
  );
  reports = JSON.parse(stdout) as CaseReport[];
}, 300_000);

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('the hostile-package corpus in Node', () => {
  it('has a case for every error code of the format and for each attack class', () => {
    const expected = new Set(reports.map((r) => r.expect));
    for (const code of MODEL_PACKAGE_PROBLEMS) expect(expected, code).toContain(code);
    const names = reports.map((r) => r.name);
    for (const name of [
      'arch-blocks-1e9',
      'tt-padding-8192x8192',
      'symlink-passwd-right-hash',
      'symlink-dev-zero',
      'fifo',
      'manifest-depth-10000',
      'int8-scale-1e39',
      'oversized-1.5gb',
      'ok-control-characters',
      'duplicate-key',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('every case ends as it must in every path: a typed error with its code, or a correct load', () => {
    const wrong: string[] = [];
    for (const r of reports) {
      const [verify, info, loader, engine] = r.paths;
      if (!verify || !info || !loader || !engine) throw new Error(`${r.name}: paths missing`);
      if (r.expect === 'loads') {
        for (const p of r.paths) if (!p.ok) wrong.push(`${r.name}: ${p.path}: ${p.error?.message}`);
        continue;
      }
      for (const p of [loader, engine]) {
        if (p.ok || p.error?.name !== 'ModelPackageError' || p.error.code !== r.expect) {
          wrong.push(`${r.name}: ${p.path}: ${p.ok ? 'accepted' : JSON.stringify(p.error)}`);
        }
      }
      // The CLI prints the same typed error, on one escaped line, and exits 1.
      const message = oneLine(loader.error?.message ?? '');
      for (const p of [verify, info]) {
        if (p.ok || p.error?.code !== '1' || p.error.message !== message) {
          wrong.push(`${r.name}: ${p.path}: ${p.ok ? 'accepted' : JSON.stringify(p.error)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no raw control character reaches the CLI output', () => {
    const raw = reports.flatMap((r) =>
      r.paths.filter((p) => p.rawControl).map((p) => `${r.name}: ${p.path}`),
    );
    expect(raw).toEqual([]);
  });

  it(`every case stays within ${HOSTILE_BUDGET.ms} ms and its declared size + 64 MiB`, () => {
    const over = reports
      .filter(
        (r) =>
          r.ms > HOSTILE_BUDGET.ms ||
          r.peakOverBaselineBytes > r.declaredBytes + HOSTILE_BUDGET.extraBytes,
      )
      .map((r) => `${r.name}: ${Math.round(r.ms)} ms, ${r.peakOverBaselineBytes} bytes`);
    expect(over).toEqual([]);
    console.table(
      reports.map((r) => ({
        case: r.name,
        expect: r.expect,
        ms: Math.round(r.ms),
        'peak MiB': (r.peakOverBaselineBytes / 2 ** 20).toFixed(1),
      })),
    );
  });
});
