/**
 * pmixer's SASRec.pytorch (python/model.py) onto pocketrec's encoder. Its state_dict names:
 *
 *   item_emb.weight [n + 1, d]                 → items.table (row 0 pads, and must be zero)
 *   pos_emb.weight [maxLen + 1, d]             → positions: column c of its maxLen-wide window
 *                                                is position c + 1, so pocketrec's 'from-latest'
 *                                                position r is pos_emb row maxLen - r (row 0,
 *                                                padding's, must be zero)
 *   attention_layernorms.{b}                   → blocks.b.norm1
 *   attention_layers.{b}.in_proj_weight [3d, d] → the query, key and value kernels (its thirds, transposed)
 *   attention_layers.{b}.in_proj_bias [3d]     → their biases
 *   attention_layers.{b}.out_proj              → blocks.b.attention.output
 *   forward_layernorms.{b}                     → blocks.b.norm2
 *   forward_layers.{b}.conv{1,2}.weight [d, d, 1] → blocks.b.ffn.{inner,outer}.kernel (squeezed, transposed)
 *   last_layernorm                             → norm
 *
 * Its architecture as EncoderVariant fields: LayerNorm ε 1e-8, pre- or post-LayerNorm as
 * its norm_first says, and padding keys visible: it masks only the future, so a history's
 * state depends on the zero-vector padding before it in the maxLen-wide window.
 */
import { PMIXER_DEFAULTS } from './defaults.ts';
import {
  allZero,
  countBlocks,
  type SourceConfig,
  type SourceTensors,
  type Taken,
  takenTeacher,
  transposed,
} from './source.ts';

const EPS = 1e-8;

export function fromPmixer(src: SourceTensors, config: SourceConfig): Taken {
  const { where } = src;
  const [rows, d] = src.shape('item_emb.weight') as [number, number];
  const maxLen = (src.shape('pos_emb.weight')[0] as number) - 1;
  const blocks = countBlocks(src.names(), 'attention_layers.', where);
  config.agrees('hidden_units', d, 'item_emb.weight has width');
  config.agrees('maxlen', maxLen, 'pos_emb.weight has rows - 1');
  config.agrees('num_blocks', blocks, 'the number of attention_layers');
  const heads = config.heads('num_heads', d);
  const normFirst = config.boolean('norm_first', PMIXER_DEFAULTS.norm_first);
  const dropout = config.dropout('dropout_rate', PMIXER_DEFAULTS.dropout_rate);

  const encoder = new Map<string, Float32Array>();
  const positions = src.take('pos_emb.weight', [maxLen + 1, d]);
  const table = src.take('item_emb.weight', [rows, d]);
  // Padding enters the blocks as the zero vector in pocketrec; in pmixer as these rows.
  for (const [name, row] of [
    ['pos_emb.weight', positions],
    ['item_emb.weight', table],
  ] as const) {
    if (!allZero(row.subarray(0, d))) {
      config.unsupported(
        `${name} row 0`,
        'non-zero',
        'padding must enter the blocks as the zero vector (pmixer zeroes both rows and never trains them)',
      );
    }
  }
  const reordered = new Float32Array(maxLen * d);
  for (let r = 0; r < maxLen; r++)
    reordered.set(positions.subarray((maxLen - r) * d, (maxLen - r + 1) * d), r * d);
  encoder.set('positions', reordered);
  const norm = (from: string, to: string) => src.layerNorm(encoder, from, to, d);
  for (let b = 0; b < blocks; b++) {
    const p = `blocks.${b}`;
    const mha = `attention_layers.${b}`;
    norm(`attention_layernorms.${b}`, `${p}.norm1`);
    const inProj = src.take(`${mha}.in_proj_weight`, [3 * d, d]);
    const inBias = src.take(`${mha}.in_proj_bias`, [3 * d]);
    ['query', 'key', 'value'].forEach((name, k) => {
      encoder.set(
        `${p}.attention.${name}.kernel`,
        transposed(inProj.subarray(k * d * d, (k + 1) * d * d), d, d),
      );
      encoder.set(`${p}.attention.${name}.bias`, inBias.slice(k * d, (k + 1) * d));
    });
    src.linear(encoder, `${mha}.out_proj`, `${p}.attention.output`, d, d);
    norm(`forward_layernorms.${b}`, `${p}.norm2`);
    for (const [conv, to] of [
      ['conv1', 'inner'],
      ['conv2', 'outer'],
    ]) {
      // Conv1d(d, d, 1): [out, in, 1], the kernel's trailing 1 squeezed away.
      const w = src.take(`forward_layers.${b}.${conv}.weight`, [d, d, 1]);
      encoder.set(`${p}.ffn.${to}.kernel`, transposed(w, d, d));
      encoder.set(`${p}.ffn.${to}.bias`, src.take(`forward_layers.${b}.${conv}.bias`, [d]));
    }
  }
  norm('last_layernorm', 'norm');
  return takenTeacher(
    'pmixer',
    { rows, dim: d, maxLen, blocks, heads, dropout },
    {
      positions: 'from-latest',
      readout: 'last',
      norm: normFirst ? 'pre' : 'post',
      layerNormEps: EPS,
      paddingKeys: 'visible',
    },
    { encoder, table, config },
  );
}
