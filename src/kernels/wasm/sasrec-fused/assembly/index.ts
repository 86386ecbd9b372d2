// The fused SASRec inference path, in AssemblyScript (compiled to WASM SIMD by
// scripts/build-kernels.ts; the bytes are committed in ../module.generated.ts and a unit test
// checks they are this file's). It computes what src/model/sasrec.ts's encode / encodeNext
// compute for one history, and the item scores and top-k the engine takes after them, over
// buffers the JavaScript side (../fused-sasrec.ts) laid out once: no allocation, no
// per-operation dispatch.
//
// Every pointer is a byte offset into this module's memory. The model is described by a
// table of 32-bit words at `desc` (the layout is ../layout.ts's, word for word).

// Model words.
const DIM: i32 = 0;
const HEADS: i32 = 1;
const BLOCKS: i32 = 2;
const FLAGS: i32 = 3;
const EPS: i32 = 4; // f32
const SCALE: i32 = 5; // f32: the attention scores' scale, 1/√(dim/heads)
const EMBED_SCALE: i32 = 6; // f32: √dim, or 1 when the variant does not scale
const POSITIONS: i32 = 7;
const EMB_GAMMA: i32 = 8;
const EMB_BETA: i32 = 9;
const FINAL_GAMMA: i32 = 10;
const FINAL_BETA: i32 = 11;
const TABLE: i32 = 12;
const NUM_ROWS: i32 = 13;
const X: i32 = 14; // [maxLen, dim] the residual stream of the rows being encoded
const H: i32 = 15; // [maxLen, dim] the normalised rows
const Q: i32 = 16; // [maxLen, heads·qk]
const ATT: i32 = 17; // [maxLen, heads·v]
const INNER: i32 = 18; // [maxLen, ffn]
const TMP: i32 = 19; // [maxLen, dim]
const PROBS: i32 = 20; // [maxLen]
const QUERY: i32 = 21; // [dim] the query after the last call of encodeRows
const BLOCK0: i32 = 32;
const BLOCK_WORDS: i32 = 24;

// Block words, from BLOCK0 + b·BLOCK_WORDS.
const QK: i32 = 0;
const V: i32 = 1;
const FFN: i32 = 2;
const NORM1_GAMMA: i32 = 3;
const NORM1_BETA: i32 = 4;
const WQ: i32 = 5;
const BQ: i32 = 6;
const WK: i32 = 7;
const BK: i32 = 8;
const WV: i32 = 9;
const BV: i32 = 10;
const WO: i32 = 11;
const BO: i32 = 12;
const NORM2_GAMMA: i32 = 13;
const NORM2_BETA: i32 = 14;
const WI: i32 = 15;
const BI: i32 = 16;
const WOUT: i32 = 17;
const BOUT: i32 = 18;
const KEYS: i32 = 19; // [maxLen, heads·qk]
const VALUES: i32 = 20; // [maxLen, heads·v]

// FLAGS bits.
const POST_NORM: i32 = 1;
const GELU: i32 = 2;
const EMBEDDING_NORM: i32 = 4;
const FINAL_NORM: i32 = 8;
const FROM_LATEST: i32 = 16;

@inline function word(desc: usize, at: i32): i32 {
  return load<i32>(desc + (<usize>at << 2));
}

@inline function real(desc: usize, at: i32): f32 {
  return load<f32>(desc + (<usize>at << 2));
}

@inline function ptr(desc: usize, at: i32): usize {
  return <usize>load<i32>(desc + (<usize>at << 2));
}

@inline function blockWord(desc: usize, b: i32, at: i32): i32 {
  return word(desc, BLOCK0 + b * BLOCK_WORDS + at);
}

@inline function blockPtr(desc: usize, b: i32, at: i32): usize {
  return <usize>blockWord(desc, b, at);
}

@inline function f4(p: usize): v128 {
  return v128.load(p);
}

@inline function sum4(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    f32x4.extract_lane(v, 2) +
    f32x4.extract_lane(v, 3)
  );
}

/** The end of the module's own static data: the JavaScript side lays its buffers out above. */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * y[r, :n] = x[r, :m] · w[m, n] + b[n] for r < rows, rows `xStride` / `yStride` floats
 * apart. Sixteen, then four, output columns at a time stay in registers while the weight
 * rows stream past; the last n % 4 columns are scalar.
 */
