// Notes are free text in the format: report and quantize read fields from JSON notes and
// must not stop at notes that are empty (a repacked package without any) or prose.
import { describe, expect, it } from 'vitest';
import { notesRecord } from '../../../src/package/notes.ts';

describe('notesRecord', () => {
  it('reads a JSON object, and gives no fields for anything else', () => {
    expect(notesRecord('{"command":"npx pocketrec train"}')).toEqual({
      command: 'npx pocketrec train',
    });
    for (const text of [undefined, '', 'written by hand', '[1, 2]', 'null', '42']) {
      expect(notesRecord(text)).toEqual({});
    }
  });
});
