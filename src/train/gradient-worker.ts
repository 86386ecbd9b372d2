/**
 * A data-parallel training worker (see data-parallel.ts): builds the task's loss once, then
 * answers each request with the loss and gradient of its batch part at the given weights.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import type { GradientTask, TrainingTask } from './data-parallel.ts';
import { errorMessage } from './worker-thread.ts';

interface Request {
  batch: unknown;
  step: number;
  weights: Record<string, Float32Array>;
}

const port = parentPort;
if (!port) throw new Error('gradient-worker.ts runs only as a worker thread');

let task: TrainingTask<unknown>;
try {
  await useWasmBackend();
  const spec = workerData as GradientTask;
  const module = (await import(spec.module)) as Record<string, unknown>;
  const builder = module[spec.builder];
  if (typeof builder !== 'function') {
    throw new Error(`${spec.module} exports no function "${spec.builder}"`);
  }
  task = await (builder as (args: unknown) => Promise<TrainingTask<unknown>>)(spec.args);
  port.postMessage({ type: 'ready' });
} catch (error) {
  port.postMessage({ type: 'error', message: errorMessage(error) });
  throw error;
}

const names = Object.keys(task.variables);
port.on('message', (request: Request) => {
  try {
    for (const name of names) {
      const variable = task.variables[name] as tf.Variable;
      const values = request.weights[name];
      if (!values || values.length !== variable.size) {
        throw new Error(`the weights of "${name}" are missing or of the wrong size`);
      }
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
    }
    const { value, grads } = tf.variableGrads(
      () => task.loss(request.batch, request.step),
      names.map((n) => task.variables[n] as tf.Variable),
    );
    const out: Record<string, Float32Array> = {};
    for (const name of names) {
      const grad = grads[(task.variables[name] as tf.Variable).name];
      // A copy of its own, so that its buffer can be transferred whole.
      if (grad) out[name] = (grad.dataSync() as Float32Array).slice();
    }
    const loss = value.dataSync()[0] as number;
    tf.dispose([value, ...Object.values(grads)]);
    port.postMessage(
      { type: 'gradient', loss, grads: out },
      Object.values(out).map((a) => a.buffer as ArrayBuffer),
    );
  } catch (error) {
    port.postMessage({ type: 'error', message: errorMessage(error) });
  }
});
