/**
 * The check every model kind makes of a manifest's weight entries against the shapes its
 * architecture implies (sequential-structure.ts, ctr/structure.ts).
 */
import type { TensorEntry } from '../package/manifest.ts';

/** Element types a weight may be stored in (decoded to float32 on use). */
export const WEIGHT_DTYPES: readonly string[] = ['float32', 'float16', 'int8', 'int4'];

export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** `entry` has exactly `shape` and a weight dtype, or `fail` is called naming the mismatch. */
export function checkWeightEntry(
  entry: TensorEntry,
  shape: readonly number[],
  fail: (problem: string) => never,
): void {
  if (!sameShape(entry.shape, shape)) {
    fail(`tensor "${entry.name}" has shape [${entry.shape}], expected [${shape}]`);
  }
  if (!WEIGHT_DTYPES.includes(entry.dtype)) {
    fail(`tensor "${entry.name}" is ${entry.dtype}; weights are ${WEIGHT_DTYPES.join(', ')}`);
  }
}
