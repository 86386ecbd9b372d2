/**
 * What `pocketrec umec`'s CTR path (umec.ts) and sequence path (umec-sequence.ts) share:
 * the options, the budget, the search's, fine-tuning's and minimax's rates, each parsed and
 * checked once, and writing the result.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { MinimaxRates } from '../compression/umec/minimax.ts';
import { SCORE_SCALES, type ScoreScale } from '../compression/umec/search.ts';
import { UsageError } from '../errors.ts';
import { writePackageDirectory } from '../package/node-fs.ts';
import { numberOption } from './options.ts';

export interface UmecCliOptions {
  dataset: string;
  flopsBudget: string;
  out: string;
  method?: string;
  searchEpochs?: string;
  lr?: string;
  batch?: string;
  sLr?: string;
  yLr?: string;
  zLr?: string;
  proxLr?: string;
  groupLasso?: string;
  scores?: string;
  finetune?: string;
  finetuneLr?: string;
  /** Sequence path: fine-tuning's weight of the KL to the uncut model. */
  kdAlpha?: string;
  /** Sequence path: validate and evaluate on the first n users (quick runs). */
  users?: string;
  threads?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
}

/** Each path's defaults for what both share. */
export interface UmecRunDefaults extends MinimaxRates {
  searchEpochs: number;
  lr: number;
  batch: number;
  scores: ScoreScale;
  finetune: number;
  finetuneLr: number;
}

export interface UmecRunSettings<M extends string> {
  method: M;
  budget: number;
  searchEpochs: number;
  lr: number;
  batch: number;
  rates: MinimaxRates;
  scores: ScoreScale;
  finetune: number;
  finetuneLr: number;
}

/** The shared settings from the options, `methods` being those this path takes. */
export function umecRunSettings<M extends string>(
  options: UmecCliOptions,
  d: UmecRunDefaults & { method: M },
  methods: readonly M[],
  what: string,
): UmecRunSettings<M> {
  const method = methods.find((m) => m === (options.method ?? d.method));
  if (!method) {
    throw new UsageError(
      `--method must be one of ${methods.join(', ')}${what}, got "${options.method}"`,
    );
  }
  const scores = SCORE_SCALES.find((s) => s === (options.scores ?? d.scores));
  if (!scores) {
    throw new UsageError(
      `--scores must be one of ${SCORE_SCALES.join(', ')}, got "${options.scores}"`,
    );
  }
  const rate = (v: string | undefined, name: string, fallback: number) =>
    numberOption(v, name, fallback, { min: 0, max: 1e6 });
  return {
    method,
    budget: numberOption(options.flopsBudget, 'flops-budget', 0.5, { min: 1e-4, max: 1 }),
    searchEpochs: numberOption(options.searchEpochs, 'search-epochs', d.searchEpochs, {
      integer: true,
      min: 1,
    }),
    lr: numberOption(options.lr, 'lr', d.lr, { min: 1e-7, max: 1 }),
    batch: numberOption(options.batch, 'batch', d.batch, { integer: true, min: 1 }),
    rates: {
      sLr: rate(options.sLr, 's-lr', d.sLr),
      yLr: rate(options.yLr, 'y-lr', d.yLr),
      zLr: rate(options.zLr, 'z-lr', d.zLr),
      proxLr: rate(options.proxLr, 'prox-lr', d.proxLr),
    },
    scores,
    finetune: numberOption(options.finetune, 'finetune', d.finetune, { integer: true, min: 0 }),
    finetuneLr: numberOption(options.finetuneLr, 'finetune-lr', d.finetuneLr, {
      min: 1e-7,
      max: 1,
    }),
  };
}

/** Writes the cut-down package, then drops the search's and fine-tuning's checkpoints. */
export async function writeCut(out: string, files: Map<string, Uint8Array>): Promise<void> {
  await writePackageDirectory(out, files);
  await rm(`${out}.search`, { recursive: true, force: true });
  await rm(`${out}.finetune`, { recursive: true, force: true });
  tf.disposeVariables();
}