export function linear(
  y: usize,
  yStride: i32,
  x: usize,
  xStride: i32,
  w: usize,
  b: usize,
  rows: i32,
  m: i32,
  n: i32,
): void {
  const rowBytes = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>(r * xStride)) << 2);
    const yr = y + ((<usize>(r * yStride)) << 2);
    let j = 0;
    for (; j + 16 <= n; j += 16) {
      const jb = <usize>j << 2;
      let a0 = f4(b + jb);
      let a1 = f4(b + jb + 16);
      let a2 = f4(b + jb + 32);
      let a3 = f4(b + jb + 48);
      let wr = w + jb;
      for (let i = 0; i < m; i++) {
        const xi = f32x4.splat(load<f32>(xr + (<usize>i << 2)));
        a0 = f32x4.add(a0, f32x4.mul(xi, f4(wr)));
        a1 = f32x4.add(a1, f32x4.mul(xi, f4(wr + 16)));
        a2 = f32x4.add(a2, f32x4.mul(xi, f4(wr + 32)));
        a3 = f32x4.add(a3, f32x4.mul(xi, f4(wr + 48)));
        wr += rowBytes;
      }
      v128.store(yr + jb, a0);
      v128.store(yr + jb + 16, a1);
      v128.store(yr + jb + 32, a2);
      v128.store(yr + jb + 48, a3);
    }
    for (; j + 4 <= n; j += 4) {
      const jb = <usize>j << 2;
      let a0 = f4(b + jb);
      let wr = w + jb;
      for (let i = 0; i < m; i++) {
        a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(xr + (<usize>i << 2))), f4(wr)));
        wr += rowBytes;
      }
      v128.store(yr + jb, a0);
    }
    for (; j < n; j++) {
      const jb = <usize>j << 2;
      let a: f32 = load<f32>(b + jb);
      let wr = w + jb;
      for (let i = 0; i < m; i++) {
        a += load<f32>(xr + (<usize>i << 2)) * load<f32>(wr);
        wr += rowBytes;
      }
      store<f32>(yr + jb, a);
    }
  }
}

/** y[r] = LayerNorm(x[r]) · gamma + beta over n columns, for r < rows (rows n floats apart). */
export function layerNorm(y: usize, x: usize, gamma: usize, beta: usize, rows: i32, n: i32, eps: f32): void {
  const inv = <f32>1 / <f32>n;
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>(r * n)) << 2);
    const yr = y + ((<usize>(r * n)) << 2);
    let mean: f32 = 0;
    for (let i = 0; i < n; i++) mean += load<f32>(xr + (<usize>i << 2));
    mean *= inv;
    let variance: f32 = 0;
    for (let i = 0; i < n; i++) {
      const c = load<f32>(xr + (<usize>i << 2)) - mean;
      variance += c * c;
    }
    const scale = <f32>1 / Mathf.sqrt(variance * inv + eps);
    for (let i = 0; i < n; i++) {
      const at = <usize>i << 2;
      store<f32>(yr + at, (load<f32>(xr + at) - mean) * scale * load<f32>(gamma + at) + load<f32>(beta + at));
    }
  }
}

/** x[i] += y[i] for i < count. */
function addInto(x: usize, y: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = <usize>i << 2;
    v128.store(x + at, f32x4.add(f4(x + at), f4(y + at)));
  }
  for (; i < count; i++) {
    const at = <usize>i << 2;
    store<f32>(x + at, load<f32>(x + at) + load<f32>(y + at));
  }
}

function relu(x: usize, count: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = <usize>i << 2;
    v128.store(x + at, f32x4.max(f4(x + at), zero));
  }
  for (; i < count; i++) {
    const at = <usize>i << 2;
    const v = load<f32>(x + at);
    store<f32>(x + at, v > 0 ? v : 0);
  }
}

/**
 * erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the formula tfjs's own erf kernels
 * use, so the fused path's GELU matches the reference to float rounding.
 */
