// The WASM kernels' bytes are committed as a generated module (scripts/build-kernels.ts):
// compiling their AssemblyScript source again must give exactly those bytes, so the source
// read in review is the code that runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { compileKernel, FUSED_SASREC, generatedModule } from '../../../scripts/build-kernels.ts';
import { projectRoot } from '../../browser/harness.ts';

it('the committed fused SASRec kernels are what their source compiles to', async () => {
  const bytes = await compileKernel(FUSED_SASREC);
  // A module of its own, importing nothing the page would have to provide.
  const module = await WebAssembly.compile(new Uint8Array(bytes));
  expect(WebAssembly.Module.imports(module)).toEqual([]);
  const committed = await readFile(join(projectRoot, FUSED_SASREC.generated), 'utf8');
  expect(committed, 'run npm run build:kernels').toBe(generatedModule(FUSED_SASREC, bytes));
}, 60_000);
