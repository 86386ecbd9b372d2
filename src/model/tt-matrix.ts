/**
 * A tensor-train (TT) matrix for item embeddings, with the semi-tensor-product (STP)
 * relaxation of Xia et al., SIGIR 2022 ("On-Device Next-Item Recommendation with
 * Self-Supervised Knowledge Distillation").
 *
 * The table [N_pad, d] is never stored: row i with digits (i1, i2[, i3]) is the chain
 * core1[i1] ⋉ core2[i2] [⋉ core3[i3]], where A ⋉ B = A (B ⊗ I_t). STP stores each non-first
 * core t times thinner on both sides (t² fewer parameters) and lets the identity factor
 * supply the width. The layouts below are the model package's contract: training, export
 * and the browser runtime all read cores through this file.
 *
 * (B ⊗ I_t) is never built: (B ⊗ I_t)[a t + s, c t + s'] = B[a, c] δ(s, s'), so
 * (A (B ⊗ I_t))[m, c t + s] = Σ_a A[m, a t + s] B[a, c]: split A's columns into (a, s), move
 * s into the rows, and one plain product with B does the rest.
 *
 * Only tfjs ops, so it runs in Node and in the browser; every path is differentiable, and
 * uses only kernels whose gradients tfjs's WASM backend has (hence gatherRows, not gather).
 */
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../random.ts';
import { gatherRows } from './ops/gather-rows.ts';

export * from './tt-shape.ts';

import { badShape, type CoreDims, coreDims, type TtShape } from './tt-shape.ts';

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * Gaussian cores (TT-Rec, Yin et al. 2021, found sampling the cores from a Gaussian matters
 * for accuracy, against a uniform start), with one std σ for every core, chosen so that the
 * table's entries have standard deviation `std`. An entry is a sum of products of one entry per
 * core, and distinct terms share no factor at the core where they differ, so the terms are
 * uncorrelated: Var = (number of terms) · σ^(2n). Contracting into core k (k ≥ 2) sums over
 * r_{k-1}/t terms, not r_{k-1}, because the zeros of B ⊗ I_t drop the rest; so
 * σ = (std² / Π_{k≥2} r_{k-1}/t)^(1/2n). Splitting the scale evenly keeps every core's
 * gradient of the same order. Values come from a seeded generator, so a seed repeats exactly
 * on any backend.
 */
