import { configDefaults, defineConfig } from 'vitest/config';
import { classNamesThatLast } from './scripts/class-names-that-last.ts';
import { DATA_DIR_ENV, NO_DATA_DIR } from './src/data/data-dir.ts';
import { benchPagePlugin } from './src/pages/bench/dev-server.ts';
import { localDataPlugin } from './src/pages/dev-server/local-data.ts';
import { WIDGET_FILE, widgetDevEntry } from './src/widget/vite-plugin.ts';

// The CSP the pages run under: nothing may leave the device except requests back to
// this origin (the model package). 'wasm-unsafe-eval' and blob: are what tfjs's WASM
// backend and module workers need.
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
].join('; ');

const headers = { 'Content-Security-Policy': contentSecurityPolicy };

/** The tests that read the real data sets (../shared/data); only `npm run test:data` runs them. */
const REAL_DATA_TESTS = '**/*.data.test.ts';
const unitSettings = { environment: 'node', testTimeout: 60_000 } as const;
const browserSettings = {
  environment: 'node',
  testTimeout: 180_000,
  hookTimeout: 180_000,
  fileParallelism: false,
} as const;

export default defineConfig({
  // Each surface adds its own dev-server or build plugin here (one file per plugin).
  plugins: [localDataPlugin(), widgetDevEntry(), benchPagePlugin(), classNamesThatLast()],
  // Built files find each other relative to themselves (the dev server still uses '/'), so
  // dist/ works wherever a shop puts it, e.g. /static/pocketrec/pocketrec-widget.js.
  base: './',
  build: {
    rolldownOptions: {
      // Every page at the top level is an entry of `npm run build`, and so is the widget.
      input: {
        demo: 'index.html',
        storefront: 'storefront.html',
        bench: 'bench.html',
        widget: 'src/widget/index.ts',
      },
      output: {
        // The widget keeps one fixed name, the one a shop's script tag points at; every
        // other file is content-hashed and found by the widget relative to itself.
        entryFileNames: (chunk) =>
          chunk.name === 'widget' ? WIDGET_FILE : 'assets/[name]-[hash].js',
      },
    },
  },
  // The inference worker is a module worker (it imports the WebGPU backend on demand).
  // The engine (tfjs and its backends) is a dynamic import: a model the fused WASM kernels serve
  // never loads it (src/runtime/engine/open-engine.ts). Rolldown's chunk optimisation would
  // move the modules its chunks share into the worker's entry, the part every visit loads.
  // Errors cross the worker boundary by class name: classNamesThatLast keeps the names (not
  // keepNames, which breaks tfjs's threaded WASM workers).
  worker: {
    format: 'es',
    plugins: () => [classNamesThatLast()],
    rolldownOptions: { experimental: { chunkOptimization: false } },
  },
  // models/ is served as-is next to the pages so a page can fetch /models/<name>/manifest.json.
  publicDir: 'public',
  // Listed so the dev server bundles them before the first page asks: one found later (the
  // worker's dynamic WebGPU import) re-bundles and reloads every open page mid-session.
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'idb',
    ],
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true, headers },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers },
  test: {
    // `npm test` (unit, browser) must pass on a clone with no data sets beside it, so those
    // projects run with the data directory switched off: a test that reads ../shared/data
    // fails there instead of passing by luck on a machine that has it. The tests about the
    // real data sets are named *.data.test.ts and run in data, data-browser
    // (`npm run test:data`).
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: [...configDefaults.exclude, REAL_DATA_TESTS],
          env: { [DATA_DIR_ENV]: NO_DATA_DIR },
          ...unitSettings,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          exclude: [...configDefaults.exclude, REAL_DATA_TESTS],
          env: { [DATA_DIR_ENV]: NO_DATA_DIR },
          ...browserSettings,
        },
      },
      {
        test: { name: 'data', include: [`test/unit/${REAL_DATA_TESTS}`], ...unitSettings },
      },
      {
        test: {
          name: 'data-browser',
          include: [`test/browser/${REAL_DATA_TESTS}`],
          ...browserSettings,
        },
      },
    ],
  },
});
