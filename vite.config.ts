import { defineConfig } from 'vitest/config';

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

export default defineConfig({
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
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