export function initTtCores(shape: TtShape, options: { seed: number; std: number }): tf.Tensor3D[] {
  const dims = coreDims(shape);
  const terms = product(dims.slice(1).map((c) => c.p));
  const sigma = (options.std ** 2 / terms) ** (1 / (2 * dims.length));
  const random = seededRandom(options.seed);
  const gaussian = (): number => {
    // Box-Muller; 1 - u keeps the logarithm finite.
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  return dims.map(({ I, p, q }) => {
    const values = new Float32Array(I * p * q);
    for (let i = 0; i < values.length; i++) values[i] = sigma * gaussian();
    return tf.tensor3d(values, [I, p, q]);
  });
}

function checkCores(cores: readonly tf.Tensor[], shape: TtShape): CoreDims[] {
  const dims = coreDims(shape);
  if (cores.length !== dims.length) {
    throw badShape(`${dims.length} cores expected, ${cores.length} given`);
  }
  dims.forEach(({ I, p, q }, k) => {
    const s = (cores[k] as tf.Tensor).shape;
    if (s.length !== 3 || s[0] !== I || s[1] !== p || s[2] !== q) {
      throw badShape(`core ${k + 1} has shape [${s.join(', ')}], expected [${I}, ${p}, ${q}]`);
    }
  });
  return dims;
}

/** The rows of `ids` (int32, any shape): [...ids.shape, d], from only the slices they use. */
export function ttRows(cores: readonly tf.Tensor[], shape: TtShape, ids: tf.Tensor): tf.Tensor {
  const dims = checkCores(cores, shape);
  return tf.tidy(() => {
    const flat = ids.reshape([-1]).toInt();
    const P = flat.shape[0] as number;
    // WASM's Transpose divides by zero on an empty tensor.
    if (P === 0) return tf.zeros([...ids.shape, product(shape.cols)]);
    const digit = (k: number): tf.Tensor => {
      const stride = product(shape.rows.slice(k + 1));
      const above = stride === 1 ? flat : tf.floorDiv(flat, tf.scalar(stride, 'int32'));
      return k === 0 ? above : tf.mod(above, tf.scalar((dims[k] as CoreDims).I, 'int32'));
    };
    const first = dims[0] as CoreDims;
    // A: [P, M, r], M = J_1⋯J_k so far.
    let a = gatherRows((cores[0] as tf.Tensor).reshape([first.I, first.q]), digit(0)).reshape([
      P,
      first.J,
      first.rOut,
    ]);
    let M = first.J;
    for (let k = 1; k < dims.length; k++) {
      const { I, J, rOut, t, p, q } = dims[k] as CoreDims;
      const slices = gatherRows((cores[k] as tf.Tensor).reshape([I, p * q]), digit(k));
      const x = a
        .reshape([P, M, p, t])
        .transpose([0, 1, 3, 2])
        .reshape([P, M * t, p]);
      const y = tf.matMul(x as tf.Tensor3D, slices.reshape([P, p, q]) as tf.Tensor3D);
      a = y
        .reshape([P, M, t, q])
        .transpose([0, 1, 3, 2])
        .reshape([P, M * J, rOut]);
      M *= J;
    }
    return a.reshape([...ids.shape, M]);
  });
}

/** The whole table [N_pad, d], all rows at once in one 2-D product per core. */
export function ttMaterialise(cores: readonly tf.Tensor[], shape: TtShape): tf.Tensor2D {
  const dims = checkCores(cores, shape);
  return tf.tidy(() => {
    const first = dims[0] as CoreDims;
    // A: [N M, r] with rows (i_1⋯i_k, j_1⋯j_k), N = I_1⋯I_k and M = J_1⋯J_k so far.
    let a = (cores[0] as tf.Tensor).reshape([first.I * first.J, first.rOut]);
    let N = first.I;
    let M = first.J;
    for (let k = 1; k < dims.length; k++) {
      const { I, J, rOut, t, p, q } = dims[k] as CoreDims;
      const x = a
        .reshape([N * M, p, t])
        .transpose([0, 2, 1])
        .reshape([N * M * t, p]);
      const b = (cores[k] as tf.Tensor).transpose([1, 0, 2]).reshape([p, I * q]);
      a = tf
        .matMul(x as tf.Tensor2D, b as tf.Tensor2D)
        .reshape([N, M, t, I, q])
        .transpose([0, 3, 1, 4, 2])
        .reshape([N * I * M * J, rOut]);
      N *= I;
      M *= J;
    }
    return a.reshape([N, M]) as tf.Tensor2D;
  });
}

/**
 * queries [Q, d] times the table: [Q, N_pad], contracting the queries into the cores from
 * the first to the last, so the table is never built.
 *
 * Core k (k ≥ 2) is the semi-tensor product core ⊗ I_t: the entry at rank index a·t + s and
 * column (j_k, r_k) = c·t + s' is core[i, a, c] when s = s' and 0 otherwise. The last
 * core's column is j_n alone, so a score only ever pairs r_{n-1} and j_n that agree in s,
 * and only those pairs are computed: before the last core (stpDiagonal), and for three
 * cores before the middle one too, where the s of r_1 passes through to r_2.
 *
 * Cost in multiply-adds, for one query, R the rank:
 *   2 cores: I_1·R·d + N_pad·R·J_2/t
 *   3 cores: I_1·R·d + I_1·I_2·(R/t)·J_2·R·J_3/t + N_pad·R·J_3/t
 * The last term is every score's share, R·J_n/t, against d for a built table: 32 against
 * 64 for rank 16, J_n = 4, t = 2, and no N_pad x d buffer (256 MB for a million rows).
 * But it is paid per query while the build is paid once, so for many queries
 * materialising once and one product wins: training scores that way, and this serves
 * inference on large catalogues.
 */
export function ttScoreAll(
  cores: readonly tf.Tensor[],
  shape: TtShape,
  queries: tf.Tensor2D,
): tf.Tensor2D {
  const dims = checkCores(cores, shape);
  const [Q, width] = queries.shape;
  if (width !== product(shape.cols)) {
    throw badShape(`queries have ${width} columns, the table ${product(shape.cols)}`);
  }
  const first = dims[0] as CoreDims;
  const last = dims[dims.length - 1] as CoreDims;
  const t = last.t;
  // C: the last core's column digit j_n = c·t + s; A: r_{n-1} = a·t + s.
  const C = last.q;
  const A = last.p;
  const R = first.rOut;
  const Jrest = width / first.J;
  return tf.tidy(() => {
    // First core (no STP): [Q, j_2⋯j_n, i_1, r_1].
    const x0 = queries.reshape([Q, first.J, Jrest]).transpose([0, 2, 1]).reshape([-1, first.J]);
    const w0 = (cores[0] as tf.Tensor)
      .reshape([first.I, first.J, R])
      .transpose([1, 0, 2])
      .reshape([first.J, first.I * R]);
    const e0 = tf.matMul(x0 as tf.Tensor2D, w0 as tf.Tensor2D);
    let v: tf.Tensor; // [Q·I_1⋯I_{n-1}, (a, s, c)]
    if (dims.length === 2) {
      // [Q, (c, s), I_1, (a, s')] → the pairs s = s' → [Q, I_1, a, s, c].
      v = stpDiagonal(e0.reshape([Q * C, t, first.I * A, t]))
        .reshape([Q, C, t, first.I, A])
        .transpose([0, 3, 4, 2, 1])
        .reshape([Q * first.I, A * t * C]);
    } else {
      const middle = dims[1] as CoreDims;
      const J2 = middle.J;
      const B = R / t; // r_2 = b·t + s, and core 2's column is (j_2, b)
      // [Q, j_2, (c, s), I_1, (a, s')] → s = s' → [Q, I_1, c, s, a, j_2].
      const x1 = stpDiagonal(e0.reshape([Q * J2 * C, t, first.I * middle.p, t]))
        .reshape([Q, J2, C * t, first.I, middle.p])
        .transpose([0, 3, 2, 4, 1])
        .reshape([-1, middle.p * J2]);
      const w1 = (cores[1] as tf.Tensor)
        .reshape([middle.I, middle.p, J2, B])
        .transpose([1, 2, 0, 3])
        .reshape([middle.p * J2, middle.I * B]);
      // [Q, I_1, c, s, I_2, b] → [Q, I_1, I_2, b, s, c].
      v = tf
        .matMul(x1 as tf.Tensor2D, w1 as tf.Tensor2D)
        .reshape([Q * first.I, C, t, middle.I, B])
        .transpose([0, 3, 4, 2, 1])
        .reshape([-1, B * t * C]);
    }
    // [(a, s, c), I_n]: core[i, a, c] for every s.
    const wLast = (cores[dims.length - 1] as tf.Tensor)
      .reshape([last.I, A, 1, C])
      .tile([1, 1, t, 1])
      .reshape([last.I, A * t * C])
      .transpose();
    return tf.matMul(v as tf.Tensor2D, wLast as tf.Tensor2D).reshape([Q, -1]) as tf.Tensor2D;
  });
}

/**
 * x [X, t, Y, t] → [X, t, Y]: the entries whose two STP indices agree. (Kept to 4 axes: the
 * WASM backend's XNNPACK binary ops reject more than 6, and the product then comes back wrong.)
 */
function stpDiagonal(x: tf.Tensor): tf.Tensor {
  const [X, t, Y] = x.shape as [number, number, number, number];
  if (t === 1) return x.reshape([X, 1, Y]);
  return tf.sum(tf.mul(x, tf.eye(t).reshape([1, t, 1, t])), 3);
}

/**
 * The queries contracted with cores n..`downTo` (0-based), from the last core to the first:
 * [Q·M, R, r_{downTo}] with M = J_1⋯J_{downTo} and R = I_{downTo+1}⋯I_n (row digits most
 * significant first). downTo = 0 is every score; downTo = 1 leaves the first core, whose
 * per-row stage a fused kernel (kernels/webgpu/tt-score-topk) does with its top-k. Every
 * row's share is then J_1·r_1 multiply-adds, twice ttScoreAll's on an STP table, but on a
 * GPU the per-row stage is not what limits it.
 */
export function ttContractQueries(
  cores: readonly tf.Tensor[],
  shape: TtShape,
  queries: tf.Tensor2D,
  downTo: number,
): tf.Tensor3D {
  const dims = checkCores(cores, shape);
  const d = product(shape.cols);
  const [Q, width] = queries.shape;
  if (width !== d) throw badShape(`queries have ${width} columns, the table ${d}`);
  return tf.tidy(() => {
    // E: [Q M, J_k, R, r_k], the queries contracted with cores k+1..n; M = J_1⋯J_{k-1} and
    // R = I_{k+1}⋯I_n (the row digits resolved so far, most significant first).
    let e: tf.Tensor = queries;
    let M = d;
    let R = 1;
    let rank = 1;
    for (let k = dims.length - 1; k >= downTo; k--) {
      const { I, J, rIn, rOut, t, p, q } = dims[k] as CoreDims;
      M /= J;
      // E'[.., a t + s] = Σ_c E[.., c t + s] B[a, c], over the columns (j_k, r_k) = c t + s.
      const x = e
        .reshape([Q * M, J, R, rOut])
        .transpose([0, 2, 1, 3])
        .reshape([Q * M * R, q, t])
        .transpose([0, 2, 1])
        .reshape([Q * M * R * t, q]);
      const b = (cores[k] as tf.Tensor).transpose([2, 0, 1]).reshape([q, I * p]);
      e = tf
        .matMul(x as tf.Tensor2D, b as tf.Tensor2D)
        .reshape([Q * M, R, t, I, p])
        .transpose([0, 3, 1, 4, 2])
        .reshape([Q * M, I * R, rIn]);
      R *= I;
      rank = rIn;
    }
    return e.reshape([Q * M, R, rank]) as tf.Tensor3D;
  });
}
