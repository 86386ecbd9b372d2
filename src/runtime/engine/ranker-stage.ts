/**
 * The engine's second stage: a ranker (a ctr-dense or ctr-pruned package with a ranker
 * file, src/model/ctr/ranker.ts) that re-orders the retrieval model's candidates in the
 * shopper's local context. Built once per (ranker, retrieval model) pair: its CTR scorer
 * (ctr-scorer.ts, the same ctrProbabilities as rank requests), its ranker file checked
 * against the model's schema, and its item table laid out by the retrieval model's rows.
 * A request then costs one ctrProbabilities call over (1 + context fields with explain)
 * × candidates rows; the fusion and the order are twoStageOrder's, as `pocketrec ranker`
 * evaluates them.
 */
import {
  encodeRankerContext,
  isRanker,
  type RankerContext,
  type RankerItemTable,
  type RankerSpec,
  rankerItemTable,
  readRanker,
  type TwoStageItem,
  twoStageOrder,
  twoStageRows,
} from '../../model/ctr/ranker.ts';
import type { ModelPackage } from '../../package/reader.ts';
import { RuntimeError } from '../errors.ts';
import type { ContextValues } from '../local-context.ts';
import {
  buildCtrScorer,
  type CtrScorer,
  isCtrKind,
  releaseCtrScorer,
  scoreCtr,
} from './ctr-scorer.ts';

/** The retrieval model's items, which the ranker's item table is laid out by. */
export interface RetrievalItems {
  /** External ids of rows 1..numItems (null: the ids are the row numbers). */
  itemIds: readonly string[] | null;
  numItems: number;
}

export interface RankerStage {
  kind: 'ranker';
  /** The package's URL, for messages. */
  url: string;
  /** Kept so the stage can be built again on another backend (a lost WebGPU device). */
  pkg: ModelPackage;
  spec: RankerSpec;
  scorer: CtrScorer;
  table: RankerItemTable;
}

/** What a request's context was, field by field, to the ranker. */
export interface ContextReport {
  /** Context fields given a value the ranker's vocabulary lacks (scored as unknown). */
  unknown: string[];
  /** Context fields the ranker reads that the request did not give (scored as unknown). */
  missing: string[];
  /** Fields given that the ranker does not read (ignored). */
  unread: string[];
}

/**
 * The stage, or a RuntimeError('not-a-ranker') naming `url` when the package is not a
 * ranker (a ModelPackageError when its ranker file does not fit its schema). The tensors
 * built are released on any failure.
 */
export function buildRankerStage(
  pkg: ModelPackage,
  url: string,
  retrieval: RetrievalItems,
): RankerStage {
  const { manifest } = pkg;
  if (!isCtrKind(manifest.kind)) {
    throw new RuntimeError(
      'not-a-ranker',
      `ranker ${url} (${manifest.name}) is a ${manifest.kind} package; a ranker is a ctr-dense or ctr-pruned package with a ranker file`,
    );
  }
  if (!isRanker(manifest)) {
    throw new RuntimeError(
      'not-a-ranker',
      `ranker ${url} (${manifest.name}) is a ${manifest.kind} package without a ranker file (architecture.ranker): make it a ranker with \`pocketrec ranker\``,
    );
  }
  const scorer = buildCtrScorer(pkg);
  try {
    const { schema } = scorer.model;
    const spec = readRanker(pkg, schema);
    if (!spec) throw new RuntimeError('not-a-ranker', `ranker ${url} has no ranker file`);
    const table = rankerItemTable(spec, schema, retrieval.itemIds, retrieval.numItems);
    return { kind: 'ranker', url, pkg, spec, scorer, table };
  } catch (error) {
    releaseCtrScorer(scorer);
    throw error;
  }
}

/** The same stage on the backend now active (after a lost device): its tensors built again. */
export function rebuildRankerStage(stage: RankerStage): RankerStage {
  return { ...stage, scorer: buildCtrScorer(stage.pkg) };
}

export function releaseRankerStage(stage: RankerStage): void {
  releaseCtrScorer(stage.scorer);
}

/** Raw context values encoded with the ranker's vocabularies, and what did not fit. */
export function encodeContext(
  stage: RankerStage,
  context: ContextValues,
): { encoded: RankerContext; report: ContextReport } {
  const encoded = encodeRankerContext(stage.spec, stage.scorer.model.schema, context);
  const given = (field: string) => Object.hasOwn(context, field);
  return {
    encoded,
    report: {
      unknown: encoded.unknown.filter(given),
      missing: encoded.unknown.filter((field) => !given(field)),
      unread: encoded.unread,
    },
  };
}

/**
 * Every candidate (retrieval rows, best first, with their scores) in the final order:
 * retrieval score + weight × the ranker's logit in this context (twoStageOrder). With
 * `explain`, each item names the context field that moved its score most.
 */
export async function rankCandidates(
  stage: RankerStage,
  candidates: Int32Array,
  retrievalScores: Float32Array,
  context: RankerContext,
  explain: boolean,
): Promise<TwoStageItem[]> {
  const { spec, scorer, table } = stage;
  const { schema } = scorer.model;
  const rows = twoStageRows(spec, schema, table, context, candidates, explain);
  const probabilities = await scoreCtr(scorer, rows);
  return twoStageOrder(spec, schema, candidates, retrievalScores, probabilities);
}

/**
 * Runs every path a request can take (the attribution blocks included) on the first
 * candidates, so the first shopper's request does not compile shaders.
 */
export async function warmUpRankerStage(stage: RankerStage, numItems: number): Promise<void> {
  const n = Math.max(1, Math.min(stage.spec.candidates, numItems));
  const candidates = Int32Array.from({ length: n }, (_, i) => Math.min(i + 1, numItems));
  const { encoded } = encodeContext(stage, {});
  await rankCandidates(stage, candidates, new Float32Array(n), encoded, true);
}