function erf(x: f32): f32 {
  const sign: f32 = x < 0 ? -1 : 1;
  const a = Mathf.abs(x);
  const t = <f32>1 / (<f32>1 + <f32>0.3275911 * a);
  const poly =
    t *
    (<f32>0.254829592 +
      t * (<f32>-0.284496736 + t * (<f32>1.421413741 + t * (<f32>-1.453152027 + t * <f32>1.061405429))));
  return sign * (<f32>1 - poly * Mathf.exp(-a * a));
}

/** x·Φ(x) = x/2 · (1 + erf(x/√2)), element by element. */
function geluErf(x: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const at = <usize>i << 2;
    const v = load<f32>(x + at);
    store<f32>(x + at, v * (erf(v * <f32>0.70710678118654752) + 1) * <f32>0.5);
  }
}

/** Σ a[i]·b[i] for i < n. */
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const at = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(f4(a + at), f4(b + at)));
    acc1 = f32x4.add(acc1, f32x4.mul(f4(a + at + 16), f4(b + at + 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const at = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(f4(a + at), f4(b + at)));
  }
  let s = sum4(f32x4.add(acc0, acc1));
  for (; i < n; i++) {
    const at = <usize>i << 2;
    s += load<f32>(a + at) * load<f32>(b + at);
  }
  return s;
}

/**
 * The attention of the query row at position `at` over keys and values 0..at (causal; the
 * window holds no padding), every head: out [heads·v].
 */
function attendRow(
  out: usize,
  q: usize,
  keys: usize,
  values: usize,
  at: i32,
  heads: i32,
  qk: i32,
  v: i32,
  scale: f32,
  probs: usize,
): void {
  const kw = heads * qk;
  const vw = heads * v;
  for (let h = 0; h < heads; h++) {
    const qh = q + (<usize>(h * qk) << 2);
    let best: f32 = -Infinity;
    for (let j = 0; j <= at; j++) {
      const s = dot(qh, keys + (<usize>(j * kw + h * qk) << 2), qk) * scale;
      store<f32>(probs + (<usize>j << 2), s);
      if (s > best) best = s;
    }
    let total: f32 = 0;
    for (let j = 0; j <= at; j++) {
      const e = Mathf.exp(load<f32>(probs + (<usize>j << 2)) - best);
      store<f32>(probs + (<usize>j << 2), e);
      total += e;
    }
    const inv = <f32>1 / total;
    const oh = out + (<usize>(h * v) << 2);
    for (let c = 0; c < v; c++) store<f32>(oh + (<usize>c << 2), 0);
    for (let j = 0; j <= at; j++) {
      const p = load<f32>(probs + (<usize>j << 2)) * inv;
      const pv = f32x4.splat(p);
      const vj = values + (<usize>(j * vw + h * v) << 2);
      let c = 0;
      for (; c + 4 <= v; c += 4) {
        const cb = <usize>c << 2;
        v128.store(oh + cb, f32x4.add(f4(oh + cb), f32x4.mul(pv, f4(vj + cb))));
      }
      for (; c < v; c++) {
        const cb = <usize>c << 2;
        store<f32>(oh + cb, load<f32>(oh + cb) + p * load<f32>(vj + cb));
      }
    }
  }
}

/**
 * Encodes the window's rows from..length-1 (item ids at `items`, i32, oldest first), every
 * earlier row's keys and values being in the blocks' caches already: their keys and values
 * join the caches, and the last row's final state is left at QUERY. Positions count from
 * the oldest item, or from the latest (FROM_LATEST: then `from` is 0, as every row moves).
 */
