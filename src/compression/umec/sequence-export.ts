/**
 * A physically narrower SASRec from the groups UMEC keeps (sequence-groups.ts says what a
 * group is): each block's query/key kernels and biases keep the kept qk columns of every
 * head, its value kernel and bias the kept v columns and its output kernel the same rows,
 * its feed-forward pair the kept units; the config records the widths in `inner`. Every
 * other weight (positions, LayerNorms, output and outer biases, the readout) and the item
 * table (dense, tensor-train, RecJPQ: codebooks and codes, or quotient-remainder: both
 * factors) are copied unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import {
  denseItemTable,
  type ItemTable,
  jpqItemTable,
  qrItemTable,
  ttItemTable,
} from '../../model/item-table.ts';
import { blockWidths, type Weights } from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import type { KeptGroups } from './groups.ts';
import { narrowedConfig, type SequenceGroupLayer, sequenceGroupLayers } from './sequence-groups.ts';

/** Entries h·width + j for every head h and kept j, head by head. */
function headIndices(kept: readonly number[], heads: number, width: number): Int32Array {
  const out: number[] = [];
  for (let h = 0; h < heads; h++) for (const j of kept) out.push(h * width + j);
  return Int32Array.from(out);
}

function take(t: tf.Tensor, indices: Int32Array, axis: number): tf.Tensor {
  return tf.tidy(() => tf.gather(t, tf.tensor1d(indices, 'int32'), axis));
}

function copyTable(items: ItemTable): ItemTable {
  switch (items.kind) {
    case 'dense':
      return denseItemTable(items.materialise().clone());
    case 'tt':
      return ttItemTable(
        items.tt.cores.map((c) => c.clone()),
        items.tt.shape,
        items.numRows,
      );
    case 'jpq':
      return jpqItemTable(items.jpq.codebooks.clone(), items.jpq.codes.clone(), items.numRows);
    case 'qr':
      return qrItemTable(
        items.qr.quotient.clone(),
        items.qr.remainder.clone(),
        items.numRows,
        items.qr.operation,
      );
  }
}

/**
 * The model with only `kept` groups of each layer (layers in sequenceGroupLayers' order of
 * `model.config`), as new tensors.
 */
export function sliceEncoder(model: SequentialModel, kept: KeptGroups): SequentialModel {
  const { config, encoder } = model;
  const layers = sequenceGroupLayers(config);
  const keptOf = (block: number, part: SequenceGroupLayer['part']): number[] => {
    const l = layers.findIndex((x) => x.block === block && x.part === part);
    return kept[l] ?? [];
  };
  const get = (name: string): tf.Tensor => {
    const w = encoder[name];
    if (!w) throw new Error(`SASRec weight "${name}" is missing`);
    return w;
  };
  const sliced: Weights = {};
  for (const name of Object.keys(encoder)) sliced[name] = get(name).clone();
  const replace = (name: string, t: tf.Tensor) => {
    sliced[name]?.dispose();
    sliced[name] = t;
  };
  const H = config.heads;
  for (let b = 0; b < config.blocks; b++) {
    const p = `blocks.${b}`;
    const widths = blockWidths(config, b);
    const qk = headIndices(keptOf(b, 'qk'), H, widths.qk);
    const v = headIndices(keptOf(b, 'v'), H, widths.v);
    const ffn = Int32Array.from(keptOf(b, 'ffn'));
    for (const name of ['query', 'key']) {
      replace(`${p}.attention.${name}.kernel`, take(get(`${p}.attention.${name}.kernel`), qk, 1));
      replace(`${p}.attention.${name}.bias`, take(get(`${p}.attention.${name}.bias`), qk, 0));
    }
    replace(`${p}.attention.value.kernel`, take(get(`${p}.attention.value.kernel`), v, 1));
    replace(`${p}.attention.value.bias`, take(get(`${p}.attention.value.bias`), v, 0));
    replace(`${p}.attention.output.kernel`, take(get(`${p}.attention.output.kernel`), v, 0));
    replace(`${p}.ffn.inner.kernel`, take(get(`${p}.ffn.inner.kernel`), ffn, 1));
    replace(`${p}.ffn.inner.bias`, take(get(`${p}.ffn.inner.bias`), ffn, 0));
    replace(`${p}.ffn.outer.kernel`, take(get(`${p}.ffn.outer.kernel`), ffn, 0));
  }
  return {
    config: narrowedConfig(config, layers, kept),
    encoder: sliced,
    items: copyTable(model.items),
    ...(model.repeatBonus ? { repeatBonus: model.repeatBonus } : {}),
  };
}
