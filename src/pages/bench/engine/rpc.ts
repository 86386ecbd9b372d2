/**
 * A minimal request/reply channel between the bench page and its workers: each call
 * posts `{ id, method, args }` and waits for the reply with that id.
 */

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface RpcClient {
  call<T>(method: string, args?: unknown): Promise<T>;
  close(): void;
}

export function rpcClient(worker: Worker): RpcClient {
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  worker.onmessage = (event: MessageEvent<Reply>) => {
    const { id, ok, result, error } = event.data;
    const waiter = pending.get(id);
    pending.delete(id);
    if (ok) waiter?.resolve(result);
    else waiter?.reject(new Error(error));
  };
  worker.onerror = (event) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`bench worker failed: ${event.message}`));
    }
    pending.clear();
  };
  return {
    call<T>(method: string, args?: unknown): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        worker.postMessage({ id, method, args });
      });
    },
    close: () => worker.terminate(),
  };
}

/** Answers calls in order, one at a time, with the given handlers (in a worker). */
export function serveRpc(handlers: Record<string, (args: never) => unknown>): void {
  const scope = globalThis as unknown as {
    postMessage(message: unknown): void;
    onmessage: ((event: MessageEvent<{ id: number; method: string; args: never }>) => void) | null;
  };
  let queue: Promise<void> = Promise.resolve();
  scope.onmessage = (event) => {
    const { id, method, args } = event.data;
    queue = queue.then(async () => {
      try {
        const handler = handlers[method];
        if (!handler) throw new Error(`no bench method ${method}`);
        scope.postMessage({ id, ok: true, result: await handler(args) });
      } catch (error) {
        const e = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
        scope.postMessage({ id, ok: false, error: e });
      }
    });
  };
}
