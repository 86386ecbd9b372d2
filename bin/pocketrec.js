#!/usr/bin/env node
// In a checkout (src/ beside bin/) the command runs the TypeScript source through tsx, so
// there is no build step between editing the toolkit and running it, and never a stale
// dist/ to run by mistake. An installed package has no src/ (package.json `files`): it runs
// the compiled JavaScript in dist/lib, and needs neither tsx nor a compiler.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/lib/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
