import { jsonTerminalSafe, oneLine, terminalSafe } from './terminal-text.ts';

/** Bytes as the terminal shows them: "86.5 KiB". */
export const kibText = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** Exit codes: 0 ok, 1 the command failed, 2 it was called wrongly. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Escapes, at the sink, what a terminal would act on, so that no command can forget to
 * (text from a model package is whatever its maker wrote). main() wraps the Output it is
 * given, and processOutput is wrapped too for callers that skip main(); wrapping twice is
 * harmless because terminalSafe is idempotent.
 */
export function terminalSafeOutput(output: Output): Output {
  return {
    out: (text) => output.out(terminalSafe(text)),
    err: (text) => output.err(terminalSafe(text)),
  };
}

export const processOutput: Output = terminalSafeOutput({
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
});

export function printJson(output: Output, value: unknown): void {
  // Escaped here in JSON's syntax, before the sink would escape it in a way JSON cannot parse.
  output.out(jsonTerminalSafe(JSON.stringify(value, null, 2)));
}

/**
 * Two aligned columns, for human-readable reports. Each cell is one line: a newline or tab
 * in a value (a package's name, say) is shown escaped rather than forging rows.
 */
export function table(rows: readonly (readonly [string, string])[]): string {
  const cells = rows.map(([k, v]) => [oneLine(k), oneLine(v)] as const);
  const width = Math.max(...cells.map(([k]) => k.length));
  return cells.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * The command line that reproduces a run, rebuilt from its parsed options (stored in the
 * model package, so a report can say which command made each model).
 */
export function commandLine(
  command: string,
  positional: readonly string[],
  options: object,
  skip: readonly string[] = ['json', 'dataDir', 'force'],
): string {
  const parts = ['npx pocketrec', command, ...positional];
  for (const [key, value] of Object.entries(options)) {
    if (skip.includes(key) || value === undefined) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (value === true) parts.push(flag);
    else if (value === false) parts.push(`--no-${flag.slice(2)}`);
    else parts.push(flag, String(value));
  }
  return parts.join(' ');
}
