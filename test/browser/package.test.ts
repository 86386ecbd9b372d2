// The published package, as a user gets it. The library is built (into a temporary folder,
// so it never races a build in dist/) next to the files package.json's `files` names, packed
// with `npm pack`, and installed from the tarball with plain Vite into a scratch project
// outside the repository (its other dependencies come from npm's cache, `--prefer-offline`).
// The scratch project builds two pages with Vite, one calling createRecommender and one with
// <pocket-recs>, plus a page that loads the widget with a plain <script type="module"> from
// a copy of the package's dist/browser; `vite preview` serves them under a CSP that allows
// only files of the page's origin, and Debian's Chromium runs them (on tfjs's WASM backend,
// since no WebGPU flag is given). Then `npx pocketrec` runs from the installed package.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  installPackage,
  npmEnv,
  type PackedPackage,
  packPackage,
  run,
} from '../../scripts/pack-install.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  recordRequests,
  removeDir,
  SHOP_CSP,
} from './harness.ts';

const MODEL = 'storefront-markov';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const pages: Record<string, string> = {
  'client.html': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>client</title></head>
<body><script type="module" src="/client.js"></script></body></html>`,
  'client.js': `import { createRecommender, RuntimeError } from 'pocketrec';

try {
  const rec = await createRecommender({ model: '/models/${MODEL}' });
  await rec.track({ item: 'p0001' });
  const top = await rec.recommend({ k: 5 });
  let refused = null;
  try {
    await rec.track({ item: 'no-such-item' });
  } catch (error) {
    refused = { name: error.name, code: error.code, isRuntimeError: error instanceof RuntimeError };
  }
  window.result = { top, backend: rec.info().backend, refused };
} catch (error) {
  window.result = { error: String(error?.stack ?? error) };
}
`,
  'widget.html': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>widget</title></head>
<body><pocket-recs model="/models/${MODEL}" catalog="/catalog.json" k="4"></pocket-recs>
<script type="module" src="/widget.js"></script></body></html>`,
  'widget.js': `import 'pocketrec/widget';\n`,
  // Not processed by Vite (public/ is copied as it is): the widget straight from dist/browser.
  'public/plain.html': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plain</title></head>
<body><pocket-recs model="/models/${MODEL}" catalog="/catalog.json" k="3"></pocket-recs>
<script type="module" src="/static/pocketrec/pocketrec-widget.js"></script></body></html>`,
  'vite.config.js': `import { defineConfig } from 'vite';

export default defineConfig({
  build: { rollupOptions: { input: { client: 'client.html', widget: 'widget.html' } } },
  preview: { headers: { 'Content-Security-Policy': ${JSON.stringify(SHOP_CSP)} } },
});
`,
  'types.ts': `import { createRecommender, type Recommendation, RuntimeError } from 'pocketrec';
import { type CatalogProduct, PocketRecsElement, pocketrec } from 'pocketrec/widget';
import { readPackageDirectory, runCommand } from 'pocketrec/node';
import { type Manifest, readModelPackage } from 'pocketrec/package-format';

export async function typed(): Promise<unknown[]> {
  const rec = await createRecommender({ model: '/models/m' });
  const top: Recommendation[] = await rec.recommend({ k: 3 });
  const element: PocketRecsElement | null = document.querySelector('pocket-recs');
  const product: CatalogProduct = { id: 'a', name: 'A' };
  const manifest: Manifest = (await readPackageDirectory('m')).manifest;
  const exitCode: number = await runCommand(['--help']);
  return [top, element, product, manifest, exitCode, readModelPackage, pocketrec, RuntimeError];
}
`,
};

let work: string;
let app: string;
let packed: PackedPackage;
let preview: ReturnType<typeof spawn> | null = null;
let origin: string;
let session: ChromiumSession;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pocketrec-package-'));
  packed = await packPackage(work);
  app = join(work, 'app');
  // The Vite the repository has installed, so npm finds it in its cache.
  const vite = JSON.parse(
    await readFile(join(projectRoot, 'node_modules/vite/package.json'), 'utf8'),
  );
  await installPackage(app, packed.tarball, [`vite@${vite.version}`]);
  await mkdir(join(app, 'public/models'), { recursive: true });
  for (const [file, text] of Object.entries(pages)) await writeFile(join(app, file), text);
  await cp(join(projectRoot, 'models', MODEL), join(app, 'public/models', MODEL), {
    recursive: true,
  });
  await cp(join(projectRoot, 'public/storefront/catalog.json'), join(app, 'public/catalog.json'));
  await cp(join(app, 'node_modules/pocketrec/dist/browser'), join(app, 'public/static/pocketrec'), {
    recursive: true,
  });
  const viteBin = join(app, 'node_modules/vite/bin/vite.js');
  await run(process.execPath, [viteBin, 'build', '--logLevel', 'warn'], app);

  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  preview = spawn(
    process.execPath,
    [viteBin, 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    { cwd: app, env: npmEnv(), stdio: 'ignore' },
  );
  for (let tries = 0; ; tries++) {
    if ((await fetch(`${origin}/client.html`).catch(() => null))?.ok) break;
    if (tries > 100) throw new Error(`vite preview did not answer on ${origin}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  session = await launchChromium();
}, 300_000);

