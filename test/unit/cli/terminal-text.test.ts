import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Output, printJson, processOutput, table } from '../../../src/cli/output.ts';
import { progressBar } from '../../../src/cli/progress.ts';
import { jsonTerminalSafe, oneLine, terminalSafe } from '../../../src/cli/terminal-text.ts';
import { writePackageDirectory } from '../../../src/package/node-fs.ts';
import { buildModelPackage, type TensorSpec } from '../../../src/package/writer.ts';
import { runCli as run } from './helpers.ts';

/**
 * Text a package's maker controls: an OSC that sets the terminal title, a CSI that clears
 * the screen, a C1 CSI, a bidi override and isolate, a carriage return, a line separator,
 * DEL, backspace, and a newline followed by a line it would like to forge.
 */
const EVIL = 'a\x1b]0;pwned\x07b\x1b[2Jc\x9b2Jd\u202ee\u2066f\rg\u2028h\x7f\x08i\nforged';
/** EVIL as oneLine shows it. */
const EVIL_ONE_LINE =
  'a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9b2Jd\\u202ee\\u2066f\\rg\\u2028h\\x7f\\x08i\\nforged';

/** Anything a terminal would act on, but the \t and \n that output uses itself. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

const scratch = mkdtempSync(join(tmpdir(), 'pocketrec-terminal-text-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
});

/** The tensors of an empty first-order Markov model over 2 items. */
function markovTensors(): TensorSpec[] {
  return [
    { name: 'transitions/indptr', dtype: 'int32', shape: [4], data: new Int32Array(4) },
    { name: 'transitions/indices', dtype: 'int32', shape: [0], data: new Int32Array(0) },
    { name: 'transitions/counts', dtype: 'float32', shape: [0], data: new Float32Array(0) },
    { name: 'popularity', dtype: 'float32', shape: [3], data: new Float32Array(3) },
  ];
}

/** A structurally valid sequential-markov package with EVIL in every string its maker writes. */
async function evilPackage(dir: string, extra: TensorSpec[] = []): Promise<string> {
  const built = await buildModelPackage({
    kind: 'sequential-markov',
    name: EVIL,
    architecture: { order: 1, transitions: 0, [EVIL]: EVIL, list: [EVIL, 'plain'] },
    items: { count: 2 },
    training: { dataset: EVIL, metrics: { [EVIL]: 0.5 }, notes: EVIL },
    denseEquivalent: { params: 12, embeddingParams: 0 },
    tensors: [...markovTensors(), ...extra],
  });
  await writePackageDirectory(dir, built.files);
  return dir;
}

/** What a command printed: exit code, nothing raw, and the printed streams. */
function expectNothingRaw(result: { out: string; err: string }): void {
  expect(result.out).not.toMatch(RAW);
  expect(result.err).not.toMatch(RAW);
}

