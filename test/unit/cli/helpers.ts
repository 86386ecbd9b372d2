import * as tf from '@tensorflow/tfjs';
import { main } from '../../../src/cli/main.ts';
import type { Output } from '../../../src/cli/output.ts';
import { denseItemTable } from '../../../src/model/item-table.ts';
import { initEncoderWeights, type SasrecConfig } from '../../../src/model/sasrec.ts';
import type { SequentialModel } from '../../../src/model/sequential.ts';

/** Runs the CLI in-process, capturing what it prints. */
export async function runCli(
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { out: (s) => out.push(s), err: (s) => err.push(s) };
  const code = await main(argv, output);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The encoder of command tests: d 8, one block, length 6. */
export function tinyConfig(numItems: number): SasrecConfig {
  return {
    numItems,
    dim: 8,
    maxLen: 6,
    blocks: 1,
    heads: 1,
    dropout: 0,
    positions: 'from-oldest',
    readout: 'last',
  };
}

/** An untrained dense model small enough for command tests (tinyConfig). */
export function tinyModel(numItems: number, seed = 1, std = 0.1): SequentialModel {
  const config = tinyConfig(numItems);
  return {
    config,
    encoder: initEncoderWeights(config, seed),
    items: denseItemTable(tf.randomNormal([numItems + 1, 8], 0, std, 'float32', seed + 1)),
  };
}
