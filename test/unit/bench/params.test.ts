// bench.html's URL parameters (src/pages/bench/params.ts).
import { describe, expect, it } from 'vitest';
import {
  BenchParamError,
  DEFAULT_PARAMS,
  paramsToSearch,
  parseParams,
} from '../../../src/pages/bench/params.ts';

const parse = (query: string) => parseParams(new URLSearchParams(query));

describe('parseParams', () => {
  it('takes the defaults for whatever is missing, and runs only when asked', () => {
    expect(parse('')).toEqual({ params: DEFAULT_PARAMS, autorun: false });
    expect(parse('run=1').autorun).toBe(true);
    expect(parse('run=0').autorun).toBe(false);
  });

  it('reads every parameter, lists in their canonical order and once each', () => {
    expect(
      parse(
        'models=baseline,tt,tt&backends=cpu,wasm&warmup=0&runs=3&catalogue=1000000&idb=0&seed=9',
      ),
    ).toEqual({
      params: {
        variants: ['tt', 'baseline'],
        backends: ['wasm', 'cpu'],
        warmup: 0,
        runs: 3,
        catalogue: 1_000_000,
        idb: false,
        seed: 9,
      },
      autorun: false,
    });
    expect(parse('catalogue=ml-1m').params.catalogue).toBe('ml-1m');
  });

  it('refuses a malformed parameter, naming it', () => {
    for (const [query, named] of [
      ['models=tt,student', /models must be .*tt, teacher, baseline.*student/],
      ['backends=', /backends must be/],
      ['backends=webgl', /backends must be/],
      ['runs=0', /runs must be an integer from 1/],
      ['runs=2.5', /runs must be an integer/],
      ['warmup=-1', /warmup must be/],
      ['catalogue=huge', /catalogue must be an integer/],
      ['idb=maybe', /idb must be 1 or 0/],
    ] as const) {
      expect(() => parse(query), query).toThrow(BenchParamError);
      expect(() => parse(query), query).toThrow(named);
    }
  });

  it('round-trips through paramsToSearch', () => {
    const params = {
      ...DEFAULT_PARAMS,
      variants: ['teacher' as const],
      catalogue: 5000,
      idb: false,
    };
    expect(parseParams(paramsToSearch(params, true))).toEqual({ params, autorun: true });
    expect(paramsToSearch(DEFAULT_PARAMS).has('run')).toBe(false);
  });
});
