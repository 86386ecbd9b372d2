/**
 * A tensor-train table built row by row in plain TypeScript: the numbers tt-matrix.ts's
 * ttMaterialise computes with tfjs (the same contraction order, core by core), for the
 * runtime's fused path, which serves a small tensor-train table as a dense one without
 * loading tfjs. test/unit/model/tt-materialise.test.ts holds the two together.
 */
import { coreDims, type TtShape } from './tt-shape.ts';

/**
 * The first `numRows` rows of the table [numRows, d], from the cores as stored ([I_k, p_k,
 * q_k] each, row-major). Core k ≥ 2 is the semi-tensor product core ⊗ I_t: the running
 * product A [N·M, p·t] meets it as [N·M·t, p] · [p, I·q], and the result is laid out
 * [N, I, M, q, t], i.e. rows (i_1⋯i_k, j_1⋯j_k), columns the next rank.
 */
export function ttMaterialiseRows(
  cores: readonly Float32Array[],
  shape: TtShape,
  numRows: number,
): Float32Array {
  const dims = coreDims(shape);
  const first = dims[0];
  if (!first || cores.length !== dims.length) {
    throw new Error(`${cores.length} cores for a ${dims.length}-core shape`);
  }
  dims.forEach((d, k) => {
    const size = d.I * d.p * d.q;
    if ((cores[k] as Float32Array).length !== size) {
      throw new Error(`core ${k} has ${(cores[k] as Float32Array).length} values, not ${size}`);
    }
  });
  let a = cores[0] as Float32Array; // [I_1·J_1, r_1]: core 1 is [I_1, 1, J_1·r_1]
  let N = first.I;
  let M = first.J;
  for (let k = 1; k < dims.length; k++) {
    const { I, J, p, q, t } = dims[k] as (typeof dims)[number];
    const core = cores[k] as Float32Array;
    const width = p * t; // the rank carried in
    const next = new Float32Array(N * I * M * q * t);
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const row = (n * M + m) * width;
        for (let s = 0; s < t; s++) {
          for (let i = 0; i < I; i++) {
            const out = ((n * I + i) * M + m) * q * t + s;
            const coreRow = i * p * q;
            for (let qq = 0; qq < q; qq++) {
              let sum = 0;
              for (let c = 0; c < p; c++)
                sum += (a[row + c * t + s] as number) * (core[coreRow + c * q + qq] as number);
              next[out + qq * t] = sum;
            }
          }
        }
      }
    }
    a = next;
    N *= I;
    M *= J;
  }
  if (numRows > N) throw new Error(`tensor-train rows ${N} cannot hold ${numRows} table rows`);
  return a.length === numRows * M ? a : a.slice(0, numRows * M);
}

/**
 * Row `row` of the table (0 ≤ row < ∏ I_k), the numbers ttMaterialiseRows gives it: the
 * same products over each core's slice for the row's digit (i_1 the slowest).
 */
export function ttMaterialiseRow(
  cores: readonly Float32Array[],
  shape: TtShape,
  row: number,
): Float32Array {
  const dims = coreDims(shape);
  const slices: Float32Array[] = new Array(dims.length);
  let rest = row;
  for (let k = dims.length - 1; k >= 0; k--) {
    const { I, p, q } = dims[k] as (typeof dims)[number];
    const digit = rest % I;
    rest = Math.floor(rest / I);
    slices[k] = (cores[k] as Float32Array).subarray(digit * p * q, (digit + 1) * p * q);
  }
  if (rest !== 0 || row < 0) throw new RangeError(`row ${row} is not in the tensor-train table`);
  return ttMaterialiseRows(slices, { ...shape, rows: shape.rows.map(() => 1) }, 1);
}
