/**
 * RecBole's SASRec (recbole/model/sequential_recommender/sasrec.py with
 * recbole/model/layers.py) onto pocketrec's encoder. Its state_dict names:
 *
 *   item_embedding.weight [n_items, d]          → items.table (row 0 is "[PAD]")
 *   position_embedding.weight [maxLen, d]       → positions (position 0: the oldest item)
 *   LayerNorm.weight, .bias                     → embedding.norm.gamma, .beta
 *   trm_encoder.layer.{b}.multi_head_attention.{query,key,value,dense}.weight [d, d]
 *                                               → blocks.b.attention.{query,key,value,output}.kernel (transposed)
 *   trm_encoder.layer.{b}.multi_head_attention.LayerNorm → blocks.b.norm1 (after the residual)
 *   trm_encoder.layer.{b}.feed_forward.dense_1.weight [inner, d] → blocks.b.ffn.inner.kernel [d, inner]
 *   trm_encoder.layer.{b}.feed_forward.dense_2.weight [d, inner] → blocks.b.ffn.outer.kernel [inner, d]
 *   trm_encoder.layer.{b}.feed_forward.LayerNorm → blocks.b.norm2 (after the residual)
 *
 * and its architecture as EncoderVariant fields: post-LayerNorm, gelu (erf) or relu, a
 * LayerNorm on the embeddings, no √d scaling, no final LayerNorm, its layer_norm_eps,
 * inner_size as ffnDim. RecBole pads on the right and counts positions from the oldest item:
 * pocketrec's 'from-oldest' positions, padding keys masked (its -10000 and pocketrec's -1e9
 * both leave a masked key's weight exactly 0 in float32).
 */
import { EMBEDDING_NORM } from '../sasrec.ts';
import { RECBOLE_DEFAULTS } from './defaults.ts';
import {
  countBlocks,
  type SourceConfig,
  type SourceTensors,
  type Taken,
  takenTeacher,
} from './source.ts';

const LAYER = 'trm_encoder.layer.';
const ACTIVATIONS = { gelu: 'gelu-erf', relu: 'relu' } as const;

export function fromRecbole(src: SourceTensors, config: SourceConfig): Taken {
  const { where } = src;
  const [rows, d] = src.shape('item_embedding.weight') as [number, number];
  const [maxLen] = src.shape('position_embedding.weight') as [number];
  const blocks = countBlocks(src.names(), LAYER, where);
  const inner = blocks > 0 ? (src.shape(`${LAYER}0.feed_forward.dense_1.weight`)[0] as number) : d;
  config.agrees('hidden_size', d, 'item_embedding.weight has width');
  config.agrees('MAX_ITEM_LIST_LENGTH', maxLen, 'position_embedding.weight has rows');
  config.agrees('n_layers', blocks, 'the number of trm_encoder layers');
  config.agrees('inner_size', inner, 'feed_forward.dense_1 has width');
  const heads = config.heads('n_heads', d);
  const act = config.string('hidden_act', RECBOLE_DEFAULTS.hidden_act);
  if (!Object.hasOwn(ACTIVATIONS, act)) {
    config.unsupported(
      'hidden_act',
      act,
      `pocketrec's encoder has ${Object.keys(ACTIVATIONS).join(' and ')}`,
    );
  }
  const eps = config.number(
    'layer_norm_eps',
    RECBOLE_DEFAULTS.layer_norm_eps,
    (v) => v > 0 && v <= 1e-2,
    'a number in (0, 0.01]',
  );
  const dropout = config.dropout('hidden_dropout_prob', RECBOLE_DEFAULTS.hidden_dropout_prob);

  const encoder = new Map<string, Float32Array>();
  const linear = (from: string, to: string, out: number, inWidth: number) =>
    src.linear(encoder, from, to, out, inWidth);
  const norm = (from: string, to: string) => src.layerNorm(encoder, from, to, d);
  encoder.set('positions', src.take('position_embedding.weight', [maxLen, d]));
  norm('LayerNorm', EMBEDDING_NORM);
  for (let b = 0; b < blocks; b++) {
    const attention = `${LAYER}${b}.multi_head_attention`;
    const ffn = `${LAYER}${b}.feed_forward`;
    const p = `blocks.${b}`;
    for (const [from, to] of [
      ['query', 'query'],
      ['key', 'key'],
      ['value', 'value'],
      ['dense', 'output'],
    ]) {
      linear(`${attention}.${from}`, `${p}.attention.${to}`, d, d);
    }
    norm(`${attention}.LayerNorm`, `${p}.norm1`);
    linear(`${ffn}.dense_1`, `${p}.ffn.inner`, inner, d);
    linear(`${ffn}.dense_2`, `${p}.ffn.outer`, d, inner);
    norm(`${ffn}.LayerNorm`, `${p}.norm2`);
  }
  const table = src.take('item_embedding.weight', [rows, d]);
  return takenTeacher(
    'recbole',
    { rows, dim: d, maxLen, blocks, heads, dropout },
    {
      positions: 'from-oldest',
      readout: 'last',
      norm: 'post',
      activation: ACTIVATIONS[act as keyof typeof ACTIVATIONS],
      embeddingNorm: true,
      scaleEmbeddings: false,
      finalNorm: false,
      layerNormEps: eps,
      ffnDim: inner,
    },
    { encoder, table, config },
  );
}
