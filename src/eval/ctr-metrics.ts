/**
 * Metrics for CTR (click-through) models, the `pocketrec eval <ctr-package>` numbers: AUC,
 * LogLoss and how much of the test data each field actually knows. Pure functions over
 * plain arrays (no Node, no tfjs) so the browser runtime can report the same numbers.
 *
 * They follow FuxiCTR / BARS (reczoo), whose published Frappe results are the reference:
 * `evaluate_metrics` there calls sklearn's `roc_auc_score` (exact, ties averaged) and
 * `log_loss(y_true, y_pred, eps=1e-7)`, i.e. probabilities clipped to [1e-7, 1 - 1e-7].
 */
import { PocketrecError } from '../errors.ts';
import { type CtrFieldKind, type CtrRows, type CtrSchema, idsPerRow } from '../model/ctr/schema.ts';

/** The clip FuxiCTR / BARS apply before LogLoss; matching it keeps our LogLoss comparable. */
export const LOGLOSS_EPS = 1e-7;

function badInput(message: string): never {
  throw new PocketrecError('bad-metric-input', message);
}

function checkLengths(a: ArrayLike<number>, labels: ArrayLike<number>, what: string): void {
  if (a.length !== labels.length)
    badInput(`${what} has ${a.length} values but there are ${labels.length} labels`);
  if (a.length === 0) badInput(`no rows: ${what} of an empty set is undefined`);
}

function checkLabel(label: number, row: number): void {
  // A soft label (0.7) or a stray -1 would not fail loudly anywhere else: every formula
  // below would quietly produce a number, just not the metric.
  if (label !== 0 && label !== 1) badInput(`row ${row}: label ${label} is not 0 or 1`);
}

/**
 * Exact ROC AUC: the probability that a random positive outscores a random negative, a tie
 * counting 1/2 (the Mann–Whitney U with mid-ranks; equal to sklearn's `roc_auc_score`).
 *
 * Positives and negatives are copied into two Float64Arrays and sorted natively (no
 * comparator callback, which is what keeps 10^6 rows fast), then merged: each group of equal
 * scores contributes, per positive in it, the negatives strictly below plus half the
 * negatives in the group. ±Infinity scores are fine (they only rank); NaN has no rank.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels, 'AUC');
  const n = scores.length;
  let numPositives = 0;
  for (let i = 0; i < n; i++) {
    const label = labels[i] as number;
    checkLabel(label, i);
    if (Number.isNaN(scores[i] as number)) badInput(`row ${i}: score is NaN`);
    numPositives += label;
  }
  const numNegatives = n - numPositives;
  if (numPositives === 0 || numNegatives === 0)
    badInput(
      `AUC is undefined with ${numPositives} positives and ${numNegatives} negatives: ` +
        'it needs at least one of each',
    );

  const positives = new Float64Array(numPositives);
  const negatives = new Float64Array(numNegatives);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) positives[p++] = scores[i] as number;
    else negatives[q++] = scores[i] as number;
  }
  positives.sort();
  negatives.sort();

  // u counts pairs won by the positive, doubled so ties add 1 and the sum stays an exact
  // integer (at most 2 * 2.5e11 for 10^6 rows, far below 2^53).
  let u2 = 0;
  let q = 0;
  for (let p = 0; p < numPositives; ) {
    const s = positives[p] as number;
    while (q < numNegatives && (negatives[q] as number) < s) q++;
    const below = q; // negatives scored strictly below this group
    // Sorted order puts -0 before 0, but they compare equal, so === groups them as ties.
    let groupPositives = 0;
    while (p < numPositives && positives[p] === s) {
      groupPositives++;
      p++;
    }
    let groupNegatives = 0;
    while (q < numNegatives && negatives[q] === s) {
      groupNegatives++;
      q++;
    }
    u2 += groupPositives * (2 * below + groupNegatives);
  }
  return u2 / (2 * numPositives * numNegatives);
}

export interface LogLossOptions {
  /** Probabilities are clipped to [eps, 1 - eps]; default 1e-7 as in FuxiCTR / BARS. */
  eps?: number;
}