export function encodeRows(desc: usize, items: usize, from: i32, length: i32): void {
  const d = word(desc, DIM);
  const heads = word(desc, HEADS);
  const flags = word(desc, FLAGS);
  const eps = real(desc, EPS);
  const post = (flags & POST_NORM) != 0;
  const rows = length - from;
  const x = ptr(desc, X);
  const h = ptr(desc, H);
  const tmp = ptr(desc, TMP);
  const dBytes = <usize>d << 2;

  // The embedding: item vector · √d (or 1) + the position's row, then the optional norm.
  const table = ptr(desc, TABLE);
  const positions = ptr(desc, POSITIONS);
  const embedScale = f32x4.splat(real(desc, EMBED_SCALE));
  const latest = (flags & FROM_LATEST) != 0;
  for (let r = 0; r < rows; r++) {
    const i = from + r;
    const item = table + <usize>load<i32>(items + (<usize>i << 2)) * dBytes;
    const position = positions + <usize>(latest ? length - 1 - i : i) * dBytes;
    const xr = x + <usize>r * dBytes;
    let c = 0;
    for (; c + 4 <= d; c += 4) {
      const cb = <usize>c << 2;
      v128.store(xr + cb, f32x4.add(f32x4.mul(f4(item + cb), embedScale), f4(position + cb)));
    }
    for (; c < d; c++) {
      const cb = <usize>c << 2;
      store<f32>(xr + cb, load<f32>(item + cb) * real(desc, EMBED_SCALE) + load<f32>(position + cb));
    }
  }
  if ((flags & EMBEDDING_NORM) != 0) {
    layerNorm(x, x, ptr(desc, EMB_GAMMA), ptr(desc, EMB_BETA), rows, d, eps);
  }

  const q = ptr(desc, Q);
  const att = ptr(desc, ATT);
  const inner = ptr(desc, INNER);
  const probs = ptr(desc, PROBS);
  const scale = real(desc, SCALE);
  const blocks = word(desc, BLOCKS);
  for (let b = 0; b < blocks; b++) {
    const qk = blockWord(desc, b, QK);
    const v = blockWord(desc, b, V);
    const ffn = blockWord(desc, b, FFN);
    const kw = heads * qk;
    const vw = heads * v;
    const keys = blockPtr(desc, b, KEYS);
    const values = blockPtr(desc, b, VALUES);
    // The projections' input: LN(x) before the attention (pre-LN), x itself (post-LN).
    let input = x;
    if (!post) {
      layerNorm(h, x, blockPtr(desc, b, NORM1_GAMMA), blockPtr(desc, b, NORM1_BETA), rows, d, eps);
      input = h;
    }
    linear(q, kw, input, d, blockPtr(desc, b, WQ), blockPtr(desc, b, BQ), rows, d, kw);
    linear(keys + (<usize>(from * kw) << 2), kw, input, d, blockPtr(desc, b, WK), blockPtr(desc, b, BK), rows, d, kw);
    linear(values + (<usize>(from * vw) << 2), vw, input, d, blockPtr(desc, b, WV), blockPtr(desc, b, BV), rows, d, vw);
    for (let r = 0; r < rows; r++) {
      attendRow(att + (<usize>(r * vw) << 2), q + (<usize>(r * kw) << 2), keys, values, from + r, heads, qk, v, scale, probs);
    }
    linear(tmp, d, att, vw, blockPtr(desc, b, WO), blockPtr(desc, b, BO), rows, vw, d);
    addInto(x, tmp, rows * d);
    if (post) layerNorm(x, x, blockPtr(desc, b, NORM1_GAMMA), blockPtr(desc, b, NORM1_BETA), rows, d, eps);

    // The feed-forward: x + f(LN(x)) (pre-LN) or LN(x + f(x)) (post-LN).
    input = x;
    if (!post) {
      layerNorm(h, x, blockPtr(desc, b, NORM2_GAMMA), blockPtr(desc, b, NORM2_BETA), rows, d, eps);
      input = h;
    }
    linear(inner, ffn, input, d, blockPtr(desc, b, WI), blockPtr(desc, b, BI), rows, d, ffn);
    if ((flags & GELU) != 0) geluErf(inner, rows * ffn);
    else relu(inner, rows * ffn);
    linear(tmp, d, inner, ffn, blockPtr(desc, b, WOUT), blockPtr(desc, b, BOUT), rows, ffn, d);
    addInto(x, tmp, rows * d);
    if (post) layerNorm(x, x, blockPtr(desc, b, NORM2_GAMMA), blockPtr(desc, b, NORM2_BETA), rows, d, eps);
  }

  const last = x + <usize>(rows - 1) * dBytes;
  const query = ptr(desc, QUERY);
  if ((flags & FINAL_NORM) != 0) {
    layerNorm(query, last, ptr(desc, FINAL_GAMMA), ptr(desc, FINAL_BETA), 1, d, eps);
  } else {
    memory.copy(query, last, dBytes);
  }
}

