/**
 * The machine's WASM SIMD multiply-add rate, measured in the page for `npm run bench:engine`:
 * the fused kernels' own matrix product (src/kernels/wasm/sasrec-fused/, four f32x4
 * accumulators over streamed weight rows) on the encoder's shape, [50, 64] · [64, 64], timed
 * over enough repetitions that the timer's resolution does not matter. A request's
 * multiply-adds over this rate is the arithmetic bound each engine figure is set against.
 */
import { kernelBytes } from '../../../kernels/wasm/sasrec-fused/fused-sasrec.ts';

interface LinearKernel {
  memory: WebAssembly.Memory;
  heapBase(): number;
  linear(
    y: number,
    yStride: number,
    x: number,
    xStride: number,
    w: number,
    b: number,
    rows: number,
    m: number,
    n: number,
  ): void;
}

export interface SimdRate {
  /** Multiply-adds a second: the median of `runs` timed batches. */
  macsPerSecond: number;
  shape: string;
  runs: number;
}

export async function measureSimdRate(runs = 15): Promise<SimdRate> {
  const { instance } = await WebAssembly.instantiate(kernelBytes());
  const k = instance.exports as unknown as LinearKernel;
  const [rows, m, n] = [50, 64, 64];
  const base = (k.heapBase() + 15) & ~15;
  const floats = rows * m + m * n + n + rows * n;
  const short = base + floats * 4 - k.memory.buffer.byteLength;
  if (short > 0) k.memory.grow(Math.ceil(short / 65536));
  const view = new Float32Array(k.memory.buffer, base, floats);
  for (let i = 0; i < floats; i++) view[i] = ((i * 7919) % 997) / 997 - 0.5;
  const x = base;
  const w = x + rows * m * 4;
  const b = w + m * n * 4;
  const y = b + n * 4;
  const repeat = 2_000;
  const rates: number[] = [];
  for (let run = -2; run < runs; run++) {
    const started = performance.now();
    for (let i = 0; i < repeat; i++) k.linear(y, n, x, m, w, b, rows, m, n);
    const seconds = (performance.now() - started) / 1000;
    if (run >= 0) rates.push((repeat * rows * m * n) / seconds);
  }
  rates.sort((p, q) => p - q);
  return {
    macsPerSecond: rates[Math.floor(rates.length / 2)] as number,
    shape: `[${rows}, ${m}] · [${m}, ${n}], ${repeat} a batch`,
    runs,
  };
}
