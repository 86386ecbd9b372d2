import { describe, expect, it } from 'vitest';
import { readDataLines, readLines } from '../../../src/data/lines.ts';
import { PocketrecError } from '../../../src/errors.ts';
import { collect, expectFormatError, useTempDir } from './helpers.ts';

const temp = useTempDir();

describe('readLines', () => {
  it('numbers lines from 1 and strips LF and CRLF endings', async () => {
    const file = temp.write('mixed.txt', 'a\r\nb\n\nc\r\n');
    const lines = await collect(readLines(file));
    expect(lines).toEqual([
      { text: 'a', number: 1 },
      { text: 'b', number: 2 },
      { text: '', number: 3 },
      { text: 'c', number: 4 },
    ]);
  });

  it('yields a last line without a newline, and nothing for an empty file', async () => {
    expect(await collect(readLines(temp.write('no-eol.txt', 'x\ny')))).toEqual([
      { text: 'x', number: 1 },
      { text: 'y', number: 2 },
    ]);
    expect(await collect(readLines(temp.write('empty.txt', '')))).toEqual([]);
  });

  it('keeps lines and multi-byte characters intact across read boundaries', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => `${i}\tMisérables — ${'é'.repeat(i % 7)}`);
    const file = temp.write('utf8.txt', `${rows.join('\r\n')}\r\n`);
    const lines = await collect(readLines(file, { chunkSize: 7 }));
    expect(lines.map((line) => line.text)).toEqual(rows);
    expect(lines.at(-1)?.number).toBe(200);
  });

  it('decodes ISO-8859-1 when asked', async () => {
    const file = temp.write(
      'latin1.dat',
      Buffer.from('73::Mis\xe9rables, Les (1995)::Drama\n', 'latin1'),
    );
    const [line] = await collect(readLines(file, { encoding: 'latin1' }));
    expect(line?.text).toBe('73::Misérables, Les (1995)::Drama');
  });

  it('drops a UTF-8 byte order mark', async () => {
    const file = temp.write('bom.txt', '\ufeffuser_id\tmovie_id\n');
    expect((await collect(readLines(file)))[0]?.text).toBe('user_id\tmovie_id');
  });

  it('rejects an absurdly long line instead of buffering it', async () => {
    const file = temp.write('long.txt', `short\n${'x'.repeat(5000)}\nshort\n`);
    await expectFormatError(
      () => collect(readLines(file, { maxLineLength: 1000, chunkSize: 256 })),
      file,
      2,
      /line longer than 1000 characters/,
    );
    const noNewline = temp.write('long-no-eol.txt', 'y'.repeat(5000));
    await expectFormatError(
      () => collect(readLines(noNewline, { maxLineLength: 1000, chunkSize: 256 })),
      noNewline,
      1,
      /line longer than 1000 characters/,
    );
  });

  it('reports a missing file with its full path', async () => {
    const missing = `${temp.write('present.txt', '')}.missing`;
    const error = await collect(readLines(missing)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PocketrecError);
    expect((error as PocketrecError).code).toBe('missing-data-file');
    expect((error as PocketrecError).message).toContain(missing);
  });

  it('stops reading when the consumer stops early', async () => {
    const file = temp.write('many.txt', 'line\n'.repeat(100_000));
    let seen = 0;
    for await (const _ of readLines(file)) {
      if (++seen === 3) break;
    }
    expect(seen).toBe(3);
  });
});

describe('readDataLines', () => {
  it('skips trailing blank lines', async () => {
    const file = temp.write('trailing.txt', '1 2\n3 4\n\n  \n');
    expect((await collect(readDataLines(file))).map((line) => line.text)).toEqual(['1 2', '3 4']);
  });

  it('rejects a blank line between records', async () => {
    const file = temp.write('gap.txt', '1 2\n\n3 4\n');
    await expectFormatError(
      () => collect(readDataLines(file)),
      file,
      2,
      /blank line between records/,
    );
  });

  it('checks and skips the header', async () => {
    const file = temp.write('header.tsv', 'a\tb\n1\t2\n');
    expect(await collect(readDataLines(file, { header: 'a\tb' }))).toEqual([
      { text: '1\t2', number: 2 },
    ]);
    await expectFormatError(
      () => collect(readDataLines(file, { header: 'x\ty' })),
      file,
      1,
      /header missing: expected "x\\ty", found "a\\tb"/,
    );
    const empty = temp.write('header-empty.tsv', '');
    await expectFormatError(
      () => collect(readDataLines(empty, { header: 'a\tb' })),
      empty,
      1,
      /header missing: the file is empty/,
    );
  });
});
