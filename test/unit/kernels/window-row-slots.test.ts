// The row slots the fused kernels read a tensor-train window's rows from: a sliding window
// builds only its new row, repeats share a slot, and a build that fails forgets everything.
import { describe, expect, it } from 'vitest';
import { WindowRowSlots } from '../../../src/kernels/wasm/sasrec-fused/tensor-train-scoring.ts';

function assign(slots: WindowRowSlots, window: number[], built: [number, number][] = []) {
  const slotOf = new Int32Array(window.length);
  slots.assign(Int32Array.from(window), slotOf, (row, slot) => built.push([row, slot]));
  return { slotOf: [...slotOf], built };
}

describe('WindowRowSlots', () => {
  it('builds each row once while the windows hold it, repeats sharing a slot', () => {
    const slots = new WindowRowSlots(4);
    const first = assign(slots, [7, 9, 7, 3]);
    expect(first.built).toEqual([
      [7, 1],
      [9, 2],
      [3, 3],
    ]);
    expect(first.slotOf).toEqual([1, 2, 1, 3]);
    // Slid by one: 7 and 9 leave or stay; only 5 is built, into a slot no kept row holds.
    const slid = assign(slots, [9, 7, 3, 5]);
    expect(slid.built).toEqual([[5, 4]]);
    expect(slid.slotOf).toEqual([2, 1, 3, 4]);
    const again = assign(slots, [3, 5, 8, 6]);
    expect(again.built).toEqual([
      [8, 1],
      [6, 2],
    ]);
    expect(again.slotOf).toEqual([3, 4, 1, 2]);
    expect(assign(slots, [3, 5, 8, 6]).built).toEqual([]);
  });

  it('forgets what it held when a build fails, and refuses a window past its slots', () => {
    const slots = new WindowRowSlots(3);
    assign(slots, [1, 2]);
    const slotOf = new Int32Array(3);
    expect(() =>
      slots.assign(Int32Array.of(1, 2, 4), slotOf, () => {
        throw new Error('no row');
      }),
    ).toThrow(/no row/);
    expect(assign(slots, [1, 2]).built).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(() => assign(slots, [1, 2, 3, 4])).toThrow(/window of 4 rows, 3 slots/);
  });
});
