/**
 * The structured groups UMEC prunes inside a SASRec encoder's blocks (the dense teacher and
 * the tensor-train student alike: the item table, the positions and the residual stream of
 * width dim are never touched), and what removing them leaves. Three layers per block b:
 *
 * - `blocks.b.qk`: group j is the j-th query/key dimension of every head: columns h·qk + j
 *   of the query and key kernels and biases, for every head h. Its score is the squared norm
 *   of those query and key kernel columns.
 * - `blocks.b.v`: group j is the j-th value dimension of every head: value kernel columns and
 *   bias entries h·v + j and output kernel rows h·v + j. Its score is the squared norm of
 *   those output kernel rows (the "input neurons of the next layer", as the public code
 *   scores a group).
 * - `blocks.b.ffn`: group j is feed-forward unit j: ffn.inner column and bias j, ffn.outer
 *   row j. Its score is the squared norm of ffn.outer row j.
 *
 * The proximal step (scaleSequenceGroups) shrinks what the score measures, as the CTR
 * groups do (groups.ts scaleGroups): the qk group's query and key kernel columns, the v
 * group's output rows, the ffn unit's outer row. A group shrunk to zero that way is already
 * out of the model: an output row or outer row of zero adds nothing, and a query/key
 * dimension whose kernel columns are zero contributes the product of its two biases to
 * every score of a query alike, which the softmax ignores.
 *
 * The FLOPs ratio is the encoder's alone (sequential-flops.ts encoderFlops), the part the
 * blocks' widths change: the item rows' look-ups and the scoring against the item table are
 * the same before and after.
 */
import * as tf from '@tensorflow/tfjs';
import { blockWidths, type SasrecConfig, type Weights } from '../../model/sasrec.ts';
import { encoderFlops, type SequentialFlopsOptions } from '../../model/sequential-flops.ts';
import type { KeptGroups } from './groups.ts';

export type SequencePart = 'qk' | 'v' | 'ffn';
export const SEQUENCE_PARTS: readonly SequencePart[] = ['qk', 'v', 'ffn'];

/** A prunable layer of a SASRec encoder: one part of one block. */
export interface SequenceGroupLayer {
  /** `blocks.<b>.<part>`, for display and notes. */
  name: string;
  block: number;
  part: SequencePart;
  /** How many groups: the block's width of that part (per head for qk and v). */
  groups: number;
}

/** The three layers of every block, block by block, qk, v, ffn within each. */
export function sequenceGroupLayers(config: SasrecConfig): SequenceGroupLayer[] {
  const layers: SequenceGroupLayer[] = [];
  for (let block = 0; block < config.blocks; block++) {
    const widths = blockWidths(config, block);
    for (const part of SEQUENCE_PARTS) {
      layers.push({ name: `blocks.${block}.${part}`, block, part, groups: widths[part] });
    }
  }
  return layers;
}

function weightOf(weights: Weights, name: string): tf.Tensor {
  const w = weights[name];
  if (!w) throw new Error(`SASRec weight "${name}" is missing`);
  return w;
}

/** Squared norms of a kernel's columns (axis 0 summed) or rows (axis 1 summed). */
function squaredNorms(kernel: tf.Tensor, axis: 0 | 1): Float32Array {
  return tf.tidy(() => kernel.square().sum(axis).dataSync() as Float32Array);
}

/** Sums per-head entries h·width + j over the heads h: one value per group j. */
function perGroup(values: ArrayLike<number>, heads: number, width: number): Float32Array {
  const out = new Float32Array(width);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < width; j++) out[j] = (out[j] as number) + (values[h * width + j] as number);
  }
  return out;
}

/** Each group's score (see the header), per layer. */
/**
 * Each group's weight count, per layer, as sequenceGroupScores counts its norm: a query/key
 * dimension's query and key columns in every head, a value dimension's output rows in every
 * head, a feed-forward unit's outer row.
 */
