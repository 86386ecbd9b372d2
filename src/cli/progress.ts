import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, total: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar on stderr, shown only to a person at a terminal: never in --json
 * output, pipes or CI logs, where it would be noise.
 */
export function progressBar(
  label: string,
  options: { enabled?: boolean; unit?: string; format?: string } = {},
): Progress {
  const enabled = (options.enabled ?? true) && process.stderr.isTTY === true;
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    format:
      options.format ??
      `${label} [{bar}] {percentage}% {value}/{total} ${options.unit ?? ''} eta {eta}s`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(done, total, payload) {
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop: () => started && bar.stop(),
  };
}