/**
 * out[r] = QUERY · table[r] for every row of the table (row 0, the padding row, included).
 * Four rows at a time, so each slice of the query is loaded once for four rows.
 */
export function scoreAll(desc: usize, out: usize): void {
  const d = word(desc, DIM);
  const table = ptr(desc, TABLE);
  const query = ptr(desc, QUERY);
  const n = word(desc, NUM_ROWS);
  const dBytes = <usize>d << 2;
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    const t0 = table + <usize>r * dBytes;
    const t1 = t0 + dBytes;
    const t2 = t1 + dBytes;
    const t3 = t2 + dBytes;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= d; c += 4) {
      const cb = <usize>c << 2;
      const q = f4(query + cb);
      a0 = f32x4.add(a0, f32x4.mul(q, f4(t0 + cb)));
      a1 = f32x4.add(a1, f32x4.mul(q, f4(t1 + cb)));
      a2 = f32x4.add(a2, f32x4.mul(q, f4(t2 + cb)));
      a3 = f32x4.add(a3, f32x4.mul(q, f4(t3 + cb)));
    }
    let s0 = sum4(a0);
    let s1 = sum4(a1);
    let s2 = sum4(a2);
    let s3 = sum4(a3);
    for (; c < d; c++) {
      const cb = <usize>c << 2;
      const q = load<f32>(query + cb);
      s0 += q * load<f32>(t0 + cb);
      s1 += q * load<f32>(t1 + cb);
      s2 += q * load<f32>(t2 + cb);
      s3 += q * load<f32>(t3 + cb);
    }
    const o = out + (<usize>r << 2);
    store<f32>(o, s0);
    store<f32>(o + 4, s1);
    store<f32>(o + 8, s2);
    store<f32>(o + 12, s3);
  }
  for (; r < n; r++) {
    store<f32>(out + (<usize>r << 2), dot(query, table + <usize>r * dBytes, d));
  }
}

/** out[i] = QUERY · table[rows[i]] for i < count (rows: i32). */
export function scoreRows(desc: usize, rows: usize, count: i32, out: usize): void {
  const d = word(desc, DIM);
  const table = ptr(desc, TABLE);
  const query = ptr(desc, QUERY);
  const dBytes = <usize>d << 2;
  for (let i = 0; i < count; i++) {
    const row = <usize>load<i32>(rows + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), dot(query, table + row * dBytes, d));
  }
}

/**
 * The best k of scores[from..n), skipping rows whose byte in `skip` is non-zero and
 * non-finite scores: rows (i32) and their scores best first, ties to the lower row, as
 * src/runtime/engine/top-k.ts ranks. Returns how many were found (at most k).
 */
export function topK(scores: usize, skip: usize, from: i32, n: i32, k: i32, bestRows: usize, bestScores: usize): i32 {
  if (k <= 0) return 0;
  let filled = 0;
  let floor: f32 = -Infinity;
  for (let row = from; row < n; row++) {
    // Once k are held, four rows at a time that none beats are passed over together (a NaN
    // beats nothing; a row that does, or an infinity, goes through the checks below).
    if (filled == k) {
      const bar = f32x4.splat(floor);
      while (row + 4 <= n && !v128.any_true(f32x4.gt(v128.load(scores + (<usize>row << 2)), bar))) {
        row += 4;
      }
      if (row >= n) break;
    }
    const score = load<f32>(scores + (<usize>row << 2));
    // Strictly better only: an equal score keeps the lower row, seen first, ahead.
    if (filled == k && !(score > floor)) continue;
    if (!isFinite(score) || load<u8>(skip + <usize>row) != 0) continue;
    let at = filled == k ? k - 1 : filled++;
    while (at > 0 && score > load<f32>(bestScores + (<usize>(at - 1) << 2))) {
      store<f32>(bestScores + (<usize>at << 2), load<f32>(bestScores + (<usize>(at - 1) << 2)));
      store<i32>(bestRows + (<usize>at << 2), load<i32>(bestRows + (<usize>(at - 1) << 2)));
      at--;
    }
    store<f32>(bestScores + (<usize>at << 2), score);
    store<i32>(bestRows + (<usize>at << 2), row);
    if (filled == k) floor = load<f32>(bestScores + (<usize>(k - 1) << 2));
  }
  return filled;
}

