/**
 * The client's end of the worker: numbered calls, one reply each, and a worker that can
 * die without taking the page with it.
 *
 * A worker dies by an uncaught error (its `error` event) or by never answering (a call
 * outlives its time limit). Either way every call in flight is rejected at once with an
 * error that says so (none is left hanging), the worker is terminated, and the next call
 * starts a fresh one and replays the last `open` before it runs.
 *
 * A package can be what kills it: building an engine from a version too large for this
 * device runs the worker out of memory. So a death while an `open` or `update` is running
 * is blamed on the version that call announced (the worker's `building` event; before
 * that, on the package url alone). The first such crash is retried once on a new worker,
 * transparently (a crash can be bad luck); a second in a row on the same version refuses
 * it: the call rejects with 'model-refused', and every later open or update carries the
 * refused versions so no worker builds them again. Since a version is stored only once an
 * engine built from it has worked (worker.ts), the replayed `open` finds the last good one.
 * A hang is not retried (the call had its whole time already) but counts the same way.
 *
 * An open or update with a ranker loads two packages, and the worker names each version as
 * it starts building it: a death is blamed on the last one named. A ranker's version
 * refused does not fail the call: it is run again on a new worker with that version in
 * `rankerRefused`, and the recommender opens (or updates) without it, serving the model
 * alone, since a ranker is never worth the model.
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

/** A package version (or, when it died before naming one, a package) this connection gave up on. */
export interface Refusal {
  /** The package url as opened. */
  url: string;
  /** null: the worker died twice before it could say which version it was loading. */
  version: string | null;
  /** What the last crash said. */
  reason: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** performance.now() past which the worker is presumed hung. */
  deadline: number;
  limit: number;
  /** The worker the call was posted to. */
  worker: Worker;
  body: Body;
  transfer: Transferable[];
  /** For an open or update: the package url a death is blamed on. */
  url: string | null;
  /**
   * The versions the worker said this call is loading (its `building` events), oldest
   * first: a death is blamed on the last.
   */
  building: { url: string; version: string }[];
}

/** How many crashes in a row while loading one version make it refused. */
const CRASHES_TO_REFUSE = 2;

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
  /** A version was refused (see Refusal); the call that was running rejects with 'model-refused'. */
  onRefused?: (refusal: Refusal) => void;
}

export class WorkerConnection {
  private worker: Worker | null = null;
  /** The worker on which `lastOpen` succeeded; any other needs it replayed first. */
  private openedOn: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastOpen: Omit<OpenRequest, 'id'> | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;
  /** Crashes per package url and version ('' before the version was known). */
  private readonly crashes = new Map<string, number>();
  private readonly refusals: Refusal[] = [];
  /** Workers that died, for info(). */
  restarts = 0;
  /**
   * One timer for every call's time limit, armed for the earliest deadline: setting and
   * clearing a timer per call took about 12 µs of a 0.16 ms round trip in Chromium's
   * profiler (docs/runtime.md).
   */
  private watchdog: { at: number; timer: ReturnType<typeof setTimeout> } | null = null;

  constructor(private readonly options: WorkerConnectionOptions) {}

  /** What this connection refused, oldest first. */
  get refused(): readonly Refusal[] {
    return this.refusals;
  }

  async call<T>(body: Body, transfer: Transferable[] = []): Promise<T> {
    if (this.closed) throw new RuntimeError('disposed', 'the recommender was disposed');
    if (body.type === 'open') {
      this.lastOpen = body;
      const result = await this.send<T>(body, transfer);
      this.openedOn = this.worker;
      return result;
    }
    await this.ensureWorker();
    return this.send<T>(body, transfer);
  }

  close(): void {
    this.closed = true;
    if (this.watchdog) clearTimeout(this.watchdog.timer);
    this.watchdog = null;
    this.fail(new RuntimeError('disposed', 'the recommender was disposed'));
    this.worker?.terminate();
    this.worker = null;
  }

