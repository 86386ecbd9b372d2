// Download budgets: the 'auto' rule, the option's validation, and budget → chunk count on
// the prefix sizes of a real progressive package.
import { describe, expect, it } from 'vitest';
import {
  autoBudgetBytes,
  BUDGET_DEFAULTS,
  chunksWithinBudget,
  resolveBudget,
} from '../../../src/runtime/budget.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import { progressivePackage } from '../../fixtures/progressive-ctr.ts';

function thrown(run: () => unknown): RuntimeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeError);
    return error as RuntimeError;
  }
  throw new Error('expected a RuntimeError');
}

describe('chunksWithinBudget', () => {
  const sizes = [100, 150, 200, 250];
  const given = (bytes: number) => ({ bytes, auto: false });

  it('takes the most chunks whose prefix fits', () => {
    expect(chunksWithinBudget(sizes, given(100), 'm')).toBe(0);
    expect(chunksWithinBudget(sizes, given(149), 'm')).toBe(0);
    expect(chunksWithinBudget(sizes, given(150), 'm')).toBe(1);
    expect(chunksWithinBudget(sizes, given(249), 'm')).toBe(2);
    expect(chunksWithinBudget(sizes, given(250), 'm')).toBe(3);
    expect(chunksWithinBudget(sizes, given(10 ** 9), 'm')).toBe(3);
  });

  it('a budget below the dense weights is budget-too-small naming the minimum; an automatic one gets one chunk', () => {
    const error = thrown(() => chunksWithinBudget(sizes, given(99), '/models/m/'));
    expect(error.code).toBe('budget-too-small');
    expect(error.message).toMatch(
      /model \/models\/m\/ needs at least 100 bytes .* the budget is 99/,
    );
    expect(chunksWithinBudget(sizes, { bytes: 99, auto: true }, 'm')).toBe(1);
    expect(chunksWithinBudget([100], { bytes: 99, auto: true }, 'm')).toBe(0);
  });

  it('on a real package: budget = prefix c exactly gives c, one byte less gives c - 1', async () => {
    const { prefixBytes, manifest } = await progressivePackage({ shardBytes: 8192 });
    expect(prefixBytes).toHaveLength((manifest.architecture.chunks as number) + 1);
    for (let c = 1; c < prefixBytes.length; c++) {
      const bytes = prefixBytes[c] as number;
      expect(bytes).toBeGreaterThan(prefixBytes[c - 1] as number);
      expect(chunksWithinBudget(prefixBytes, given(bytes), 'm')).toBe(c);
      expect(chunksWithinBudget(prefixBytes, given(bytes - 1), 'm')).toBe(c - 1);
    }
    // Every byte of every file is in the longest prefix: the chunks end the weight files.
    const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
    expect(prefixBytes.at(-1)).toBe(total);
  });
});

describe("budget 'auto'", () => {
  const MiB = 2 ** 20;

  it('follows BUDGET_DEFAULTS: Data Saver, then device memory; no signal means no budget', () => {
    expect(BUDGET_DEFAULTS).toMatchObject({ saveDataBytes: MiB, lowMemoryBytes: 2 * MiB });
    expect(autoBudgetBytes({})).toBeNull();
    expect(autoBudgetBytes({ deviceMemory: 8 })).toBeNull();
    expect(autoBudgetBytes({ deviceMemory: 4 })).toBeNull();
    expect(autoBudgetBytes({ deviceMemory: 2 })).toBe(BUDGET_DEFAULTS.midMemoryBytes);
    expect(autoBudgetBytes({ deviceMemory: 1 })).toBe(BUDGET_DEFAULTS.lowMemoryBytes);
    expect(autoBudgetBytes({ deviceMemory: 0.5 })).toBe(BUDGET_DEFAULTS.lowMemoryBytes);
    expect(autoBudgetBytes({ connection: { saveData: true } })).toBe(BUDGET_DEFAULTS.saveDataBytes);
    expect(autoBudgetBytes({ deviceMemory: 8, connection: { saveData: true } })).toBe(
      BUDGET_DEFAULTS.saveDataBytes,
    );
    expect(autoBudgetBytes({ deviceMemory: 8, connection: { saveData: false } })).toBeNull();
    expect(autoBudgetBytes({ connection: null })).toBeNull();
  });

  it('resolveBudget: absent is none, a byte count is a hard limit, anything else is bad-request', () => {
    expect(resolveBudget(undefined, {})).toBeNull();
    expect(resolveBudget(50_000, {})).toEqual({ bytes: 50_000, auto: false });
    expect(resolveBudget('auto', { deviceMemory: 1 })).toEqual({
      bytes: BUDGET_DEFAULTS.lowMemoryBytes,
      auto: true,
    });
    expect(resolveBudget('auto', { deviceMemory: 8 })).toBeNull();
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5000', null, {}]) {
      const error = thrown(() => resolveBudget(bad, {}));
      expect(error.code).toBe('bad-request');
      expect(error.message).toMatch(/budget must be a positive whole number of bytes or 'auto'/);
    }
  });
});