export function sequenceGroupElements(
  config: SasrecConfig,
  layers: readonly SequenceGroupLayer[],
): Float32Array[] {
  const perGroup: Record<SequencePart, number> = {
    qk: 2 * config.heads * config.dim,
    v: config.heads * config.dim,
    ffn: config.dim,
  };
  return layers.map((layer) => new Float32Array(layer.groups).fill(perGroup[layer.part]));
}

export function sequenceGroupScores(
  weights: Weights,
  config: SasrecConfig,
  layers: readonly SequenceGroupLayer[],
): Float32Array[] {
  return layers.map((layer) => {
    const p = `blocks.${layer.block}`;
    const H = config.heads;
    switch (layer.part) {
      case 'qk': {
        const q = squaredNorms(weightOf(weights, `${p}.attention.query.kernel`), 0);
        const k = squaredNorms(weightOf(weights, `${p}.attention.key.kernel`), 0);
        return perGroup(
          q.map((x, i) => x + (k[i] as number)),
          H,
          layer.groups,
        );
      }
      case 'v':
        return perGroup(
          squaredNorms(weightOf(weights, `${p}.attention.output.kernel`), 1),
          H,
          layer.groups,
        );
      default:
        return squaredNorms(weightOf(weights, `${p}.ffn.outer.kernel`), 1);
    }
  });
}

/** One factor per entry h·width + j from the per-group factors. */
function perEntry(factors: ArrayLike<number>, heads: number, width: number): Float32Array {
  const out = new Float32Array(heads * width);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < width; j++) out[h * width + j] = factors[j] as number;
  }
  return out;
}

/**
 * Scales each group of `layer` by its factor (1 leaves it): the proximal step, on what the
 * group's score measures (see the header).
 */
export function scaleSequenceGroups(
  weights: Record<string, tf.Variable>,
  config: SasrecConfig,
  layer: SequenceGroupLayer,
  factors: ArrayLike<number>,
): void {
  const p = `blocks.${layer.block}`;
  const H = config.heads;
  const scale = (name: string, entries: Float32Array, axis: 0 | 1) => {
    const w = weights[name];
    if (!w) throw new Error(`SASRec weight "${name}" is missing`);
    const shape = axis === 0 ? [1, entries.length] : [entries.length, 1];
    // Inside tidy, so the product assign copies from is freed (assign takes its own reference).
    tf.tidy(() => w.assign(w.mul(tf.tensor2d(entries, shape as [number, number]))));
  };
  switch (layer.part) {
    case 'qk': {
      const entries = perEntry(factors, H, layer.groups);
      scale(`${p}.attention.query.kernel`, entries, 0);
      scale(`${p}.attention.key.kernel`, entries, 0);
      return;
    }
    case 'v':
      scale(`${p}.attention.output.kernel`, perEntry(factors, H, layer.groups), 1);
      return;
    case 'ffn':
      scale(`${p}.ffn.outer.kernel`, Float32Array.from(factors), 1);
      return;
  }
}

/** The config with `kept` groups of each layer (layers as sequenceGroupLayers lists them). */
export function narrowedConfig(
  config: SasrecConfig,
  layers: readonly SequenceGroupLayer[],
  kept: KeptGroups,
): SasrecConfig {
  const inner = Array.from({ length: config.blocks }, (_, b) => ({ ...blockWidths(config, b) }));
  layers.forEach((layer, l) => {
    (inner[layer.block] as Record<SequencePart, number>)[layer.part] = (kept[l] ?? []).length;
  });
  return { ...config, inner };
}

/**
 * The encoder's FLOPs with `kept` groups over its FLOPs as `config` has it (encoderFlops,
 * with the same options for both: by default the engine's own encoding, as
 * src/model/package-flops.ts counts a package).
 */
export function encoderFlopsRatio(
  config: SasrecConfig,
  layers: readonly SequenceGroupLayer[],
  kept: KeptGroups,
  options: SequentialFlopsOptions = {},
): number {
  return (
    encoderFlops(narrowedConfig(config, layers, kept), options) / encoderFlops(config, options)
  );
}
