/**
 * `pocketrec ranker <ctr package> --retrieval <next-item package> --dataset <context
 * storefront> --out <dir>`: makes a trained CTR model the second stage of on-device
 * recommendations (src/model/ctr/ranker.ts). It writes the ranker file (which fields the
 * page's context fills, every catalogue item's fields as the model's ids, how many
 * candidates to take) into a copy of the package, with the fusion weight fitted on the
 * validation shoppers' steps against the retrieval model given, and reports
 * NDCG@10 and HR@10 on every step of the test shoppers: retrieval alone, retrieval +
 * ranking, and retrieval + ranking with no context sent, and both by kind of step.
 *
 * The data set is a generated context storefront (src/data/storefront-context.ts): its
 * shoppers carry the context of every visit, and its held-out shoppers are the ones the
 * ranker's click data (`<name>-clicks`) never trained on.
 */

import { type DatasetSpec, getDataset } from '../data/datasets.ts';
import {
  CONTEXT_FIELDS,
  type ContextStorefront,
  type ContextStorefrontOptions,
  contextFieldValues,
  generateContextStorefront,
  ITEM_FIELDS,
  itemFieldValues,
  type ShopperContext,
} from '../data/storefront-context.ts';
import { UsageError } from '../errors.ts';
import { packageScorer } from '../eval/package-scorer.ts';
import {
  fitWeight,
  metricsByGroup,
  rankRetrieved,
  retrievalMetrics,
  retrieve,
  type TopKMetrics,
  type TwoStageCase,
  twoStageMetrics,
} from '../eval/two-stage.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import type { CtrModel } from '../model/ctr/model.ts';
import { ctrFromPackage } from '../model/ctr/package.ts';
import { CTR_PRUNED_KIND, ctrFromPrunedPackage } from '../model/ctr/pruned-package.ts';
import { type RankerSpec, rankerItemTable, withRanker } from '../model/ctr/ranker.ts';
import type { CtrSchema } from '../model/ctr/schema.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { notesRecord } from '../package/notes.ts';
import { type ModelPackage, readModelPackage } from '../package/reader.ts';
import { repackageSpec } from '../package/repackage.ts';
import { buildModelPackage } from '../package/writer.ts';
import { DEFAULT_RANKER } from './defaults.ts';
import { checkOutputWritable } from './options.ts';
import { commandLine, type Output, printJson, table } from './output.ts';

export interface RankerCliOptions {
  retrieval: string;
  dataset: string;
  out: string;
  candidates?: string;
  /** Held-out shoppers of each split to fit and measure on (quick runs). */
  users?: string;
  /** A fixed weight instead of the fitted one. */
  weight?: string;
  force?: boolean;
  json?: boolean;
}

/** What `ranker` measured and wrote, as --json prints it. */
export interface RankerSummary {
  out: string;
  ranker: string;
  retrieval: string;
  dataset: string;
  candidates: number;
  weight: number;
  /** Validation NDCG@10 at each weight tried. */
  fitted: { weight: number; ndcg: number }[];
  contextFields: string[];
  itemFields: string[];
  test: { retrieval: TopKMetrics; twoStage: TopKMetrics; twoStageNoContext: TopKMetrics };
  /** The test figures by kind of step: the first event of a visit, or after a main, ... */
  byStep: { group: string; retrieval: TopKMetrics; twoStage: TopKMetrics }[];
  bytes: number;
}

