import { SingleBar } from 'cli-progress';
import { oneLine } from './terminal-text.ts';

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
  // The bar writes its own escape sequences straight to stderr, past the Output sink, so the
  // text it shows is escaped here: the label can be a package's name (report). The label
  // goes in as a payload value rather than into the format, where braces in it would be
  // read as placeholders.
  const safe = (payload: Record<string, string | number> = {}) => ({
    label: oneLine(label),
    ...Object.fromEntries(
      Object.entries(payload).map(([k, v]) => [k, typeof v === 'string' ? oneLine(v) : v]),
    ),
  });
  const bar = new SingleBar({
    format:
      options.format ??
      `{label} [{bar}] {percentage}% {value}/{total} ${options.unit ?? ''} eta {eta}s`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(done, total, payload) {
      if (!started) {
        bar.start(total, done, safe(payload));
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, safe(payload));
    },
    stop: () => started && bar.stop(),
  };
}
