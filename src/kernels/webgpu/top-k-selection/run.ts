/**
 * How every scoring kernel runs (./program.ts): its ScoredRowsProgram over the rows, the merge
 * of the workgroups' lists into the final top k, then the list unpacked into scores and rows,
 * or left packed for one read back (readPackedCandidates decodes it on the CPU).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import {
  CandidateMergeProgram,
  MAX_TOP_K,
  PackedCandidatesUnpackProgram,
  type ScoredRowsProgram,
  type ScoringLayout,
  scoringLayout,
} from './program.ts';

/**
 * Runs the scoring program `program` makes for the rows' layout over `inputs`, with the
 * uniforms every ScoredRowsProgram declares, then the merge. Returns [scores float32 [k], rows
 * int32 [k]], or with `unpack` false [packed int32 [k * 2]].
 */
export function selectScoredRows(
  webgpu: WebGPUBackend,
  program: (layout: ScoringLayout) => ScoredRowsProgram,
  inputs: tf.TensorInfo[],
  numRows: number,
  k: number,
  unpack: boolean,
): tf.TensorInfo[] {
  const layout = scoringLayout(numRows);
  const candidates = webgpu.runWebGPUProgram(program(layout), inputs, 'int32', [
    { type: 'int32', data: [numRows] },
    { type: 'int32', data: [k] },
    { type: 'int32', data: [layout.passes] },
  ]);
  return finishSelection(webgpu, candidates, layout, k, unpack);
}

/** `candidates`: `layout.workgroups` lists of k; disposes what it no longer needs. */
function finishSelection(
  webgpu: WebGPUBackend,
  candidates: tf.TensorInfo,
  layout: ScoringLayout,
  k: number,
  unpack: boolean,
): tf.TensorInfo[] {
  let best = candidates;
  if (layout.workgroups > 1) {
    best = webgpu.runWebGPUProgram(new CandidateMergeProgram(k), [candidates], 'int32', [
      { type: 'int32', data: [layout.workgroups] },
      { type: 'int32', data: [k] },
      { type: 'int32', data: [CandidateMergeProgram.passes(layout.workgroups, k)] },
    ]);
    webgpu.disposeData(candidates.dataId);
  }
  if (!unpack) return [best];
  const values = webgpu.runWebGPUProgram(
    new PackedCandidatesUnpackProgram(k, 'scores'),
    [best],
    'float32',
  );
  const indices = webgpu.runWebGPUProgram(
    new PackedCandidatesUnpackProgram(k, 'rows'),
    [best],
    'int32',
  );
  webgpu.disposeData(best.dataId);
  return [values, indices];
}

/** The rows and scores of a packed candidate list read back from the GPU. */
export function readPackedCandidates(packed: Int32Array): {
  rows: Int32Array;
  scores: Float32Array;
} {
  const k = packed.length / 2;
  const bits = new Float32Array(packed.buffer, packed.byteOffset, packed.length);
  const rows = new Int32Array(k);
  const scores = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    scores[i] = bits[2 * i] as number;
    rows[i] = packed[2 * i + 1] as number;
  }
  return { rows, scores };
}

/** Distinct entries of a sorted list in [1, numRows): the rows exclusion really removes. */
export function excludedTableRows(exclude: Int32Array, numRows: number): number {
  let count = 0;
  for (let i = 0; i < exclude.length; i++) {
    const row = exclude[i] as number;
    if (row >= 1 && row < numRows && (i === 0 || exclude[i - 1] !== row)) count++;
  }
  return count;
}

/** Throws unless tfjs runs on WebGPU: `name` names the kernel's function, `elsewhere` what to use. */
export function requireWebgpu(name: string, elsewhere: string): void {
  const backendName = tf.getBackend();
  if (backendName !== 'webgpu') {
    throw new Error(
      `${name} runs only on the 'webgpu' backend (the current one is '${backendName}'); ${elsewhere}`,
    );
  }
}

/**
 * The checks every scoring kernel's caller makes: numRows within the table's `maxRows`, k
 * within the selection's slots and no more than the rows left after `exclude`, which must be
 * sorted ascending.
 */
export function checkSelection(
  name: string,
  numRows: number,
  maxRows: number,
  k: number,
  exclude: Int32Array,
): void {
  if (!Number.isInteger(numRows) || numRows < 1 || numRows > maxRows) {
    throw new Error(`${name}: numRows ${numRows} is not in [1, ${maxRows}]`);
  }
  if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K) {
    throw new Error(`${name}: k must be an integer in [1, ${MAX_TOP_K}], not ${k}`);
  }
  for (let i = 1; i < exclude.length; i++) {
    if ((exclude[i] as number) < (exclude[i - 1] as number)) {
      throw new Error(`${name}: exclude must be sorted ascending`);
    }
  }
  const available = numRows - 1 - excludedTableRows(exclude, numRows);
  if (k > available) {
    throw new Error(`${name}: k ${k} is more than the ${available} rows that can be returned`);
  }
}
