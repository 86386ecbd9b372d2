/**
 * The library half of `npm run build` (the demo site is Vite's half, built first, since it
 * empties dist/). It writes, under dist/ (or `--out <dir>`):
 *
 *   lib/      the toolkit and the package format, one JavaScript module per source file
 *             (tsconfig.build.json), for `pocketrec/node`, `pocketrec/package-format` and the
 *             `pocketrec` command;
 *   types/    the .d.ts of every entry point;
 *   browser/  `pocketrec` and `pocketrec/widget` bundled for the browser: pocketrec.js,
 *             pocketrec-widget.js, the chunk they share, the inference worker
 *             (pocketrec-worker.js, tfjs inside) and tfjs's three .wasm binaries.
 *
 * The browser files import nothing by a bare name and find the worker and the binaries
 * with `new URL('./<file>', import.meta.url)`, left as written: a page can load them
 * straight from a copy of browser/ with `<script type="module">`, and a bundler (Vite,
 * webpack) that sees the pattern copies the files it names into its own output.
 *
 *   npx tsx scripts/build-library.ts [--out <dir>]
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'rolldown';
import { classNamesThatLast } from './class-names-that-last.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The worker's name in browser/ (`.js`), the one the client's `new URL` names. */
const WORKER_NAME = 'pocketrec-worker';

/**
 * The client starts its worker from the source file (`./worker.ts`), which Vite maps in
 * `npm start` and in the site build; the library has the bundled worker beside it instead.
 * A client.ts whose worker line no longer reads so fails the build rather than ship a
 * library whose worker cannot be found.
 */
function workerBesideBundle(): Plugin {
  const source = "new URL('./worker.ts', import.meta.url)";
  return {
    name: 'pocketrec-worker-beside-bundle',
    transform(code, id) {
      if (!id.endsWith('/src/runtime/client.ts')) return null;
      if (!code.includes(source)) {
        this.error(`${id} no longer starts its worker with ${source}`);
      }
      return code.replace(source, `new URL('./${WORKER_NAME}.js', import.meta.url)`);
    },
  };
}

/**
 * Vite's `?url` imports of tfjs's .wasm binaries (src/runtime/wasm-paths.ts), the library's
 * way: the file is copied under its own name next to the bundle, and the import is its URL
 * relative to the module that asks, so the binaries go wherever the worker goes.
 */
function wasmBesideBundle(): Plugin {
  const prefix = '\0wasm-beside-bundle:';
  return {
    name: 'pocketrec-wasm-beside-bundle',
    async resolveId(id, importer) {
      if (!id.endsWith('.wasm?url')) return null;
      const file = await this.resolve(id.slice(0, -'?url'.length), importer, { skipSelf: true });
      if (!file) this.error(`cannot resolve ${id}`);
      return prefix + file.id;
    },
    async load(id) {
      if (!id.startsWith(prefix)) return null;
      const file = id.slice(prefix.length);
      const name = basename(file);
      this.emitFile({ type: 'asset', fileName: name, source: await readFile(file) });
      return `export default new URL(${JSON.stringify(`./${name}`)}, import.meta.url).href;`;
    },
  };
}

async function buildBrowser(outDir: string): Promise<void> {
  const common = {
    platform: 'browser' as const,
    cwd: root,
    transform: { define: { 'process.env.NODE_ENV': '"production"' } },
    logLevel: 'warn' as const,
  };
  const output = {
    dir: outDir,
    format: 'es' as const,
    minify: true,
    // No keepNames (see class-names-that-last.ts): class names last through this
    // minification and an app's.
    entryFileNames: '[name].js',
    chunkFileNames: 'pocketrec-chunk-[hash].js',
  };
  await build({
    ...common,
    input: { pocketrec: 'src/index.ts', 'pocketrec-widget': 'src/widget/index.ts' },
    plugins: [workerBesideBundle(), classNamesThatLast()],
    output,
  });
  // One file with everything the worker runs (the WebGPU backend it imports on demand
  // included), so a bundler that copies it rather than bundling it still has all of it.
  await build({
    ...common,
    input: { [WORKER_NAME]: 'src/runtime/worker.ts' },
    plugins: [wasmBesideBundle(), classNamesThatLast()],
    output: { ...output, codeSplitting: false },
  });
}

async function tsc(project: string, outDir: string): Promise<void> {
  const bin = join(root, 'node_modules/typescript/bin/tsc');
  const args = ['-p', project, '--outDir', join(outDir, 'lib')];
  args.push('--declarationDir', join(outDir, 'types'));
  await promisify(execFile)(process.execPath, [bin, ...args], { cwd: root }).catch(
    (error: { stdout?: string; stderr?: string }) => {
      throw new Error(`tsc -p ${project} failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    },
  );
}

export async function buildLibrary(outDir: string): Promise<void> {
  await Promise.all(
    ['lib', 'types', 'browser'].map((d) => rm(join(outDir, d), { recursive: true, force: true })),
  );
  await Promise.all([
    tsc('tsconfig.build.json', outDir),
    tsc('tsconfig.build-types.json', outDir),
    buildBrowser(join(outDir, 'browser')),
  ]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out');
  const outDir = resolve(at === -1 ? join(root, 'dist') : (process.argv[at + 1] ?? ''));
  const started = performance.now();
  await buildLibrary(outDir);
  console.log(
    `library built in ${outDir} (lib/, types/, browser/) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