// A tensor-train table's scoring, without building the table (src/model/tt-matrix.ts's
// ttScoreAll, contracted in a cheaper order). The table is described by words at `tt`
// (../tensor-train-scoring.ts lays them out). With cores G_1 [I_1, J_1·R], the middle one
// G_2 [I_2, p, J_2·p] (3 cores only) and the last G_n [I_n, p, C], p = R/t, C = J_n/t, and
// the STP index s shared by every rank and the last column digit (j_n = c·t + s), a row's
// score is Σ_{c,q} G_n[i_n, c, q] · V[i_<n, c, q]: the sum over s is taken with the first
// core, so the last contraction costs p·C per row instead of the table's p·t·C.
const TT_CORES: i32 = 0; // 2 or 3
const TT_I1: i32 = 1;
const TT_IMID: i32 = 2; // I_2 with 3 cores, 1 with 2
const TT_ILAST: i32 = 3;
const TT_J1: i32 = 4;
const TT_JMID: i32 = 5; // J_2 with 3 cores, 1 with 2
const TT_C: i32 = 6;
const TT_T: i32 = 7;
const TT_P: i32 = 8;
const TT_FIRST: i32 = 9; // G_1 as stored, [I_1, J_1, p, t]
const TT_MIDDLE: i32 = 10; // K_2 [(c_1, j_2), (i_2, c_2)] = G_2[i_2, c_1, j_2·p + c_2]
const TT_LAST: i32 = 11; // K_n [(q, c), i_n] = G_n[i_n, c, q]
const TT_U: i32 = 12; // [I_1, C, p, J_mid]: the query through G_1, s summed
const TT_V: i32 = 13; // [I_1, C, I_mid·p]: the query through G_1 and G_2 (U with 2 cores)

/**
 * out[r] = query · E[r] for r < numRows, E the tensor-train table described at `tt`, row 0
 * included (rows past numRows, the padding of the row factors, are not written).
 */
export function ttScoreAll(tt: usize, query: usize, out: usize, numRows: i32): void {
  ttQueryThroughFirst(tt, query);
  if (word(tt, TT_CORES) == 3) ttThroughMiddle(tt);
  ttLastScores(tt, out, numRows);
}

/** U[i_1, q, c_1, j_m] = Σ_{j_1, s} query[j_1, (j_m, q), s] · G_1[i_1, j_1, c_1, s]. */
function ttQueryThroughFirst(tt: usize, query: usize): void {
  const I1 = word(tt, TT_I1);
  const J1 = word(tt, TT_J1);
  const Jm = word(tt, TT_JMID);
  const C = word(tt, TT_C);
  const t = word(tt, TT_T);
  const p = word(tt, TT_P);
  const R = p * t;
  const jRest = Jm * C * t;
  const first = ptr(tt, TT_FIRST);
  const u = ptr(tt, TT_U);
  for (let i1 = 0; i1 < I1; i1++) {
    const g = first + (<usize>(i1 * J1 * R) << 2);
    for (let q = 0; q < C; q++) {
      for (let c1 = 0; c1 < p; c1++) {
        for (let jm = 0; jm < Jm; jm++) {
          const column = (jm * C + q) * t;
          let sum: f32 = 0;
          for (let j1 = 0; j1 < J1; j1++) {
            const qRow = query + (<usize>(j1 * jRest + column) << 2);
            const gRow = g + (<usize>(j1 * R + c1 * t) << 2);
            for (let s = 0; s < t; s++) {
              sum += load<f32>(qRow + (<usize>s << 2)) * load<f32>(gRow + (<usize>s << 2));
            }
          }
          store<f32>(u + (<usize>(((i1 * C + q) * p + c1) * Jm + jm) << 2), sum);
        }
      }
    }
  }
}

/** V[i_1, q, (i_2, c_2)] = Σ_{(c_1, j_2)} U[i_1, q, (c_1, j_2)] · K_2[(c_1, j_2), (i_2, c_2)]. */
function ttThroughMiddle(tt: usize): void {
  const I1 = word(tt, TT_I1);
  const C = word(tt, TT_C);
  const p = word(tt, TT_P);
  const depth = p * word(tt, TT_JMID);
  const width = word(tt, TT_IMID) * p;
  const k2 = ptr(tt, TT_MIDDLE);
  const u = ptr(tt, TT_U);
  const v = ptr(tt, TT_V);
  for (let row = 0; row < I1 * C; row++) {
    vectorTimesMatrix(u + (<usize>(row * depth) << 2), k2, depth, width, v + (<usize>(row * width) << 2));
  }
}

