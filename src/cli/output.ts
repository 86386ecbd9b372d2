/** Exit codes: 0 ok, 1 the command failed, 2 it was called wrongly. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, null, 2));
}

/** Two aligned columns, for human-readable reports. */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
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
