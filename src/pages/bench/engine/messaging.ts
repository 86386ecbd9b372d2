/**
 * The floor under a request's round trip, measured on the page: a worker that only echoes,
 * over postMessage both ways, and the same exchange over a SharedArrayBuffer with Atomics
 * (the worker blocked in Atomics.wait, the page awaiting Atomics.waitAsync; cross-origin
 * isolated pages only). Neither worker loads anything: what they take is the messaging alone.
 */

export interface MessagingFloor {
  calls: number;
  /** A bare worker's postMessage echo, p50 ms. */
  postMessageP50Ms: number;
  /** The same over shared memory, p50 ms; null where the page is not cross-origin isolated. */
  atomicsP50Ms: number | null;
}

const ECHO = 'onmessage = (e) => { postMessage(e.data); };';
const ATOMICS_ECHO = `onmessage = (e) => {
  const cells = new Int32Array(e.data);
  postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(cells, 0, seen);
    seen = Atomics.load(cells, 0);
    if (seen < 0) return;
    Atomics.store(cells, 1, seen);
    Atomics.notify(cells, 1);
  }
};`;
const WARM_UP = 20;

/** Atomics.waitAsync: ES2024, past the lib this project compiles against. */
type WaitAsync = (
  cells: Int32Array,
  index: number,
  value: number,
) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync?.bind(Atomics);

function spawn(source: string): Worker {
  return new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function measureMessaging(calls = 300): Promise<MessagingFloor> {
  const echo = spawn(ECHO);
  const posted: number[] = [];
  try {
    for (let i = -WARM_UP; i < calls; i++) {
      const started = performance.now();
      await new Promise((resolve) => {
        echo.onmessage = resolve;
        echo.postMessage({ id: i, type: 'debug', action: 'ping' });
      });
      if (i >= 0) posted.push(performance.now() - started);
    }
  } finally {
    echo.terminate();
  }
  return { calls, postMessageP50Ms: median(posted), atomicsP50Ms: await atomicsEcho(calls) };
}

async function atomicsEcho(calls: number): Promise<number | null> {
  if (!globalThis.crossOriginIsolated || !waitAsync) return null;
  const worker = spawn(ATOMICS_ECHO);
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const times: number[] = [];
  try {
    await new Promise((resolve) => {
      worker.onmessage = resolve;
      worker.postMessage(cells.buffer);
    });
    for (let i = 1; i <= calls + WARM_UP; i++) {
      const started = performance.now();
      Atomics.store(cells, 0, i);
      Atomics.notify(cells, 0);
      const reply = waitAsync(cells, 1, i - 1);
      if (reply.async) await reply.value;
      if (i > WARM_UP) times.push(performance.now() - started);
    }
    Atomics.store(cells, 0, -1);
    Atomics.notify(cells, 0);
  } finally {
    worker.terminate();
  }
  return median(times);
}