/**
 * out[:width] = x[:depth] · m[depth, width]: sixteen, then four columns at a time held in
 * registers while x's entries are splatted, the last width % 4 columns scalar.
 */
@inline function vectorTimesMatrix(x: usize, m: usize, depth: i32, width: i32, out: usize): void {
  const rowBytes = <usize>width << 2;
  let col = 0;
  for (; col + 16 <= width; col += 16) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let at = m + (<usize>col << 2);
    for (let k = 0; k < depth; k++) {
      const xk = v128.load32_splat(x + (<usize>k << 2));
      a0 = f32x4.add(a0, f32x4.mul(xk, f4(at)));
      a1 = f32x4.add(a1, f32x4.mul(xk, f4(at + 16)));
      a2 = f32x4.add(a2, f32x4.mul(xk, f4(at + 32)));
      a3 = f32x4.add(a3, f32x4.mul(xk, f4(at + 48)));
      at += rowBytes;
    }
    const o = out + (<usize>col << 2);
    v128.store(o, a0);
    v128.store(o + 16, a1);
    v128.store(o + 32, a2);
    v128.store(o + 48, a3);
  }
  for (; col + 4 <= width; col += 4) {
    let a = f32x4.splat(0);
    let at = m + (<usize>col << 2);
    for (let k = 0; k < depth; k++) {
      a = f32x4.add(a, f32x4.mul(v128.load32_splat(x + (<usize>k << 2)), f4(at)));
      at += rowBytes;
    }
    v128.store(out + (<usize>col << 2), a);
  }
  for (; col < width; col++) {
    let sum: f32 = 0;
    for (let k = 0; k < depth; k++) {
      sum += load<f32>(x + (<usize>k << 2)) * load<f32>(m + (<usize>(k * width + col) << 2));
    }
    store<f32>(out + (<usize>col << 2), sum);
  }
}

/**
 * out[(i_1, i_m, i_n)] = Σ_{(q, c)} V[i_1, q, (i_m, c)] · K_n[(q, c), i_n]: for each row
 * prefix, its p·C entries of V gathered once, then every i_n through vectorTimesMatrix.
 */
function ttLastScores(tt: usize, out: usize, numRows: i32): void {
  const I1 = word(tt, TT_I1);
  const Im = word(tt, TT_IMID);
  const In = word(tt, TT_ILAST);
  const C = word(tt, TT_C);
  const p = word(tt, TT_P);
  const depth = C * p;
  const vWidth = Im * p;
  const kn = ptr(tt, TT_LAST);
  const v = word(tt, TT_CORES) == 3 ? ptr(tt, TT_V) : ptr(tt, TT_U);
  // The gathered entries live just past the last row of the scores' own prefix: a scratch
  // row of `depth` floats after V.
  const gathered = v + (<usize>(I1 * C * vWidth) << 2);
  for (let i1 = 0; i1 < I1; i1++) {
    for (let im = 0; im < Im; im++) {
      const base = (i1 * Im + im) * In;
      if (base >= numRows) return;
      for (let q = 0; q < C; q++) {
        memory.copy(
          gathered + (<usize>(q * p) << 2),
          v + (<usize>((i1 * C + q) * vWidth + im * p) << 2),
          <usize>p << 2,
        );
      }
      if (base + In <= numRows) {
        vectorTimesMatrix(gathered, kn, depth, In, out + (<usize>base << 2));
      } else {
        // The last prefix: only the rows below numRows.
        for (let i = 0; i < numRows - base; i++) {
          let sum: f32 = 0;
          for (let k = 0; k < depth; k++) {
            sum += load<f32>(gathered + (<usize>k << 2)) * load<f32>(kn + (<usize>(k * In + i) << 2));
          }
          store<f32>(out + (<usize>(base + i) << 2), sum);
        }
      }
    }
  }
}
