import type { CtrRows, CtrSchema } from '../../../../src/model/ctr/schema.ts';
import { seededRandom } from '../../../../src/random.ts';

/** user (categorical), genres (multi, up to 3), age (numeric, 3 boundaries → 5 buckets). */
export const schema: CtrSchema = {
  fields: [
    { name: 'user', kind: 'categorical', vocabularySize: 5 },
    { name: 'genres', kind: 'multi', vocabularySize: 6, maxValues: 3 },
    { name: 'age', kind: 'numeric', vocabularySize: 5, boundaries: [18, 30, 50] },
  ],
};

/** Four rows; row 2 has an unseen user (0) and row 3 no genre at all. */
export const rows: CtrRows = {
  numRows: 4,
  ids: [
    Int32Array.from([1, 4, 0, 2]),
    Int32Array.from([1, 2, -1, 5, -1, -1, 3, 1, 4, -1, -1, -1]),
    Int32Array.from([2, 0, 4, 1]),
  ],
  labels: Float32Array.from([1, 0, 0, 1]),
};

/** A table whose row r is [r, 10 r + 1, ...]: any element names its row. */
export function tableValues(totalRows: number, dim: number): number[][] {
  return Array.from({ length: totalRows }, (_, r) =>
    Array.from({ length: dim }, (_, k) => r * 10 ** k + k),
  );
}

/** Random rows of the fixture schema: every user and age bucket, 0 to 3 genres, OOV ids too. */
export function randomRows(numRows: number, seed: number): CtrRows {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const genres = new Int32Array(numRows * 3).fill(-1);
  for (let r = 0; r < numRows; r++) {
    const count = pick(4);
    for (let j = 0; j < count; j++) genres[r * 3 + j] = pick(6);
    if (count === 0) genres[r * 3] = 0;
  }
  return {
    numRows,
    ids: [
      Int32Array.from({ length: numRows }, () => pick(5)),
      genres,
      Int32Array.from({ length: numRows }, () => pick(5)),
    ],
    labels: Float32Array.from({ length: numRows }, () => pick(2)),
  };
}
