/**
 * A tensor-train item table as the fused kernels score it without building it (the
 * `ttScoreAll` kernel of ./assembly/index.ts): the cores rearranged once at load into the
 * matrices its two products stream through, the scratch those products write, and the words
 * that describe them. The sum over the semi-tensor-product index is taken with the first
 * core, so the last product costs p·C multiply-adds a row (p = R/t, C = J_n/t) where
 * tt-matrix.ts's ttScoreAll, which keeps that index to the end, costs R·J_n/t
 * (sequential-flops.ts counts both: 'tt-fused-wasm' and 'tt-contracted').
 */
import { coreDims, type TtShape } from '../../../model/tt-shape.ts';

/** The words at the table's descriptor, as ./assembly/index.ts reads them (TT_*). */
const TT_WORD = {
  cores: 0,
  i1: 1,
  iMid: 2,
  iLast: 3,
  j1: 4,
  jMid: 5,
  c: 6,
  t: 7,
  p: 8,
  first: 9,
  middle: 10,
  last: 11,
  u: 12,
  v: 13,
} as const;
export const TT_WORDS = 16;

/** The kernels' memory as the layout takes it: 16-byte aligned blocks, floats copied in. */
export interface KernelArena {
  take(bytes: number): number;
  floats(values: Float32Array): number;
}

/** The sizes that follow from a shape, as the kernel names them. */
function ttScoringDims(shape: TtShape) {
  const dims = coreDims(shape);
  const first = dims[0] as (typeof dims)[number];
  const last = dims[dims.length - 1] as (typeof dims)[number];
  const middle = dims.length === 3 ? (dims[1] as (typeof dims)[number]) : null;
  const p = last.p;
  const C = last.q;
  return {
    cores: dims.length,
    I1: first.I,
    J1: first.J,
    Imid: middle?.I ?? 1,
    Jmid: middle?.J ?? 1,
    In: last.I,
    t: last.t,
    p,
    C,
  };
}

/**
 * Lays the table out in the kernels' memory and returns the address of its descriptor and
 * the words to write there once the memory has stopped growing. `cores` as stored in the
 * package: [I_k, p_k, q_k] each, row-major; `numRows` the table's rows, at most ∏ I_k.
 */
export function writeTensorTrain(
  arena: KernelArena,
  cores: readonly Float32Array[],
  shape: TtShape,
  numRows: number,
): { desc: number; words: [number, number][] } {
  const d = ttScoringDims(shape);
  const { I1, Imid, In, Jmid, p, C } = d;
  coreDims(shape).forEach(({ I, p: coreP, q }, k) => {
    const length = cores[k]?.length;
    if (length !== I * coreP * q) {
      throw new Error(`tensor-train core ${k} has ${length} values, not ${I} × ${coreP} × ${q}`);
    }
  });
  if (numRows > I1 * Imid * In) {
    throw new Error(`tensor-train rows ${shape.rows.join('x')} cannot hold ${numRows} table rows`);
  }
  const desc = arena.take(TT_WORDS * 4);
  const words: [number, number][] = [
    [TT_WORD.cores, d.cores],
    [TT_WORD.i1, I1],
    [TT_WORD.iMid, Imid],
    [TT_WORD.iLast, In],
    [TT_WORD.j1, d.J1],
    [TT_WORD.jMid, Jmid],
    [TT_WORD.c, C],
    [TT_WORD.t, d.t],
    [TT_WORD.p, p],
    [TT_WORD.first, arena.floats(cores[0] as Float32Array)],
  ];
  const lastCore = cores[d.cores - 1] as Float32Array;
  // K_n [(q, c), i_n] = G_n[i_n, c, q].
  const kn = new Float32Array(C * p * In);
  for (let i = 0; i < In; i++) {
    for (let c = 0; c < p; c++) {
      for (let q = 0; q < C; q++)
        kn[(q * p + c) * In + i] = lastCore[(i * p + c) * C + q] as number;
    }
  }
  words.push([TT_WORD.last, arena.floats(kn)]);
  const uFloats = I1 * C * p * Jmid;
  const vWidth = Imid * p;
  const gathered = C * p; // the last stage's scratch row, just past V (or U with 2 cores)
  if (d.cores === 3) {
    const middleCore = cores[1] as Float32Array;
    // K_2 [(c_1, j_2), (i_2, c_2)] = G_2[i_2, c_1, j_2·p + c_2], G_2 stored [I_2, p, J_2·p].
    const k2 = new Float32Array(p * Jmid * Imid * p);
    for (let i2 = 0; i2 < Imid; i2++) {
      for (let c1 = 0; c1 < p; c1++) {
        for (let j2 = 0; j2 < Jmid; j2++) {
          for (let c2 = 0; c2 < p; c2++) {
            k2[(c1 * Jmid + j2) * vWidth + i2 * p + c2] = middleCore[
              (i2 * p + c1) * Jmid * p + j2 * p + c2
            ] as number;
          }
        }
      }
    }
    words.push(
      [TT_WORD.middle, arena.floats(k2)],
      [TT_WORD.u, arena.take(uFloats * 4)],
      [TT_WORD.v, arena.take((I1 * C * vWidth + gathered) * 4)],
    );
  } else {
    words.push([TT_WORD.u, arena.take((uFloats + gathered) * 4)]);
  }
  return { desc, words };
}

/**
 * Which of the kernels' row slots (1..capacity; 0 is the padding row) holds each row of the
 * window, for a table the kernels read the window's rows from: a row the previous window
 * held keeps its slot, so a window that slid by one event builds one row, not all of them.
 */
export class WindowRowSlots {
  /** Item row → slot, for the last window assigned. */
  private held = new Map<number, number>();

  constructor(private readonly capacity: number) {}

  /**
   * Writes each window position's slot into `slotOf`, calling `build(row, slot)` for every
   * row not held yet. The window has at most `capacity` positions.
   */
  assign(window: Int32Array, slotOf: Int32Array, build: (row: number, slot: number) => void): void {
    if (window.length > this.capacity) {
      throw new RangeError(`window of ${window.length} rows, ${this.capacity} slots`);
    }
    const next = new Map<number, number>();
    const used = new Uint8Array(this.capacity + 1);
    for (const row of window) {
      const slot = this.held.get(row);
      if (slot !== undefined && !next.has(row)) {
        next.set(row, slot);
        used[slot] = 1;
      }
    }
    // Forgotten first: a build that throws must not leave slots named for rows they lost.
    this.held = new Map();
    let free = 1;
    window.forEach((row, i) => {
      let slot = next.get(row);
      if (slot === undefined) {
        while (used[free]) free++;
        slot = free;
        used[slot] = 1;
        next.set(row, slot);
        build(row, slot);
      }
      slotOf[i] = slot;
    });
    this.held = next;
  }
}
