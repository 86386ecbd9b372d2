/**
 * `pocketrec eval <ctr package> --dataset <ctr data set>`: AUC (exact, ties averaged) and
 * LogLoss of the package's click probabilities on a split, and how much of each field of
 * that split the training vocabulary covers.
 */

import { UsageError } from '../errors.ts';
import { auc, fieldCoverage, logLoss } from '../eval/ctr-metrics.ts';
import type { CtrModel } from '../model/ctr/model.ts';
import type { CtrRows } from '../model/ctr/schema.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { ctrPackageWithData } from './ctr-package-data.ts';
import { BASELINES, type EvalCliOptions } from './eval.ts';
import { type Output, printJson, table } from './output.ts';

/** AUC (exact, ties averaged) and LogLoss (clipped as FuxiCTR clips) of the model on `rows`. */
export interface CtrMetrics {
  AUC: number;
  LogLoss: number;
}

export async function ctrMetrics(ctr: CtrModel, rows: CtrRows): Promise<CtrMetrics> {
  const probabilities = await ctrProbabilities(ctr, rows);
  return { AUC: auc(probabilities, rows.labels), LogLoss: logLoss(probabilities, rows.labels) };
}

export async function evalCtrCommand(
  model: string,
  options: EvalCliOptions,
  output: Output,
): Promise<void> {
  if ((BASELINES as readonly string[]).includes(model)) {
    throw new UsageError(
      `${model} is a next-item baseline; ${options.dataset} is a CTR data set: give a CTR package`,
    );
  }
  if (options.protocol !== 'full' || options.users !== undefined) {
    throw new UsageError('--protocol and --users are for next-item data sets, not CTR ones');
  }
  const { pkg, ctr, data } = await ctrPackageWithData(model, options, ['ctr-dense', 'ctr-pruned']);
  const { manifest } = pkg;
  const rows = options.split === 'test' ? data.test : data.validation;
  const started = performance.now();
  const metrics = await ctrMetrics(ctr, rows);
  const seconds = (performance.now() - started) / 1000;
  const result = {
    model: manifest.name,
    package: model,
    dataset: options.dataset,
    split: options.split,
    rows: rows.numRows,
    metrics,
    coverage: fieldCoverage(data.schema, rows),
    seconds,
  };
  if (options.json) {
    printJson(output, result);
    return;
  }
  output.out(
    table([
      ['model', `${result.model} (${model})`],
      [
        'data',
        `${options.dataset}, ${options.split} split, ${rows.numRows.toLocaleString('en-US')} rows`,
      ],
      ['AUC', result.metrics.AUC.toFixed(5)],
      ['LogLoss', result.metrics.LogLoss.toFixed(5)],
      ...result.coverage.map(
        (c) => [`  coverage ${c.field}`, `${(c.share * 100).toFixed(2)}%`] as const,
      ),
    ]),
  );
}
