import { evaluate } from '../eval/evaluate.ts';
import { sequentialScorer } from '../eval/sequential-scorer.ts';
import type { EvalCases } from '../eval/splits.ts';
import type { QatDtype } from '../model/ops/fake-quant.ts';
import type { SequentialModel } from '../model/sequential.ts';
import type { EpochRecord, LoopState } from '../train/checkpoint.ts';
import { onQatGrid } from '../train/train-sasrec.ts';
import type { Output } from './output.ts';
import { progressBar } from './progress.ts';

/** The validation metric a run shows: its name and the digits it is shown with. */
export interface ShownMetric {
  name: string;
  digits: number;
}

/**
 * What a training run shows while it runs: a progress bar with the epoch, the batch loss,
 * the last validation metric and seconds per epoch, and a line per finished epoch on stderr
 * (none with --json).
 */
export function epochProgress(
  label: string,
  metric: ShownMetric,
  options: { json?: boolean },
  output: Output,
) {
  const bar = progressBar(label, {
    enabled: !options.json,
    format: `epoch {epoch} [{bar}] {value}/{total} batches | loss {loss} | val ${metric.name} {metric} | {secs} s/epoch`,
  });
  let shown = { epoch: '1', metric: '-', secs: '-' };
  return {
    onBatch: (done: number, total: number, loss: number) =>
      bar.update(done, total, { ...shown, loss: loss.toFixed(4) }),
    onEpoch: (record: EpochRecord, state: LoopState) => {
      const value = record.validation.toFixed(metric.digits);
      shown = { epoch: String(record.epoch + 1), metric: value, secs: record.seconds.toFixed(1) };
      if (!options.json) {
        output.err(
          `epoch ${record.epoch}: loss ${record.loss.toFixed(4)}, validation ${metric.name} ${value}` +
            `${state.bestEpoch === record.epoch ? ' (best)' : ''}, ${record.seconds.toFixed(1)} s`,
        );
      }
    },
    stop: () => bar.stop(),
  };
}

/**
 * What `train` and `distill` show while they run (epochProgress, with NDCG@10), and
 * validation by full ranking of the validation cases, with the history masked where the
 * data set's test protocol masks it (user data) and not where it does not (sessions).
 */
export function trainingHooks(
  label: string,
  validation: { cases: EvalCases; maskHistory: boolean; qat?: QatDtype | undefined },
  options: { json?: boolean },
  output: Output,
) {
  const ndcg = async (model: SequentialModel): Promise<number> => {
    const result = await evaluate(sequentialScorer(model), validation.cases, {
      protocol: 'full',
      maskHistory: validation.maskHistory,
    });
    return result.metrics['NDCG@10'] as number;
  };
  const { qat } = validation;
  return {
    ...epochProgress(label, { name: 'NDCG@10', digits: 4 }, options, output),
    // Quantisation-aware training is judged as the package it writes computes (onQatGrid).
    validate: async (model: SequentialModel): Promise<number> => {
      if (!qat) return ndcg(model);
      const gridded = onQatGrid(model, qat);
      try {
        return await ndcg(gridded.model);
      } finally {
        gridded.dispose();
      }
    },
  };
}

/** Every epoch's loss, validation NDCG@10 and seconds, for a package's notes. */
export function trainingHistory(state: LoopState): EpochRecord[] {
  return state.history.map((r) => ({
    epoch: r.epoch,
    loss: Number(r.loss.toFixed(6)),
    validation: Number(r.validation.toFixed(6)),
    seconds: Number(r.seconds.toFixed(1)),
  }));
}

/** The training figures a package's manifest records. */
export function trainingMetrics(state: LoopState): Record<string, number> {
  return {
    'validation/NDCG@10': state.bestScore,
    epochs: state.epoch,
    bestEpoch: state.bestEpoch,
    trainSeconds: state.trainSeconds,
  };
}
