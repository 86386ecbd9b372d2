/**
 * Node worker threads that build a task from a module once, then answer one request at a
 * time: what the data-parallel training workers (data-parallel.ts) and the Shapley
 * estimator's workers (compression/shaver/parallel.ts) have in common.
 *
 * tfjs's WASM backend runs one thread in Node, so a process keeps one core busy however
 * many the machine has; these threads are how a command uses the others.
 */
import { Worker } from 'node:worker_threads';
import { PocketrecError } from '../errors.ts';

/** Every reply: a task's own message types, plus these two every worker may send. */
export type WorkerReply<R> = R | { type: 'ready' } | { type: 'error'; message: string };

/**
 * The worker's first module is plain JavaScript. Run from source, it registers tsx first (as
 * bin/pocketrec.js does), since a worker thread does not inherit the main thread's loader
 * hooks; compiled (dist/lib, an installed package) it imports the module as it is, and tsx
 * need not be installed.
 */
function bootCode(module: string): string {
  const load = `await import(${JSON.stringify(module)});\n`;
  if (!module.endsWith('.ts')) return load;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import { register } from ${JSON.stringify(tsx)};\nregister();\n${load}`;
}

/**
 * The URL of the module `name` beside the module `from` (an `import.meta.url`), with from's
 * extension: `.ts` when the toolkit runs from source, `.js` once compiled into dist/lib.
 */
export function siblingModule(from: string, name: string): string {
  const extension = new URL(from).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, from).href;
}

/** One worker thread and the reply it owes, if any. */
export class WorkerThread<R> {
  private pending: {
    resolve: (r: WorkerReply<R>) => void;
    reject: (e: Error) => void;
  } | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly worker: Worker,
    private readonly failed: (message: string, cause?: unknown) => Error,
  ) {
    worker.on('message', (reply: WorkerReply<R>) => this.settle((p) => p.resolve(reply)));
    worker.on('error', (error) => this.fail(failed(error.message, error)));
    worker.on('exit', (code) => this.fail(failed(`its thread exited with code ${code}`)));
  }

  private settle(action: (p: NonNullable<WorkerThread<R>['pending']>) => void): void {
    const pending = this.pending;
    this.pending = null;
    if (pending) action(pending);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.settle((p) => p.reject(error));
  }

  /** Posts `message` (if any) and waits for the next reply; an 'error' reply rejects. */
  async request(message?: unknown, transfer: ArrayBuffer[] = []): Promise<R | { type: 'ready' }> {
    if (this.failure) throw this.failure;
    const reply = await new Promise<WorkerReply<R>>((resolve, reject) => {
      this.pending = { resolve, reject };
      if (message !== undefined) this.worker.postMessage(message, transfer);
    });
    if (isError(reply)) throw this.failed(reply.message);
    return reply;
  }

  async close(): Promise<void> {
    this.failure ??= this.failed('it was closed');
    await this.worker.terminate();
  }
}

function isError(reply: unknown): reply is { type: 'error'; message: string } {
  return (reply as { type?: unknown }).type === 'error';
}

/**
 * Starts `count` threads running `module` (a URL) with `workerData`, and resolves once each
 * has replied 'ready'; if one fails to start, all are closed and the error is thrown.
 */
export async function startWorkerThreads<R>(
  count: number,
  module: string,
  workerData: unknown,
  failed: (message: string, cause?: unknown) => Error,
): Promise<WorkerThread<R>[]> {
  const boot = bootCode(module);
  const threads = Array.from(
    { length: count },
    () => new WorkerThread<R>(new Worker(boot, { eval: true, workerData }), failed),
  );
  try {
    await Promise.all(threads.map((t) => t.request()));
  } catch (error) {
    await Promise.all(threads.map((t) => t.close()));
    throw error;
  }
  return threads;
}

/** A worker's error as one line for its 'error' reply. */
export const errorMessage = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** The failure a thread's error or exit becomes, named after what the thread was for. */
export function threadFailure(role: string): (message: string, cause?: unknown) => Error {
  return (message, cause) =>
    new PocketrecError('worker-failed', `a ${role} failed: ${message}`, { cause });
}
