// Dedicated module worker of the smoke page: reports its own WebGPU adapter.
import { probeGpu } from './gpu.ts';

probeGpu().then(
  (report) => postMessage({ ok: true, report }),
  (err: unknown) => postMessage({ ok: false, error: String(err) }),
);