/**
 * Mean binary cross-entropy of predicted click probabilities. The clip bounds one confident
 * mistake at -ln(1e-7) ≈ 16.1 instead of Infinity, exactly as the reference numbers do, so a
 * model that outputs a hard 0 or 1 is still comparable with them.
 */
export function logLoss(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  { eps = LOGLOSS_EPS }: LogLossOptions = {},
): number {
  if (!(eps > 0 && eps < 0.5)) badInput(`LogLoss eps ${eps} is not in (0, 0.5)`);
  checkLengths(probabilities, labels, 'LogLoss');
  const lo = eps;
  const hi = 1 - eps;
  let sum = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const label = labels[i] as number;
    checkLabel(label, i);
    const raw = probabilities[i] as number;
    // Clipping is for rounding at the ends, not for repairing a score that is no probability:
    // a logit passed here by mistake would otherwise score as a plausible LogLoss.
    if (!(raw >= 0 && raw <= 1)) badInput(`row ${i}: probability ${raw} is not in [0, 1]`);
    const p = Math.min(Math.max(raw, lo), hi);
    // log1p(-p) keeps the digits that log(1 - p) loses when p is tiny.
    sum -= label === 1 ? Math.log(p) : Math.log1p(-p);
  }
  return sum / probabilities.length;
}

/**
 * LogLoss of logits z (p = sigmoid(z)) without going through p: -ln sigmoid(t) with t = z
 * for a positive and -z for a negative is max(-t, 0) + log1p(exp(-|t|)), which neither
 * overflows nor rounds to ln(0) however large |z| is. No clipping, so it equals `logLoss` only
 * where sigmoid(z) lies inside [eps, 1 - eps]; use it when the model exposes logits and the
 * exact loss is wanted (training curves), `logLoss` when comparing with FuxiCTR / BARS.
 * ±Infinity is accepted (a loss of 0 or Infinity); NaN is not.
 */
export function logLossFromLogits(logits: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(logits, labels, 'LogLoss');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const label = labels[i] as number;
    checkLabel(label, i);
    const z = logits[i] as number;
    if (Number.isNaN(z)) badInput(`row ${i}: logit is NaN`);
    // Branching on the label rather than the textbook max(z,0) - z*y + ... form avoids
    // Infinity - Infinity for infinite logits.
    const t = label === 1 ? z : -z;
    sum += Math.max(-t, 0) + Math.log1p(Math.exp(-Math.abs(t)));
  }
  return sum / logits.length;
}

export interface FieldCoverage {
  field: string;
  kind: CtrFieldKind;
  /** Rows with at least one known (in-vocabulary) id in this field. */
  covered: number;
  /** covered / numRows. */
  share: number;
}

/**
 * Per field, the share of rows whose value the model knows: id 0 is the out-of-vocabulary
 * row, so a field with low coverage on the test rows is one the model mostly sees as
 * "unknown" (cold users, unseen items), which explains an AUC better than the AUC does.
 * A multi-valued row counts as covered when any of its ids is known; -1 is padding and
 * never a value, so "known" is id > 0 for every kind.
 */
export function fieldCoverage(schema: CtrSchema, rows: CtrRows): FieldCoverage[] {
  const { numRows } = rows;
  if (rows.ids.length !== schema.fields.length)
    badInput(`rows have ${rows.ids.length} id columns but the schema has ${schema.fields.length}`);
  if (numRows === 0) badInput('no rows: coverage of an empty set is undefined');
  return schema.fields.map((field, f) => {
    const ids = rows.ids[f] as Int32Array;
    const width = idsPerRow(field);
    if (ids.length !== numRows * width)
      badInput(
        `field ${field.name}: ${ids.length} ids, expected ${numRows} rows × ${width} = ${numRows * width}`,
      );
    let covered = 0;
    for (let r = 0, start = 0; r < numRows; r++, start += width) {
      for (let k = start; k < start + width; k++) {
        if ((ids[k] as number) > 0) {
          covered++;
          break;
        }
      }
    }
    return { field: field.name, kind: field.kind, covered, share: covered / numRows };
  });
}
