/**
 * `pocketrec eval`: full-ranking evaluation of a model package of any next-item kind
 * (SASRec, Markov, popularity: eval/package-scorer.ts) or a baseline on a data set,
 * through the same evaluation code for every model. User data sets: leave-one-out,
 * every item ranked, the user's history masked. Session data sets: the given test
 * prefixes, no masking, P@20 (= HR@20) and MRR@20 as the session literature reports.
 */
import { getDataset, loadSessionDataset, loadUserSequences } from '../data/index.ts';
import { UsageError } from '../errors.ts';
import { markovScorer, mostPopScorer } from '../eval/baselines.ts';
import { type EvaluationResult, evaluate, type Metrics, type Protocol } from '../eval/evaluate.ts';
import { hotItems } from '../eval/hot-items.ts';
import { packageScorer } from '../eval/package-scorer.ts';
import type { Scorer } from '../eval/scorer.ts';
import { type EvalCases, leaveOneOut, sessionSplit } from '../eval/splits.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { directorySource } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import {
  checkPackageFitsData,
  type EventLogCliOptions,
  loadOptionsFor,
  numberOption,
} from './options.ts';
import { type Output, printJson, table } from './output.ts';
import { progressBar } from './progress.ts';

export interface EvalCliOptions extends EventLogCliOptions {
  dataset: string;
  protocol: Protocol;
  split: 'test' | 'validation';
  users?: string;
  dataDir?: string;
  json?: boolean;
}

export const BASELINES = ['mostpop', 'markov'] as const;

export interface EvalData {
  kind: 'sequential' | 'session';
  /** The data set as packages record it (see TrainingData.dataset). */
  dataset: string;
  numItems: number;
  /** What models and baselines are fitted on for this split; hot items are counted here. */
  fitted: Int32Array[];
  cases: EvalCases;
}

export async function evalData(options: EvalCliOptions): Promise<EvalData> {
  const spec = getDataset(options.dataset);
  // The loaders find the data directory themselves, and a generated data set needs none.
  const load = loadOptionsFor(options.dataset, options);
  if (spec.kind === 'sequential') {
    const data = await loadUserSequences(options.dataset, load);
    const users = numberOption(options.users, 'users', Number.POSITIVE_INFINITY, {
      integer: true,
      min: 1,
    });
    const split = leaveOneOut(data.sequences.slice(0, users));
    return options.split === 'test'
      ? {
          kind: 'sequential',
          dataset: data.dataset,
          numItems: data.numItems,
          fitted: split.trainAllButLast,
          cases: split.test,
        }
      : {
          kind: 'sequential',
          dataset: data.dataset,
          numItems: data.numItems,
          fitted: split.train,
          cases: split.validation,
        };
  }
  if (spec.kind === 'session') {
    if (options.split !== 'test') throw new UsageError('session data sets have a test split only');
    const data = await loadSessionDataset(options.dataset, load);
    const split = sessionSplit(data);
    return {
      kind: 'session',
      dataset: data.dataset,
      numItems: data.numItems,
      fitted: split.train,
      cases: split.test,
    };
  }
  throw new UsageError(`eval ranks next items; ${options.dataset} is a ${spec.kind} data set`);
}

export async function modelScorer(
  model: string,
  data: EvalData,
): Promise<{ scorer: Scorer; name: string }> {
  if (model === 'mostpop')
    return { scorer: mostPopScorer(data.fitted, data.numItems), name: 'MostPop' };
  if (model === 'markov')
    return { scorer: markovScorer(data.fitted, data.numItems), name: 'first-order Markov' };
  const pkg = await readModelPackage(directorySource(model));
  const { manifest } = pkg;
  checkPackageFitsData(model, manifest, data.dataset, data.numItems);
  await useWasmBackend();
  return { scorer: packageScorer(pkg), name: manifest.name };
}

export async function evalCommand(
  model: string,
  options: EvalCliOptions,
  output: Output,
): Promise<void> {
  const data = await evalData(options);
  const { scorer, name } = await modelScorer(model, data);
  const maskHistory = data.kind === 'sequential';
  const bar = progressBar('eval', { enabled: !options.json, unit: 'cases' });
  const started = performance.now();
  const result = await evaluate(scorer, data.cases, {
    protocol: options.protocol,
    maskHistory,
    hotItems: hotItems(data.fitted, data.numItems),
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.stop();
  const seconds = (performance.now() - started) / 1000;
  const report = {
    model: name,
    dataset: options.dataset,
    split: options.split,
    items: data.numItems,
    seconds,
    protocolDescription: describe(result, data),
    ...result,
  };
  if (options.json) {
    printJson(output, report);
    return;
  }
  output.out(`${name} on ${options.dataset} (${options.split}): ${report.protocolDescription}`);
  output.out(metricTable(result.metrics, result.cases, data.kind));
  if (result.tail) {
    output.out(`\nlong tail (targets outside the 20% most frequent items):`);
    output.out(metricTable(result.tail.metrics, result.tail.cases, data.kind));
  }
  if (result.byRepeat) {
    const { repeat, fresh } = result.byRepeat;
    output.out(`\nre-clicks (the target is already in the input):`);
    output.out(metricTable(repeat.metrics, repeat.cases, data.kind));
    output.out(`\nnew items (the target is not in the input):`);
    output.out(metricTable(fresh.metrics, fresh.cases, data.kind));
  }
}

function describe(result: EvaluationResult, data: EvalData): string {
  const ranking =
    result.protocol === 'full'
      ? `full ranking over all ${data.numItems.toLocaleString('en-US')} items`
      : 'ranked against 100 sampled negatives (SASRec paper protocol; inflated, for published-number comparison only)';
  const mask = result.masked ? "the user's history masked" : 'history not masked';
  return `${ranking}, ${mask}, ${result.cases.toLocaleString('en-US')} cases`;
}

function metricTable(metrics: Metrics, cases: number, kind: EvalData['kind']): string {
  const rows: [string, string][] = [['cases', cases.toLocaleString('en-US')]];
  if (kind === 'session') {
    rows.push(['P@20 (=HR@20)', fmt(metrics['HR@20'])], ['MRR@20', fmt(metrics['MRR@20'])]);
  }
  for (const k of [5, 10, 20]) {
    rows.push(
      [`HR@${k}`, fmt(metrics[`HR@${k}`])],
      [`NDCG@${k}`, fmt(metrics[`NDCG@${k}`])],
      [`MRR@${k}`, fmt(metrics[`MRR@${k}`])],
    );
  }
  return table(rows);
}

const fmt = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(4));