export async function rankerCommand(
  model: string,
  options: RankerCliOptions,
  output: Output,
): Promise<void> {
  checkOutputWritable(options.out, { source: model, force: options.force });
  const storefrontOptions = contextStorefrontOptions(options.dataset);
  const candidates = positiveInt(options.candidates, DEFAULT_RANKER.candidates, '--candidates');
  const fixedWeight = options.weight === undefined ? null : nonNegative(options.weight);
  await useWasmBackend();
  const pkg = await readVerified(model);
  const ctr = ctrModelOf(model, pkg);
  const storefront = generateContextStorefront(storefrontOptions);
  const spec = rankerSpec(ctr.schema, storefront, candidates);
  const retrievalPkg = await readVerified(options.retrieval);
  checkRetrieval(options.retrieval, retrievalPkg, storefront);
  const scorer = packageScorer(retrievalPkg);
  const table = rankerItemTable(
    spec,
    ctr.schema,
    retrievalPkg.itemIds ?? null,
    retrievalPkg.manifest.items.count,
  );
  const cases = heldOutCases(
    storefront,
    positiveInt(options.users, Number.POSITIVE_INFINITY, '--users', Number.POSITIVE_INFINITY),
  );
  const k = DEFAULT_RANKER.k;
  const validation = await retrieve(scorer, cases.validation, candidates);
  const validationProbabilities = await rankRetrieved(ctr, spec, table, validation);
  const fit = fitWeight(spec, ctr, validation, validationProbabilities, DEFAULT_RANKER.weights, k);
  const weight = fixedWeight ?? fit.weight;
  const ranker: RankerSpec = { ...spec, weight };

  const test = await retrieve(scorer, cases.test, candidates);
  const probabilities = await rankRetrieved(ctr, ranker, table, test);
  const noContext = await rankRetrieved(ctr, ranker, table, test, false);
  const measured = {
    retrieval: retrievalMetrics(test, k),
    twoStage: twoStageMetrics(ranker, ctr, test, probabilities, weight, k),
    twoStageNoContext: twoStageMetrics(ranker, ctr, test, noContext, weight, k),
  };
  const byStep = metricsByGroup(ranker, ctr, test, probabilities, k);
  const provenance = {
    command: commandLine('ranker', [model], options),
    retrieval: retrievalPkg.manifest.name,
    validationCases: validation.length,
    testCases: test.length,
  };
  const built = await buildModelPackage({
    ...withRanker(
      repackageSpec(pkg, {
        name: pkg.manifest.name,
        notes: JSON.stringify({ ...notesRecord(pkg.manifest.training.notes), ranker: provenance }),
        metrics: {
          ...pkg.manifest.training.metrics,
          'retrieval NDCG@10': measured.retrieval.ndcg,
          'two-stage NDCG@10': measured.twoStage.ndcg,
          'two-stage HR@10': measured.twoStage.hr,
        },
      }),
      ranker,
    ),
    createdAt: new Date(pkg.manifest.createdAt),
  });
  await writePackageDirectory(options.out, built.files);
  const summary: RankerSummary = {
    out: options.out,
    ranker: model,
    retrieval: options.retrieval,
    dataset: options.dataset,
    candidates,
    weight,
    fitted: fit.tried,
    contextFields: spec.contextFields,
    itemFields: [...(spec.itemIdField ? [spec.itemIdField] : []), ...spec.itemFields],
    test: measured,
    byStep,
    bytes: [...built.files.values()].reduce((n, b) => n + b.byteLength, 0),
  };
  if (options.json) printJson(output, summary);
  else output.out(summaryTable(summary));
}

function summaryTable(s: RankerSummary): string {
  const line = (m: TopKMetrics) => `NDCG@10 ${m.ndcg.toFixed(4)}, HR@10 ${m.hr.toFixed(4)}`;
  const gain = s.test.twoStage.ndcg / s.test.retrieval.ndcg;
  return table([
    ['wrote', `${s.out} (${s.bytes.toLocaleString('en-US')} bytes)`],
    [
      'ranker',
      `${s.ranker}: context ${s.contextFields.join(', ') || 'none'}; item ${s.itemFields.join(', ')}`,
    ],
    ['retrieval', `${s.retrieval}, top ${s.candidates}`],
    [
      'weight',
      `${s.weight} (validation NDCG@10: ${s.fitted.map((f) => `${f.weight}: ${f.ndcg.toFixed(4)}`).join(', ')})`,
    ],
    [`test (${s.test.retrieval.cases} shoppers)`, ''],
    ['  retrieval alone', line(s.test.retrieval)],
    ['  retrieval + ranking', `${line(s.test.twoStage)} (${gain.toFixed(3)}x)`],
    ['  ... with no context sent', line(s.test.twoStageNoContext)],
    ...s.byStep.map(
      (g) =>
        [
          `  ${g.group} (${g.retrieval.cases})`,
          `NDCG@10 ${g.retrieval.ndcg.toFixed(4)} alone, ${g.twoStage.ndcg.toFixed(4)} ranked`,
        ] as const,
    ),
  ]);
}

/** The generator options of a context storefront data set; anything else is a usage error. */
function contextStorefrontOptions(dataset: string): ContextStorefrontOptions {
  const spec: DatasetSpec = getDataset(dataset);
  if (spec.kind === 'sequential' && spec.format === 'generated-context-storefront') {
    return spec.generator;
  }
  throw new UsageError(
    `${dataset} is not a generated context storefront (storefront-context, storefront-flat): the ranker is fitted and evaluated on shoppers whose visits carry their context`,
  );
}

