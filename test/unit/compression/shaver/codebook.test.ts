import { describe, expect, it } from 'vitest';
import {
  codebookFromRows,
  fieldCodebook,
  rowFrequencies,
} from '../../../../src/compression/shaver/codebook.ts';
import { rows, schema, tableValues } from '../../model/ctr/fixtures.ts';

// The fixture: user (rows 0-4), genres (multi, rows 5-10), age (rows 11-15); dim 2, so
// table row r is [r, 10 r + 1].
const dim = 2;
const table = Float32Array.from(tableValues(16, dim).flat());

describe('rowFrequencies', () => {
  it('counts every present id once and a row without values on the field row 0', () => {
    // users 1, 4, 0, 2; genres [1, 2], [5], [3, 1, 4], none; ages 2, 0, 4, 1.
    const expected = new Array(16).fill(0);
    for (const id of [1, 4, 0, 2]) expected[id]++;
    for (const id of [1, 2, 5, 3, 1, 4, 0]) expected[5 + id]++;
    for (const id of [2, 0, 4, 1]) expected[11 + id]++;
    expect([...rowFrequencies(schema, rows)]).toEqual(expected);
  });
});

describe('fieldCodebook', () => {
  it('is the frequency-weighted mean of each field, by hand', () => {
    const codebook = codebookFromRows(schema, table, dim, rows);
    // user: rows 0, 1, 2, 4 once each: mean of r = 7/4, of 10r + 1 = 18.5.
    // genres: ids 0..5 are rows 5..10, weights 1, 2, 1, 1, 1, 1 (id 1 twice):
    //   Σ w r = 5 + 12 + 7 + 8 + 9 + 10 = 51 over 7; Σ w (10 r + 1) = 517 over 7.
    // age: ids 0, 1, 2, 4 are rows 11, 12, 13, 15: mean r = 51/4, 10 r + 1 = 128.5.
    const expected = [7 / 4, 18.5, 51 / 7, 517 / 7, 51 / 4, 128.5];
    expect(codebook).toHaveLength(6);
    expected.forEach((v, i) => {
      expect(codebook[i]).toBeCloseTo(v, 4);
    });
  });

  it('weights rows by their frequency, not equally', () => {
    const freq = new Float64Array(16);
    freq[1] = 3; // user row 1 three times,
    freq[3] = 1; // row 3 once: (3 * 1 + 3) / 4 = 1.5
    freq[5] = 1;
    freq[11] = 1;
    const codebook = fieldCodebook(schema, table, dim, freq);
    expect(codebook[0]).toBeCloseTo(1.5, 6);
    expect(codebook[1]).toBeCloseTo((3 * 11 + 31) / 4, 5);
  });

  it('falls back to the plain mean of a field the data never looks up', () => {
    const freq = new Float64Array(16);
    freq[0] = 1;
    freq[11] = 1;
    const codebook = fieldCodebook(schema, table, dim, freq);
    // genres rows 5..10: mean r = 7.5, mean 10 r + 1 = 76.
    expect(codebook[2]).toBeCloseTo(7.5, 5);
    expect(codebook[3]).toBeCloseTo(76, 4);
  });

  it('refuses a table or frequencies of the wrong size', () => {
    expect(() => fieldCodebook(schema, table.subarray(2), dim, new Float64Array(16))).toThrow();
    expect(() => fieldCodebook(schema, table, dim, new Float64Array(15))).toThrow();
  });
});
