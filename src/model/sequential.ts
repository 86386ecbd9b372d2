/**
 * A sequential next-item model: the SASRec encoder plus an item table (dense or
 * tensor-train). Scoring is shared by training-time validation, `pocketrec eval` and the
 * browser worker.
 */
import * as tf from '@tensorflow/tfjs';
import type { ItemTable } from './item-table.ts';
import { encode, padHistories, type SasrecConfig, type Weights } from './sasrec.ts';
import { windowItems } from './sequential-items.ts';

export { windowItems } from './sequential-items.ts';

export interface SequentialModel {
  config: SasrecConfig;
  /** Encoder weights (positions, blocks, final norm). */
  encoder: Weights;
  items: ItemTable;
  /**
   * Added to the score of every item already in the window the encoder sees (0 when
   * absent). In session data about 40% of next clicks repeat an item of the session, and
   * a dot-product score ranks a rarely seen item low however much the session points at
   * it; the bonus lifts the session's own items, still ordered by the model among
   * themselves. Fitted on validation after training (`pocketrec tune-repeats`).
   */
  repeatBonus?: number;
}

/** Hidden state after the latest item of each history: [batch, dim]. */
export function encodeLatest(
  model: SequentialModel,
  ids: tf.Tensor2D,
  table?: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, length] = ids.shape;
    const rows = (table ? tf.gather(table, ids) : model.items.lookup(ids)) as tf.Tensor3D;
    const hidden = encode(model.config, model.encoder, ids, rows, { training: false });
    return hidden.slice([0, length - 1, 0], [batch, 1, model.config.dim]).reshape([batch, -1]);
  });
}

/**
 * Scores of every item (index 0, padding, is -Infinity) after each history.
 * `materialise` builds the item table once for the batch: cheaper than contracting a
 * tensor-train table per query when the batch is large (evaluation), while the runtime
 * scores single queries without ever building it.
 */
export async function scoreHistories(
  model: SequentialModel,
  histories: readonly ArrayLike<number>[],
  options: { materialise?: boolean } = {},
): Promise<Float32Array[]> {
  const scores = tf.tidy(() => {
    const ids = padHistories(histories, model.config.maxLen);
    const table = options.materialise ? model.items.materialise() : undefined;
    const latest = encodeLatest(model, ids, table);
    return table ? tf.matMul(latest, table, false, true) : model.items.scoreAll(latest);
  });
  const flat = (await scores.data()) as Float32Array;
  const [batch, numRows] = scores.shape as [number, number];
  scores.dispose();
  return Array.from({ length: batch }, (_, b) => {
    const row = flat.slice(b * numRows, (b + 1) * numRows);
    if (model.repeatBonus) {
      addRepeatBonus(
        row,
        histories[b] as ArrayLike<number>,
        model.config.maxLen,
        model.repeatBonus,
      );
    }
    row[0] = Number.NEGATIVE_INFINITY;
    return row;
  });
}

/** scores[item] += bonus, for each item of the history's window. */
function addRepeatBonus(
  scores: Float32Array,
  history: ArrayLike<number>,
  maxLen: number,
  bonus: number,
): void {
  for (const item of windowItems(history, maxLen)) {
    if (item > 0 && item < scores.length) scores[item] = (scores[item] as number) + bonus;
  }
}