describe('terminalSafe, oneLine and jsonTerminalSafe', () => {
  it('terminalSafe shows controls, C1, bidi and separators as escapes but keeps \\t and \\n', () => {
    expect(terminalSafe('row 1\trow\n\x1b[2J\x9b\u202e\u2029\x00')).toBe(
      'row 1\trow\n\\x1b[2J\\x9b\\u202e\\u2029\\x00',
    );
    expect(terminalSafe('\r\x7f\u061c\u200e\u200f\u2066\u2069')).toBe(
      '\\r\\x7f\\u061c\\u200e\\u200f\\u2066\\u2069',
    );
    expect(terminalSafe(EVIL)).not.toMatch(RAW);
  });

  it('oneLine escapes \\n and \\t too', () => {
    expect(oneLine('a\tb\nc\r\x1b')).toBe('a\\tb\\nc\\r\\x1b');
    expect(oneLine(EVIL)).toBe(EVIL_ONE_LINE);
    expect(oneLine(EVIL)).not.toMatch(/[\n\t]/);
  });

  it('leaves ordinary Unicode text alone', () => {
    const text = 'Mövies — 映画 ✓ C:\\models "quoted" {bar} 😀';
    expect(terminalSafe(text)).toBe(text);
    expect(oneLine(text)).toBe(text);
    expect(jsonTerminalSafe(JSON.stringify(text))).toBe(JSON.stringify(text));
  });

  it('is idempotent', () => {
    for (const f of [terminalSafe, oneLine]) {
      expect(f(f(EVIL))).toBe(f(EVIL));
    }
    expect(terminalSafe(oneLine(EVIL))).toBe(oneLine(EVIL));
    const json = jsonTerminalSafe(JSON.stringify({ s: EVIL }));
    expect(jsonTerminalSafe(json)).toBe(json);
    expect(terminalSafe(json)).toBe(json);
  });

  it('jsonTerminalSafe gives valid JSON that parses back to the original strings', () => {
    const value = { name: EVIL, [EVIL]: [EVIL, 'x'], nested: { s: '\u2028\u2029\x85\x9b' } };
    const json = jsonTerminalSafe(JSON.stringify(value, null, 2));
    expect(json).not.toMatch(RAW);
    expect(json).toContain('\\u202e');
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('the Output sink', () => {
  it('processOutput writes no raw control character to stdout or stderr', () => {
    const written: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    processOutput.out(EVIL);
    processOutput.err(`error: ${EVIL}`);
    vi.restoreAllMocks();
    expect(written).toHaveLength(2);
    const text = written.join('');
    expect(text).not.toMatch(RAW);
    expect(text).toContain('\\x1b]0;pwned\\x07');
    expect(written[0]).toBe(`${terminalSafe(EVIL)}\n`);
  });

  it('printJson escapes in JSON syntax, so the text still parses', () => {
    const lines: string[] = [];
    const output: Output = { out: (s) => lines.push(s), err: (s) => lines.push(s) };
    printJson(output, { name: EVIL });
    expect(lines.join('\n')).not.toMatch(RAW);
    expect(JSON.parse(lines.join('\n'))).toEqual({ name: EVIL });
  });

  it('table keeps each key and value on its one line', () => {
    const text = table([
      [EVIL, 'v'],
      ['k', EVIL],
    ]);
    expect(text.split('\n')).toHaveLength(2);
    expect(text).not.toMatch(RAW);
    expect(text).toContain(EVIL_ONE_LINE);
  });

  it('the progress bar, which writes past the sink, escapes its label', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    try {
      const bar = progressBar(EVIL, { unit: 'bytes' });
      bar.update(1, 2);
      bar.stop();
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
      vi.restoreAllMocks();
    }
    const text = written.join('');
    expect(text).toContain(EVIL_ONE_LINE);
    // The bar's own cursor sequences are expected; the label's must not be raw.
    expect(text).not.toContain('\x1b]0;pwned');
    expect(text).not.toMatch(/[\x9b\u202e\u2066\u2028\x7f]/);
  });
});

describe('a package with control characters in every string', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await evilPackage(join(scratch, 'evil'));
  });

  it('info prints it escaped, one line per field', async () => {
    const result = await run('info', dir);
    expect(result.code).toBe(0);
    expectNothingRaw(result);
    expect(result.out).toContain('\\x1b]0;pwned\\x07');
    expect(result.out).toContain(EVIL_ONE_LINE);
    expect(result.out).toMatch(/^name +a\\x1b/m);
    expect(result.out).toMatch(/^trained on +a\\x1b/m);
    expect(result.out.split('\n').some((line) => line.startsWith('forged'))).toBe(false);
    expect(result.out.split('\n').some((line) => /^\s*forged/.test(line))).toBe(false);
  });

  it('info --json escapes in JSON syntax and parses back to the strings', async () => {
    const result = await run('info', dir, '--json');
    expect(result.code).toBe(0);
    expectNothingRaw(result);
    expect(result.out).toContain('\\u001b]0;pwned\\u0007');
    expect(result.out).toContain('\\u202e');
    const json = JSON.parse(result.out);
    expect(json.name).toBe(EVIL);
    expect(json.dataset).toBe(EVIL);
    expect(json.kind).toBe('sequential-markov');
    expect(json.architecture[EVIL]).toBe(EVIL);
    expect(json.architecture.list).toEqual([EVIL, 'plain']);
    expect(json.metrics[EVIL]).toBe(0.5);
  });

  it('verify and verify --json pass, with nothing raw', async () => {
    const text = await run('verify', dir);
    expect(text.code).toBe(0);
    expectNothingRaw(text);
    expect(text.out).toMatch(/^ok: .*sequential-markov: 0 transitions over 2 items/);
    const json = await run('verify', dir, '--json');
    expect(json.code).toBe(0);
    expectNothingRaw(json);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, package: dir, tensors: 4 });
  });
});

describe('errors that quote a package or the command line', () => {
  it('a tensor named EVIL holding NaN: one escaped line naming it', async () => {
    const dir = await evilPackage(join(scratch, 'nan'), [
      { name: EVIL, dtype: 'float32', shape: [1], data: Float32Array.of(Number.NaN) },
    ]);
    const { code, out, err } = await run('verify', dir);
    expect(code).toBe(1);
    expect(out).toBe('');
    expectNothingRaw({ out, err });
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toBe(
      `pocketrec: ${join(dir, 'weights-0.bin')}: tensor "${EVIL_ONE_LINE}" holds NaN at element 0`,
    );
  });

  it('a manifest whose crafted kind is rejected before its digest: one escaped line', async () => {
    const dir = join(scratch, 'bad-kind');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ format: 'pocketrec-model', formatVersion: 1, kind: EVIL }),
    );
    const { code, out, err } = await run('verify', dir);
    expect(code).toBe(1);
    expect(out).toBe('');
    expectNothingRaw({ out, err });
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toMatch(/manifest\.json: "kind" ".*" is not a model kind$/);
    // JSON.stringify in the message leaves C1, bidi and separators raw; the CLI does not.
    expect(err).toContain('\\x9b2Jd\\u202ee\\u2066f');
    expect(err).toContain('\\u2028h\\x7f');
  });

  it('a directory path with an OSC in it: the sink escapes what no command did', async () => {
    const dir = await evilPackage(join(scratch, 'dir\x1b]0;pwned\x07name'));
    const text = await run('verify', dir);
    expect(text.code).toBe(0);
    expectNothingRaw(text);
    expect(text.out).toContain('dir\\x1b]0;pwned\\x07name');
    const json = await run('verify', dir, '--json');
    expect(json.code).toBe(0);
    expectNothingRaw(json);
    expect(JSON.parse(json.out).package).toBe(dir);
    const missing = await run('info', join(scratch, 'no\x1b]0;pwned\x07such'));
    expect(missing.code).toBe(1);
    expectNothingRaw(missing);
    expect(missing.err).toContain('no\\x1b]0;pwned\\x07such');
  });

  it('an unknown option with a CSI in it', async () => {
    const { code, out, err } = await run('verify', '--\x1b[2J', join(scratch, 'x'));
    expect(code).toBe(2);
    expectNothingRaw({ out, err });
    expect(err).toContain("unknown option '--\\x1b[2J'");
  });
});
