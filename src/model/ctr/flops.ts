/**
 * The work of one request row of a CTR model, counted from its architecture: the
 * multiply-adds of every product the forward pass runs, per row. A matrix product
 * [rows, k] · [k, n] counts k·n; an element-wise multiplication or square counts one per
 * element. Additions, ReLU, softmax and look-ups count nothing: on every backend here they
 * cost a small fraction of the products, and counting them would tie the figure to how
 * tfjs fuses them.
 *
 * The figure follows the forward pass as written (the models' files): batch norm at
 * inference is two multiplications a unit (by rsqrt(variance + ε), then by γ), layer norm
 * three (its variance's squares, then the same two); mean-pooling a multi-valued field is a
 * weighted product over the slots. test/unit/model/ctr/flops.test.ts holds this count
 * against a brute-force count of the products tfjs actually runs (tf.profile), per row.
 *
 * UMEC (src/compression/umec/) reads it as its resource function R: removing a field or a
 * hidden unit makes a smaller architecture whose count this gives.
 */
import type { Dcnv2Config } from './dcnv2.ts';
import { dlrmInteractionWidth } from './dlrm.ts';
import { fieldLayout } from './field-embedding.ts';
import type { MlpConfig, Norm } from './layers.ts';
import type { CtrArchitecture } from './model.ts';
import type { CtrSchema } from './schema.ts';

/** Multiplications per unit of a norm layer at inference. */
const NORM_PRODUCTS: Record<Norm, number> = { batch: 2, layer: 3, none: 0 };

/** The MLP tower's products for one row, reading `input` values: dense then norm per layer. */
export function mlpFlops(input: number, config: MlpConfig): number {
  let width = input;
  let flops = 0;
  for (const units of config.mlp) {
    flops += width * units + NORM_PRODUCTS[config.norm] * units;
    width = units;
  }
  return flops;
}

/** The field vectors of one row: mean-pooling's products where a field is multi-valued. */
export function fieldVectorFlops(schema: CtrSchema, dim: number): number {
  const layout = fieldLayout(schema);
  if (!layout.pooled) return 0;
  // poolSlots: slot vectors times their pool weights, then a [slots, fields] 0/1 product.
  return layout.numSlots * dim + dim * layout.numSlots * layout.numFields;
}

/** FM's second-order term: (Σ v)² and Σ v², then the ½. */
function pairwiseFlops(numFields: number, dim: number): number {
  return dim + numFields * dim + 1;
}

function crossFlops(config: Dcnv2Config, D: number): number {
  const { cross } = config;
  const perLayer =
    cross.kind === 'full'
      ? D * D + D
      : D * cross.experts +
        cross.experts * (D * cross.rank + cross.rank * cross.rank + cross.rank * D + 2 * D);
  return config.crossLayers * perLayer;
}

/** Multiply-adds of one request row (see the header for what counts). */
export function ctrFlops(architecture: CtrArchitecture, schema: CtrSchema): number {
  const layout = fieldLayout(schema);
  const F = layout.numFields;
  const d = architecture.config.dim;
  const embed = fieldVectorFlops(schema, d);
  switch (architecture.kind) {
    case 'fm':
      return embed + layout.numSlots + pairwiseFlops(F, d);
    case 'deepfm': {
      const { config } = architecture;
      const last = config.mlp.at(-1) ?? F * d;
      return embed + layout.numSlots + pairwiseFlops(F, d) + mlpFlops(F * d, config) + last;
    }
    case 'dcnv2': {
      const { config } = architecture;
      const D = F * d;
      const deep = config.mlp.length > 0 ? mlpFlops(D, config) : 0;
      const last = config.mlp.at(-1) ?? D;
      const width = config.structure === 'parallel' && config.mlp.length > 0 ? D + last : last;
      return embed + crossFlops(config, D) + deep + width;
    }
    case 'dlrm': {
      const { config } = architecture;
      const input = dlrmInteractionWidth(config, F);
      // 'dot': the whole Gram matrix is one batched product, F · F · dim.
      const gram = config.interaction === 'dot' && F > 1 ? F * F * d : 0;
      return embed + gram + mlpFlops(input, config) + (config.mlp.at(-1) ?? input);
    }
  }
}
