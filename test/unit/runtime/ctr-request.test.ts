// The rank request encoder: raw values to the ids training used, out-of-vocabulary values
// to id 0 (reported, not refused), and a typed error naming the field and the candidate for
// everything else.
import { describe, expect, it } from 'vitest';
import type { CtrSchema } from '../../../src/model/ctr/schema.ts';
import { CtrRequestEncoder, RANK_LIMITS } from '../../../src/runtime/ctr-request.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';

/** user (categorical), genres (multi, up to 3), age (numeric: buckets 1..4). */
const schema: CtrSchema = {
  fields: [
    { name: 'user', kind: 'categorical', vocabularySize: 4, values: ['u7', '12', 'u9'] },
    {
      name: 'genres',
      kind: 'multi',
      vocabularySize: 4,
      maxValues: 3,
      values: ['Drama', 'Comedy', 'Horror'],
    },
    { name: 'age', kind: 'numeric', vocabularySize: 5, boundaries: [18, 30, 50] },
  ],
};
const encoder = new CtrRequestEncoder(schema);

function failure(request: unknown): RuntimeError {
  try {
    encoder.encode(request);
  } catch (error) {
    if (error instanceof RuntimeError) return error;
    throw error;
  }
  throw new Error('the request was accepted');
}

describe('CtrRequestEncoder', () => {
  it('encodes context and candidate fields as training did; unknown values are id 0', () => {
    const { rows, unknownContext, unknownByCandidate } = encoder.encode({
      context: { user: 12, age: 30 },
      candidates: [
        { genres: ['Comedy', 'Drama'] },
        { genres: ['Western', 'Horror', 'Drama'] },
        { genres: [] },
      ],
    });
    expect(rows.numRows).toBe(3);
    // The number 12 is the value "12"; age 30 is past boundaries 18 and 30: bucket 3.
    expect(rows.ids[0]).toEqual(Int32Array.of(2, 2, 2));
    expect(rows.ids[1]).toEqual(Int32Array.of(2, 1, -1, 0, 3, 1, 0, -1, -1));
    expect(rows.ids[2]).toEqual(Int32Array.of(3, 3, 3));
    expect(rows.labels).toEqual(new Float32Array(3));
    expect(unknownContext).toEqual([]);
    expect(unknownByCandidate).toEqual([[], ['genres'], []]);
  });

  it('reports an unknown context value once, not per candidate', () => {
    const encoded = encoder.encode({
      context: { user: 'someone new' },
      candidates: [
        { genres: ['Drama'], age: 17 },
        { genres: ['Drama'], age: Number.MAX_VALUE },
      ],
    });
    expect(encoded.rows.ids[0]).toEqual(Int32Array.of(0, 0));
    expect(encoded.rows.ids[2]).toEqual(Int32Array.of(1, 4));
    expect(encoded.unknownContext).toEqual(['user']);
    expect(encoded.unknownByCandidate).toEqual([[], []]);
  });

  it('takes every field from the candidates when there is no context', () => {
    const encoded = encoder.encode({ candidates: [{ user: 'u9', genres: ['Horror'], age: 60 }] });
    expect(encoded.rows.ids.map((ids) => Array.from(ids))).toEqual([[3], [3, -1, -1], [4]]);
  });

  it('reports fields the model does not read, and encodes the rest: a model cut down to fewer fields', () => {
    const encoded = encoder.encode({
      context: { user: 'u7', age: 1, shop: 'x', daytime: 'morning' },
      candidates: [
        { genres: [], colour: 'red' },
        { genres: ['Drama'], toString: 'x' },
      ],
    });
    expect(encoded.rows.ids.map((ids) => Array.from(ids))).toEqual([
      [1, 1],
      [0, -1, -1, 1, -1, -1],
      [1, 1],
    ]);
    expect(encoded.unknownContext).toEqual(['shop', 'daytime']);
    expect(encoded.unknownByCandidate).toEqual([['colour'], ['toString']]);
    // Their number is bounded: the result names each.
    const many = Object.fromEntries(
      Array.from({ length: RANK_LIMITS.maxFields + 1 }, (_, i) => [`f${i}`, 1]),
    );
    const tooMany = failure({ context: many, candidates: [] });
    expect(tooMany.code).toBe('bad-request');
    expect(tooMany.message).toMatch(/the context has 257 fields; at most 256/);
    // A misspelt name of a field it does read leaves that field missing: still an error.
    expect(
      failure({ context: { usr: 'u7', age: 1 }, candidates: [{ genres: [] }] }).message,
    ).toMatch(/field "user" is missing/);
  });

  it.each([
    [
      'a missing field',
      { context: { user: 'u7' }, candidates: [{ genres: [], age: 3 }, { genres: [] }] },
      /candidate 1: field "age" is missing/,
    ],
    [
      'a field given in the context and a candidate',
      { context: { user: 'u7', age: 3 }, candidates: [{ genres: [], age: 4 }] },
      /candidate 0: field "age" is given in the context too/,
    ],
    [
      'a string for a numeric field',
      { context: { user: 'u7', genres: [] }, candidates: [{ age: 3 }, { age: '3' }] },
      /candidate 1: field "age" is "3", but it is numeric: give a finite number/,
    ],
    [
      'a list for a categorical field',
      { context: { genres: [], age: 1 }, candidates: [{ user: ['u7'] }] },
      /candidate 0: field "user" is \["u7"\], but it is categorical/,
    ],
    [
      'a scalar for a multi-valued field',
      { context: { user: 'u7', age: 1 }, candidates: [{ genres: 'Drama' }] },
      /candidate 0: field "genres" is "Drama", but it is multi: give a list of at most 3/,
    ],
    [
      'more values than maxValues',
      { context: { user: 'u7', age: 1 }, candidates: [{ genres: ['a', 'b', 'c', 'd'] }] },
      /candidate 0: field "genres" .* at most 3 values/,
    ],
    [
      'a non-finite number',
      { context: { user: 'u7', genres: [] }, candidates: [{ age: Number.NaN }] },
      /candidate 0: field "age" is NaN: a value is a string, a finite number or a list/,
    ],
    [
      'an object value',
      { context: { user: { id: 1 }, genres: [], age: 1 }, candidates: [{}] },
      /the context: field "user" is \{"id":1\}/,
    ],
  ])('refuses %s with bad-field', (_, request, message) => {
    const error = failure(request);
    expect(error.code).toBe('bad-field');
    expect(error.message).toMatch(message);
  });

  it.each([
    ['no candidates list', { context: {} }, /rank needs \{ candidates/],
    ['a candidate that is not an object', { candidates: [['u7']] }, /candidate 0 is not an object/],
    [
      'too many candidates',
      { candidates: Array.from({ length: RANK_LIMITS.maxCandidates + 1 }, () => ({})) },
      /at most 10000 candidates, got 10001/,
    ],
  ])('refuses %s with bad-request', (_, request, message) => {
    const error = failure(request);
    expect(error.code).toBe('bad-request');
    expect(error.message).toMatch(message);
  });

  it('refuses a schema without vocabularies (an old package)', () => {
    const old: CtrSchema = {
      fields: schema.fields.map(({ values: _, ...field }) => field),
    };
    expect(() => new CtrRequestEncoder(old)).toThrow(
      /no vocabulary for user, genres: it was written before packages carried their raw values/,
    );
  });

  it('answers an empty candidate list with no rows', () => {
    const encoded = encoder.encode({ context: { user: 'u7' }, candidates: [] });
    expect(encoded.rows.numRows).toBe(0);
    expect(encoded.rows.ids.map((ids) => ids.length)).toEqual([0, 0, 0]);
  });
});
