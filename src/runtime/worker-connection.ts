/**
 * The client's end of the worker: numbered calls, one reply each, and a worker that can
 * die without taking the page with it.
 *
 * A worker dies by an uncaught error (its `error` event) or by never answering (a call
 * outlives its time limit). Either way every call in flight is rejected at once with an
 * error that says so (none is left hanging), the worker is terminated, and the next call
 * starts a fresh one and replays the last `open` before it runs.
 */
import { RuntimeError } from './errors.ts';
import {
  deserializeError,
  type OpenRequest,
  type WorkerEvent,
  type WorkerReply,
  type WorkerRequest,
} from './protocol.ts';

type Body = WorkerRequest extends infer R
  ? R extends WorkerRequest
    ? Omit<R, 'id'>
    : never
  : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
  type: string;
}

export interface WorkerConnectionOptions {
  /** Starts a worker (the default is the bundled inference worker). */
  spawn: () => Worker;
  /** Limit for a request other than `open`/`update`. */
  callTimeoutMs: number;
  /** Limit for `open`/`update`, which download, verify and warm up. */
  openTimeoutMs: number;
  onEvent: (event: WorkerEvent) => void;
  /** After a replacement worker has re-opened the model. */
  onRestart: (result: unknown) => void;
}

export class WorkerConnection {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastOpen: Omit<OpenRequest, 'id'> | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;
  /** Workers that died, for info(). */
  restarts = 0;

  constructor(private readonly options: WorkerConnectionOptions) {}

  async call<T>(body: Body, transfer: Transferable[] = []): Promise<T> {
    if (this.closed) throw new RuntimeError('disposed', 'the recommender was disposed');
    if (body.type === 'open') this.lastOpen = body as Omit<OpenRequest, 'id'>;
    else await this.ensureWorker();
    return this.send<T>(body, transfer);
  }

  close(): void {
    this.closed = true;
    this.fail(new RuntimeError('disposed', 'the recommender was disposed'));
    this.worker?.terminate();
    this.worker = null;
  }

  private spawn(): Worker {
    const worker = this.options.spawn();
    worker.onmessage = (event: MessageEvent<WorkerReply | WorkerEvent>) => {
      const data = event.data;
      if ('event' in data) {
        this.options.onEvent(data);
        return;
      }
      const call = this.pending.get(data.id);
      if (!call) return;
      this.pending.delete(data.id);
      clearTimeout(call.timer);
      if (data.ok) call.resolve(data.result);
      else call.reject(deserializeError(data.error));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.died(
        worker,
        new RuntimeError(
          'worker-crashed',
          `the inference worker crashed (${event.message || 'no message'}); a new one is started for the next call`,
        ),
      );
    };
    worker.onmessageerror = () => {
      this.died(
        worker,
        new RuntimeError(
          'worker-crashed',
          'the inference worker sent a message that could not be read',
        ),
      );
    };
    return worker;
  }

  /** A worker exists, and has the model open if one was opened before it died. */
  private async ensureWorker(): Promise<void> {
    if (this.worker) return;
    if (!this.starting) {
      this.starting = (async () => {
        if (!this.lastOpen) {
          this.worker = this.spawn();
          return;
        }
        this.restarts++;
        const result = await this.send(this.lastOpen);
        this.options.onRestart(result);
      })().finally(() => {
        this.starting = null;
      });
    }
    await this.starting;
  }

  private send<T>(body: Body, transfer: Transferable[] = []): Promise<T> {
    if (!this.worker) this.worker = this.spawn();
    const worker = this.worker;
    const id = this.nextId++;
    const slow = body.type === 'open' || body.type === 'update';
    const limit = slow ? this.options.openTimeoutMs : this.options.callTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new RuntimeError(
            'timeout',
            `the inference worker did not answer "${body.type}" within ${limit} ms; it is replaced`,
          ),
        );
        this.died(
          worker,
          new RuntimeError(
            'worker-crashed',
            `the inference worker stopped answering during "${body.type}"`,
          ),
        );
      }, limit);
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
        type: body.type,
      });
      worker.postMessage({ ...body, id }, transfer);
    });
  }

  private died(worker: Worker, error: RuntimeError): void {
    if (this.worker !== worker) return;
    worker.terminate();
    this.worker = null;
    this.fail(error);
  }

  private fail(error: RuntimeError): void {
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      this.pending.delete(id);
      call.reject(
        new RuntimeError(error.code, `${error.message} (call "${call.type}" was in flight)`),
      );
    }
  }
}