afterAll(async () => {
  await session?.close();
  preview?.kill();
  if (work) await removeDir(work);
});

async function open(path: string) {
  const page: Page = await session.newPage();
  const errors = collectErrors(page);
  const network = recordRequests(page);
  await page.goto(origin + path);
  return { page, errors, network };
}

const paths = (network: ReturnType<typeof recordRequests>) =>
  network.requests.map((r) => new URL(r.url).pathname);

describe('the installed package', () => {
  test('the tarball holds the built library and the command, and nothing else of the repository', async () => {
    const { files } = packed;
    for (const file of [
      'bin/pocketrec.js',
      'dist/lib/cli/main.js',
      'dist/lib/node.js',
      'dist/lib/train/gradient-worker.js',
      'dist/types/index.d.ts',
      'dist/types/widget/index.d.ts',
      'dist/browser/pocketrec.js',
      'dist/browser/pocketrec-widget.js',
      'dist/browser/pocketrec-worker.js',
      'dist/browser/tfjs-backend-wasm-simd.wasm',
    ]) {
      expect(files).toContain(file);
    }
    // What the repository itself would pack (its dist/ as it is now): never sources, tests,
    // models or the demo site.
    const dryRun = await run(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts'],
      projectRoot,
    );
    const allowed =
      /^(bin\/pocketrec\.js|dist\/(lib|types|browser)\/.+|README\.md|LICENSE|package\.json)$/;
    for (const { path } of JSON.parse(dryRun.stdout)[0].files as { path: string }[]) {
      expect(path).toMatch(allowed);
    }
  });

  test('a Vite page calls createRecommender and gets recommendations', async () => {
    const { page, errors, network } = await open('/client.html');
    await page.waitForFunction(() => (window as { result?: unknown }).result, null, {
      timeout: 120_000,
    });
    const result = await page.evaluate(() => (window as unknown as { result: unknown }).result);
    expect(result).toMatchObject({
      backend: 'wasm',
      // The class name survives the app's minifier (scripts/build-library.ts).
      refused: { name: 'RuntimeError', code: 'unknown-item', isRuntimeError: true },
    });
    const { top } = result as { top: { item: string; score: number }[] };
    expect(top).toHaveLength(5);
    expect(top.map((r) => r.item)).not.toContain('p0001');
    // The worker and the WASM binary came out of the app's own build.
    expect(paths(network)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/assets\/pocketrec-worker-[\w-]+\.js$/),
        expect.stringMatching(/^\/assets\/tfjs-backend-wasm[\w-]*\.wasm$/),
      ]),
    );
    expect(network.offOrigin(origin)).toEqual([]);
    expect(errors.lines()).toEqual([]);
    await page.close();
  });

  for (const [path, k, where] of [
    ['/widget.html', 4, /^\/assets\//],
    ['/plain.html', 3, /^\/static\/pocketrec\//],
  ] as const) {
    test(`${path}: <pocket-recs> shows recommendations, its worker and WASM from ${where.source}`, async () => {
      const { page, errors, network } = await open(path);
      await page.waitForSelector('pocket-recs[state="ready"]', { timeout: 120_000 });
      const cards = await page.evaluate(
        () => document.querySelector('pocket-recs')?.shadowRoot?.querySelectorAll('.card').length,
      );
      expect(cards).toBe(k);
      const loaded = paths(network);
      expect(loaded.some((p) => where.test(p) && /pocketrec-worker[\w-]*\.js$/.test(p))).toBe(true);
      expect(loaded.some((p) => where.test(p) && /\.wasm$/.test(p))).toBe(true);
      expect(errors.lines()).toEqual([]);
      await page.close();
    });
  }

  test('npx pocketrec runs the compiled command from the installed package', async () => {
    const help = await run('npx', ['pocketrec', '--help'], app);
    expect(help.stdout).toContain('Usage: pocketrec');
    const info = await run('npx', ['pocketrec', 'info', `public/models/${MODEL}`, '--json'], app);
    expect(JSON.parse(info.stdout)).toMatchObject({ name: MODEL, kind: 'sequential-markov' });
  });

  test('pocketrec/node and pocketrec/package-format load in Node, and every entry has types', async () => {
    const script = `
      import { readPackageDirectory } from 'pocketrec/node';
      import { FORMAT_VERSIONS } from 'pocketrec/package-format';
      const pkg = await readPackageDirectory('public/models/${MODEL}');
      console.log(JSON.stringify({ name: pkg.manifest.name, versions: FORMAT_VERSIONS }));`;
    const node = await run(process.execPath, ['--input-type=module', '-e', script], app);
    expect(JSON.parse(node.stdout)).toMatchObject({ name: MODEL });
    const tsc = join(projectRoot, 'node_modules/typescript/bin/tsc');
    const flags = ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022'];
    const modules = ['--module', 'esnext', '--moduleResolution', 'bundler'];
    await run(
      process.execPath,
      [tsc, ...flags, ...modules, '--lib', 'es2022,dom,dom.iterable', 'types.ts'],
      app,
    );
  });
});