  private spawn(): Worker {
    const worker = this.options.spawn();
    worker.onmessage = (event: MessageEvent<WorkerReply | WorkerEvent>) => {
      const data = event.data;
      if ('event' in data) {
        if (data.event === 'building') {
          this.pending.get(data.id)?.building.push({ url: data.url, version: data.version });
          return;
        }
        this.options.onEvent(data);
        return;
      }
      const call = this.pending.get(data.id);
      if (!call) return;
      this.pending.delete(data.id);
      // That version loaded: earlier crashes on it were bad luck, not the package. (Not
      // the url's count: a replay of the old version succeeding between two crashes of an
      // update that died before naming its version must not let it retry for ever.)
      if (data.ok) {
        for (const { url, version } of call.building) this.crashes.delete(crashKey(url, version));
      }
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
    if (this.worker && (!this.lastOpen || this.openedOn === this.worker)) return;
    if (!this.starting) {
      this.starting = (async () => {
        if (!this.lastOpen) {
          this.worker = this.spawn();
          return;
        }
        const result = await this.send(this.lastOpen);
        this.openedOn = this.worker;
        this.options.onRestart(result);
      })().finally(() => {
        this.starting = null;
      });
    }
    await this.starting;
  }

  private send<T>(body: Body, transfer: Transferable[] = []): Promise<T> {
    // A retry can come after close().
    if (this.closed) {
      return Promise.reject(new RuntimeError('disposed', 'the recommender was disposed'));
    }
    if (!this.worker) this.worker = this.spawn();
    const worker = this.worker;
    const id = this.nextId++;
    const url = this.packageOf(body);
    const limit = url === null ? this.options.callTimeoutMs : this.options.openTimeoutMs;
    // Sent with every open and update, replays included, so no worker builds them again.
    const ranker = body.type === 'open' ? body.ranker : this.lastOpen?.ranker;
    const message =
      url === null
        ? { ...body, id }
        : {
            ...body,
            id,
            refused: this.refusedVersions(url),
            ...(ranker === undefined ? {} : { rankerRefused: this.refusedVersions(ranker) }),
          };
    return new Promise<T>((resolve, reject) => {
      const deadline = performance.now() + limit;
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        deadline,
        limit,
        worker,
        body,
        transfer,
        url,
        building: [],
      });
      this.armWatchdog(deadline);
      worker.postMessage(message, transfer);
    });
  }

  private armWatchdog(deadline: number): void {
    if (this.watchdog && this.watchdog.at <= deadline) return;
    if (this.watchdog) clearTimeout(this.watchdog.timer);
    const timer = setTimeout(() => this.checkDeadlines(), deadline - performance.now());
    this.watchdog = { at: deadline, timer };
  }

  /** Fails the calls past their deadline (each as its worker hung), then waits for the next. */
  private checkDeadlines(): void {
    this.watchdog = null;
    for (;;) {
      const now = performance.now();
      const late = [...this.pending].find(([, call]) => call.deadline <= now);
      if (!late) break;
      const [id, call] = late;
      // Removes `id` from pending, whatever else it does.
      this.died(
        call.worker,
        new RuntimeError(
          'worker-crashed',
          `the inference worker stopped answering during "${call.body.type}"`,
        ),
        {
          id,
          error: new RuntimeError(
            'timeout',
            `the inference worker did not answer "${call.body.type}" within ${call.limit} ms; it is replaced`,
          ),
        },
      );
    }
    let next = Number.POSITIVE_INFINITY;
    for (const call of this.pending.values()) next = Math.min(next, call.deadline);
    if (next !== Number.POSITIVE_INFINITY) this.armWatchdog(next);
  }

  /** The package an open or update works on; null for any other call. */
  private packageOf(body: Body): string | null {
    if (body.type === 'open') return body.model;
    if (body.type === 'update') return this.lastOpen?.model ?? null;
    return null;
  }

  private refusedVersions(url: string): string[] {
    return this.refusals.flatMap((r) => (r.url === url && r.version !== null ? [r.version] : []));
  }

  /**
   * `timedOut`: the call whose time ran out, and its error; the worker is presumed hung
   * rather than crashed, so nothing is retried (it already had its full time).
   */
  private died(
    worker: Worker,
    error: RuntimeError,
    timedOut?: { id: number; error: RuntimeError },
  ): void {
    if (this.worker !== worker) {
      if (timedOut) this.rejectCall(timedOut.id, timedOut.error);
      return;
    }
    worker.terminate();
    this.worker = null;
    this.restarts++;
    // The worker answers in order, so the oldest call in flight is the one it was running.
    const oldest = this.pending.entries().next().value;
    let running: { id: number; call: Pending; url: string } | null = null;
    if (oldest) {
      const [id, call] = oldest;
      if (call.url !== null) {
        running = { id, call, url: call.url };
        this.pending.delete(id);
      }
    }
    // The others first: a retry of the running call must not be failed with them.
    if (timedOut && running?.id !== timedOut.id) this.rejectCall(timedOut.id, timedOut.error);
    this.fail(error);
    if (running) {
      const { id, call, url } = running;
      this.blame(call, url, timedOut?.id === id ? timedOut.error : error, !timedOut);
    }
  }

  private rejectCall(id: number, error: RuntimeError): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    call.reject(error);
  }

  /**
   * Counts a death against the version an open or update was loading (the last it named:
   * the model's, or its ranker's; before any, the model's url alone); retries or refuses.
   */
  private blame(call: Pending, url: string, error: RuntimeError, retry: boolean): void {
    const last = call.building.at(-1);
    const blamed = last ?? { url, version: null };
    const key = crashKey(blamed.url, blamed.version);
    const crashes = (this.crashes.get(key) ?? 0) + 1;
    this.crashes.set(key, crashes);
    // The ranker's url is not the call's: the ranker (never the model) was being built.
    const rankerAtFault = blamed.url !== url;
    if (crashes >= CRASHES_TO_REFUSE) {
      const { version } = blamed;
      const what =
        version === null
          ? `model ${url} (before its version was known)`
          : `version ${version} of ${rankerAtFault ? 'ranker' : 'model'} ${blamed.url}`;
      if (!this.refusals.some((r) => r.url === blamed.url && r.version === version)) {
        const refusal: Refusal = { url: blamed.url, version, reason: error.message };
        this.refusals.push(refusal);
        this.options.onRefused?.(refusal);
      }
      // Without the ranker's version, the call can still succeed: run it again.
      if (!rankerAtFault) {
        call.reject(
          new RuntimeError(
            'model-refused',
            `${what} stopped the inference worker ${crashes} times while "${call.body.type}" was loading it (${error.message}); it is not tried again`,
          ),
        );
        return;
      }
    } else if (!retry) {
      call.reject(
        error.code === 'timeout'
          ? error
          : new RuntimeError(
              error.code,
              `${error.message} (call "${call.body.type}" was in flight)`,
            ),
      );
      return;
    }
    // Once more, on a new worker: an open as it was; an update after the model it
    // updates has been opened again (the replay). Each send names its versions afresh.
    const again =
      call.body.type === 'open'
        ? this.send(call.body, call.transfer)
        : this.ensureWorker().then(() => this.send(call.body, call.transfer));
    again.then(call.resolve, call.reject);
  }

  private fail(error: RuntimeError): void {
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      call.reject(
        new RuntimeError(error.code, `${error.message} (call "${call.body.type}" was in flight)`),
      );
    }
  }
}

function crashKey(url: string, version: string | null): string {
  return `${url}\n${version ?? ''}`;
}
