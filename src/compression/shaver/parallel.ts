/**
 * The Shapley estimator on worker threads: each step's samples are shared out in contiguous
 * parts, the main thread credits the first part while each worker credits one of the others
 * with the same function (credits.ts, or sequential-credits.ts for a sequence model), and the
 * parts' credits are added in order. Each sample's removal order comes from its own seed, so
 * the estimate does not depend on how many threads computed it.
 */
import * as tf from '@tensorflow/tfjs';
import type { EvalCases } from '../../eval/splits.ts';
import type { CtrModelData, WeightValues } from '../../model/ctr/model-data.ts';
import { tensorsOf, weightValues } from '../../model/ctr/model-data.ts';
import type { CtrRows } from '../../model/ctr/schema.ts';
import { DENSE_TABLE, denseItemTable } from '../../model/item-table.ts';
import type { SasrecConfig } from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import {
  siblingModule,
  startWorkerThreads,
  threadFailure,
  type WorkerThread,
} from '../../train/worker-thread.ts';
import type { Credits, StepConfig } from './credits.ts';

/** A sequence model with a dense table as plain data (typed arrays, no tensors). */
export interface SequentialModelData {
  config: SasrecConfig;
  encoder: WeightValues;
  table: WeightValues[string];
  repeatBonus?: number;
}

export function sequentialModelData(model: SequentialModel): SequentialModelData {
  const table = model.items.weights[DENSE_TABLE];
  if (model.items.kind !== 'dense' || !table) {
    throw new Error(`a ${model.items.kind} item table cannot cross to a Shapley worker`);
  }
  return {
    config: model.config,
    encoder: weightValues(model.encoder),
    table: { values: table.dataSync() as Float32Array, shape: table.shape },
    ...(model.repeatBonus ? { repeatBonus: model.repeatBonus } : {}),
  };
}

export function sequentialModelFromData(data: SequentialModelData): SequentialModel {
  const [rows, dim] = data.table.shape as [number, number];
  return {
    config: data.config,
    encoder: tensorsOf(data.encoder),
    items: denseItemTable(tf.tensor2d(data.table.values, [rows, dim])),
    ...(data.repeatBonus ? { repeatBonus: data.repeatBonus } : {}),
  };
}

/** What each worker is started with: the whole estimation, fixed for its lifetime. */
export type ShapleyWorkerData =
  | { game: 'ctr'; model: CtrModelData; rows: CtrRows; codebook: Float32Array; step: StepConfig }
  | {
      game: 'sequential';
      model: SequentialModelData;
      cases: EvalCases;
      codebook: Float32Array;
      step: StepConfig;
    };

/** One part of a step: row indices into the estimation rows, and each sample's seed. */
export interface StepPart {
  indices: Int32Array;
  seeds: Uint32Array;
}

export type CreditsReply = { type: 'credits' } & Credits;

const WORKER_MODULE = siblingModule(import.meta.url, 'shapley-worker');
const workerFailed = threadFailure('Shapley worker');

/** Splits a step into at most `count` contiguous, non-empty parts of near-equal size. */
export function splitStep(part: StepPart, count: number): StepPart[] {
  const size = Math.ceil(part.indices.length / count);
  const parts: StepPart[] = [];
  for (let start = 0; start < part.indices.length; start += size) {
    const end = Math.min(part.indices.length, start + size);
    parts.push({
      indices: part.indices.subarray(start, end),
      seeds: part.seeds.subarray(start, end),
    });
  }
  return parts;
}

export class ShapleyWorkers {
  private constructor(private readonly threads: WorkerThread<CreditsReply>[]) {}

  static async start(count: number, data: ShapleyWorkerData): Promise<ShapleyWorkers> {
    return new ShapleyWorkers(
      await startWorkerThreads<CreditsReply>(count, WORKER_MODULE, data, workerFailed),
    );
  }

  get size(): number {
    return this.threads.length;
  }

  /**
   * Each part's credits, one part per worker. The messages are posted before this returns
   * its promise, so the caller can credit its own part meanwhile.
   */
  credits(parts: readonly StepPart[]): Promise<Credits[]> {
    if (parts.length > this.threads.length) {
      throw new Error(`${parts.length} step parts for ${this.threads.length} Shapley workers`);
    }
    return Promise.all(
      parts.map(async (part, k) => {
        const reply = await (this.threads[k] as WorkerThread<CreditsReply>).request(part);
        if (reply.type !== 'credits') throw workerFailed(`unexpected reply "${reply.type}"`);
        return { samples: reply.samples, elements: reply.elements, deltas: reply.deltas };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
