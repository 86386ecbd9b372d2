import { main } from '../../../src/cli/main.ts';
import type { Output } from '../../../src/cli/output.ts';

/** Runs the CLI in-process, capturing what it prints. */
export async function runCli(
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { out: (s) => out.push(s), err: (s) => err.push(s) };
  const code = await main(argv, output);
  return { code, out: out.join('\n'), err: err.join('\n') };
}