/**
 * Every step of each validation and test shopper (the shoppers no stage trained on): the
 * events before it, its item, the context of its visit. The first event of a shopper has no
 * history to retrieve from and is not a case (the runtime answers it from the popularity
 * prior). `users` keeps the first n shoppers of each split (quick runs).
 */
export function heldOutCases(
  storefront: ContextStorefront,
  users = Number.POSITIVE_INFINITY,
): { validation: TwoStageCase[]; test: TwoStageCase[] } {
  const out = { validation: [] as TwoStageCase[], test: [] as TwoStageCase[] };
  const taken = [0, 0];
  storefront.shoppers.forEach((items, s) => {
    const split = storefront.split[s];
    if (split !== 1 && split !== 2) return;
    if ((taken[split - 1] as number) >= users) return;
    taken[split - 1] = (taken[split - 1] as number) + 1;
    const contexts = storefront.contexts[s] as ShopperContext[];
    for (let t = 1; t < items.length; t++) {
      // Events of one visit share its context object.
      const before = storefront.roleOf[items[t - 1] as number];
      const group =
        contexts[t] === contexts[t - 1]
          ? `after ${before === 'accessory' ? 'an' : 'a'} ${before}, in the visit`
          : 'first of a visit';
      (split === 1 ? out.validation : out.test).push({
        history: items.subarray(0, t),
        target: items[t] as number,
        context: contextFieldValues(contexts[t] as ShopperContext),
        group,
      });
    }
  });
  return out;
}

/** The ranker file of a model trained on the storefront's click data, weight to be fitted. */
export function rankerSpec(
  schema: CtrSchema,
  storefront: ContextStorefront,
  candidates: number,
): RankerSpec {
  const names = schema.fields.map((f) => f.name);
  const contextFields = (CONTEXT_FIELDS as readonly string[]).filter((n) => names.includes(n));
  const itemIdField = names.includes('item') ? 'item' : null;
  const itemFields = (ITEM_FIELDS as readonly string[]).filter(
    (n) => n !== 'item' && names.includes(n),
  );
  const known = new Set([...contextFields, ...itemFields, ...(itemIdField ? [itemIdField] : [])]);
  const other = names.find((n) => !known.has(n));
  if (other !== undefined) {
    throw new UsageError(
      `field "${other}" of the CTR model is neither a context field (${CONTEXT_FIELDS.join(', ')}) nor an item field (${ITEM_FIELDS.join(', ')})`,
    );
  }
  const items = storefront.products.map((p) => p.id);
  const itemCodes: Record<string, number[]> = {};
  for (const name of itemFields) {
    const field = schema.fields.find((f) => f.name === name);
    const ids = new Map((field?.values ?? []).map((v, i) => [v, i + 1]));
    itemCodes[name] = items.map((_, i) => {
      const values: Record<string, string> = itemFieldValues(storefront, i + 1);
      return ids.get(values[name] as string) ?? 0;
    });
  }
  return { candidates, weight: 0, contextFields, itemIdField, itemFields, items, itemCodes };
}

function ctrModelOf(model: string, pkg: ModelPackage): CtrModel {
  const { kind } = pkg.manifest;
  if (kind === CTR_PRUNED_KIND) return ctrFromPrunedPackage(pkg);
  if (kind === 'ctr-dense') return ctrFromPackage(pkg);
  throw new UsageError(`${model} is a ${kind} package; a ranker is a ctr-dense or ctr-pruned one`);
}

/** The retrieval model must number the storefront's products as the storefront does. */
function checkRetrieval(dir: string, pkg: ModelPackage, storefront: ContextStorefront): void {
  const ids = pkg.itemIds;
  const same =
    pkg.manifest.items.count === storefront.products.length &&
    (ids === null || ids === undefined || storefront.products.every((p, i) => ids[i] === p.id));
  if (!same) {
    throw new UsageError(
      `${dir} does not number the storefront's ${storefront.products.length} products as the storefront does: train it on a storefront data set`,
    );
  }
}

async function readVerified(dir: string): Promise<ModelPackage> {
  const pkg = await readModelPackage(directorySource(dir));
  await verifyModelStructure(pkg);
  return pkg;
}

function positiveInt(
  value: string | undefined,
  fallback: number,
  flag: string,
  most = 1000,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > most) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${most}, got ${value}`);
  }
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--weight must be a number >= 0, got ${value}`);
  }
  return n;
}
