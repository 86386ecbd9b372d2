/**
 * How the engine scores a CTR model (ctr-dense or ctr-pruned): a rank request's raw field
 * values are encoded with the package's vocabularies (CtrRequestEncoder) and scored by
 * ctrProbabilities, i.e. the same ctrForward that training and `pocketrec eval` run.
 */
import * as tf from '@tensorflow/tfjs';
import type { CtrModel } from '../../model/ctr/model.ts';
import { ctrFromPackage } from '../../model/ctr/package.ts';
import { CTR_PRUNED_KIND, ctrFromPrunedPackage } from '../../model/ctr/pruned-package.ts';
import { type CtrRows, idsPerRow } from '../../model/ctr/schema.ts';
import { ctrProbabilities } from '../../model/ctr/score.ts';
import { isCtrPackageKind } from '../../model/ctr/structure.ts';
import type { ModelPackage } from '../../package/reader.ts';
import { CtrRequestEncoder } from '../ctr-request.ts';

export interface CtrScorer {
  kind: 'ctr';
  model: CtrModel;
  requests: CtrRequestEncoder;
}

export function isCtrKind(kind: string): boolean {
  return isCtrPackageKind(kind) || kind === CTR_PRUNED_KIND;
}

/**
 * The model and its request encoder. A package without vocabularies cannot encode a
 * request: it is refused here, and the tensors just built are released.
 */
export function buildCtrScorer(pkg: ModelPackage): CtrScorer {
  const load = pkg.manifest.kind === CTR_PRUNED_KIND ? ctrFromPrunedPackage : ctrFromPackage;
  const model = load(pkg);
  try {
    return { kind: 'ctr', model, requests: new CtrRequestEncoder(model.schema) };
  } catch (error) {
    releaseCtrScorer({ model });
    throw error;
  }
}

export function releaseCtrScorer({ model }: Pick<CtrScorer, 'model'>): void {
  tf.dispose(Object.values(model.weights));
}

/** Probabilities of encoded rows, in row order. */
export function scoreCtr(scorer: CtrScorer, rows: CtrRows): Promise<Float32Array> {
  return ctrProbabilities(scorer.model, rows);
}

/** One row of every field out of vocabulary: runs every op a request runs, on any schema. */
export function warmUpRows(model: CtrModel): CtrRows {
  const ids = model.schema.fields.map((field) =>
    Int32Array.from({ length: idsPerRow(field) }, (_, slot) => (slot === 0 ? 0 : -1)),
  );
  return { numRows: 1, ids, labels: new Float32Array(1) };
}
