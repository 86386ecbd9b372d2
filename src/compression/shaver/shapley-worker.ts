/**
 * A Shapley estimator worker (see parallel.ts): rebuilds the frozen model once, then answers
 * each step part with its samples' credits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { useWasmBackend } from '../../kernels/wasm/backend.ts';
import { ctrModelFromData } from '../../model/ctr/model-data.ts';
import { errorMessage } from '../../train/worker-thread.ts';
import { type Credits, sampleCredits } from './credits.ts';
import { type ShapleyWorkerData, type StepPart, sequentialModelFromData } from './parallel.ts';
import { sequentialSampleCredits } from './sequential-credits.ts';

const port = parentPort;
if (!port) throw new Error('shapley-worker.ts runs only as a worker thread');

let credit: (part: StepPart) => Promise<Credits>;
const data = workerData as ShapleyWorkerData;
try {
  await useWasmBackend();
  if (data.game === 'ctr') {
    const inputs = {
      model: ctrModelFromData(data.model),
      rows: data.rows,
      codebook: data.codebook,
    };
    credit = (part) => sampleCredits(inputs, data.step, part.indices, part.seeds);
  } else {
    const inputs = {
      model: sequentialModelFromData(data.model),
      cases: data.cases,
      codebook: data.codebook,
    };
    credit = (part) => sequentialSampleCredits(inputs, data.step, part.indices, part.seeds);
  }
  port.postMessage({ type: 'ready' });
} catch (error) {
  port.postMessage({ type: 'error', message: errorMessage(error) });
  throw error;
}

port.on('message', async (part: StepPart) => {
  try {
    const credits = await credit(part);
    port.postMessage({ type: 'credits', ...credits }, [
      credits.elements.buffer as ArrayBuffer,
      credits.deltas.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    port.postMessage({ type: 'error', message: errorMessage(error) });
  }
});
