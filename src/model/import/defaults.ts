/**
 * What an import assumes where the source's config says nothing: each source's own defaults
 * (RecBole's properties/model/SASRec.yaml, pmixer's main.py arguments), never a guess. Kept
 * apart from the layouts so the command line's help shows them without loading tfjs.
 */

/** RecBole's SASRec.yaml defaults for the keys that change the math. */
export const RECBOLE_DEFAULTS = {
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
  hidden_dropout_prob: 0.5,
} as const;

/** pmixer's main.py defaults: --norm_first is off (post-LayerNorm). */
export const PMIXER_DEFAULTS = {
  norm_first: false,
  dropout_rate: 0.2,
} as const;

export const IMPORT_LAYOUTS = ['recbole', 'pmixer', 'pocketrec'] as const;
export type ImportLayout = (typeof IMPORT_LAYOUTS)[number];

export const IMPORT_FORMATS = ['safetensors'] as const;
