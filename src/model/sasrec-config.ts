/**
 * SASRec's configuration: the architecture fields a package stores, the encoder variants of
 * teachers trained elsewhere, and the widths and scales derived from them. Plain data, no
 * tfjs, so code that only reads a config (the fused WASM path, the command line's help,
 * structure checks) loads none; src/model/sasrec.ts, the model's math, re-exports it all.
 */
export interface SasrecConfig extends EncoderVariant {
  /** Item ids are 1..numItems; 0 pads a short history. */
  numItems: number;
  dim: number;
  /** The encoder sees at most this many of the latest items. */
  maxLen: number;
  blocks: number;
  heads: number;
  dropout: number;
  /**
   * How a history's items are numbered for the position table. 'from-oldest': the oldest
   * item of the window is 0, so appending an item changes nothing before it and the browser
   * runtime can reuse the earlier positions' keys and values (incremental encoding).
   * 'from-latest': the latest item is 0 (SASRec's own right-aligned layout); appending
   * renumbers every item, so each request re-encodes the whole window. Packages written
   * before this option existed are 'from-latest'.
   */
  positions: PositionScheme;
  /**
   * What a position's query is. 'last': the final hidden state there (SASRec). 'attention':
   * a learned soft-attention pooling of the hidden states up to there (OD-Rec's teacher),
   * which keeps the session's own items close to the query: about 40% of next clicks in
   * the session data sets repeat an item of the session, and the last state copies poorly.
   * Packages written before this option existed are 'last'.
   */
  readout: Readout;
  /**
   * Each block's inner widths, one entry per block (see BlockWidths): what structured
   * pruning (UMEC) narrows, leaving the residual stream (dim, shared with the item table)
   * as it is. Absent: every block at the defaults (defaultBlockWidths: qk = v = dim/heads,
   * ffn = dim), as every package written before this option. Read it through blockWidths.
   */
  inner?: BlockWidths[];
}

/**
 * How an encoder departs from pocketrec's own, one optional field per difference; absent
 * fields are pocketrec's choices (the values in ENCODER_VARIANT_DEFAULTS). Packages store
 * each field that is not at its default under the same architecture key
 * (sequential-structure.ts), so packages written before these fields existed read as they
 * always did.
 */
export interface EncoderVariant {
  /**
   * Where each block's two LayerNorms sit. 'pre': inside the residual branch, before the
   * attention (norm1) and the feed-forward (norm2), x + f(LN(x)) (pocketrec; pmixer with
   * --norm_first). 'post': after each residual sum, LN(x + f(x)) (RecBole; pmixer's default).
   */
  norm?: NormPlacement;
  /** The feed-forward's activation: 'relu', or 'gelu-erf', x·Φ(x) with the exact erf (RecBole's 'gelu'). */
  activation?: Activation;
  /**
   * A LayerNorm (tensors embedding.norm.gamma and .beta) on the sum of the item and position
   * vectors, before the blocks (RecBole).
   */
  embeddingNorm?: boolean;
  /** Item vectors multiplied by √dim before the positions are added (pocketrec, pmixer; not RecBole). */
  scaleEmbeddings?: boolean;
  /** A LayerNorm (norm.gamma, norm.beta) after the last block (pocketrec, pmixer; not RecBole). */
  finalNorm?: boolean;
  /** Every LayerNorm's ε (pocketrec 1e-6, RecBole 1e-12, pmixer 1e-8). */
  layerNormEps?: number;
  /**
   * 'masked': padding positions are never keys, and every padding row is zero after each
   * block (pocketrec, RecBole). 'visible' (pmixer): every window is left-padded to maxLen,
   * its padding positions enter the first block as zero vectors and stay keys that every
   * later position attends to, so the state of a history depends on how much padding precedes
   * it; encode pads each window to maxLen itself. Needs 'from-latest' positions (the
   * window's columns are then the source's positions), and rules out incremental encoding.
   */
  paddingKeys?: PaddingKeys;
  /** The feed-forward's inner width of a block at its defaults (RecBole's inner_size; pocketrec: dim). */
  ffnDim?: number;
}

export type NormPlacement = 'pre' | 'post';
export const NORM_PLACEMENTS: readonly NormPlacement[] = ['pre', 'post'];
export type Activation = 'relu' | 'gelu-erf';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'gelu-erf'];
export type PaddingKeys = 'masked' | 'visible';
export const PADDING_KEYS: readonly PaddingKeys[] = ['masked', 'visible'];

/** What each absent EncoderVariant field means (ffnDim: dim, see defaultBlockWidths). */
export const ENCODER_VARIANT_DEFAULTS = {
  norm: 'pre',
  activation: 'relu',
  embeddingNorm: false,
  scaleEmbeddings: true,
  finalNorm: true,
  layerNormEps: 1e-6,
  paddingKeys: 'masked',
} as const satisfies Required<Omit<EncoderVariant, 'ffnDim'>>;

/** The variant's fields that differ from pocketrec's own: what a package records. */
export function variantOf(config: SasrecConfig): EncoderVariant {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ENCODER_VARIANT_DEFAULTS)) {
    const v = config[key as keyof typeof ENCODER_VARIANT_DEFAULTS];
    if (v !== undefined && v !== value) out[key] = v;
  }
  if (config.ffnDim !== undefined && config.ffnDim !== config.dim) out.ffnDim = config.ffnDim;
  return out as EncoderVariant;
}

/**
 * Why the variant fields cannot describe an encoder (a value outside its choices, an ε that
 * is not a small positive number, visible padding with positions counted from the oldest
 * item), naming the field; null when they can.
 */
export function encoderVariantProblem(config: SasrecConfig): string | null {
  const choice = <T>(key: keyof EncoderVariant, choices: readonly T[]): string | null => {
    const v = config[key];
    return v === undefined || choices.includes(v as T)
      ? null
      : `${key} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`;
  };
  const flag = (key: keyof EncoderVariant): string | null =>
    config[key] === undefined || typeof config[key] === 'boolean'
      ? null
      : `${key} must be true or false, got ${JSON.stringify(config[key])}`;
  const eps = config.layerNormEps;
  const ffn = config.ffnDim;
  return (
    choice('norm', NORM_PLACEMENTS) ??
    choice('activation', ACTIVATIONS) ??
    choice('paddingKeys', PADDING_KEYS) ??
    flag('embeddingNorm') ??
    flag('scaleEmbeddings') ??
    flag('finalNorm') ??
    (eps === undefined || (typeof eps === 'number' && eps > 0 && eps <= 1e-2)
      ? null
      : `layerNormEps must be a number in (0, 0.01], got ${JSON.stringify(eps)}`) ??
    (ffn === undefined || (Number.isSafeInteger(ffn) && ffn >= 1)
      ? null
      : `ffnDim must be a positive integer, got ${JSON.stringify(ffn)}`) ??
    (config.paddingKeys === 'visible' && config.positions !== 'from-latest'
      ? 'paddingKeys "visible" needs positions "from-latest" (the window is always maxLen columns)'
      : null)
  );
}

/**
 * One block's inner widths. `qk`: the query/key width per head (query and key kernels
 * [dim, heads·qk]); `v`: the value width per head (value kernel [dim, heads·v], output
 * kernel [heads·v, dim]); `ffn`: the feed-forward width (inner kernel [dim, ffn], outer
 * [ffn, dim]). Attention scores are always scaled by 1/√(dim/heads), the width the model
 * was trained with (attentionScale), so dropping a query/key dimension leaves the others'
 * contributions as they were.
 */
export interface BlockWidths {
  qk: number;
  v: number;
  ffn: number;
}

/** The widths of a block that was never narrowed: qk = v = dim/heads, ffn = ffnDim (dim). */
export function defaultBlockWidths(
  config: Pick<SasrecConfig, 'dim' | 'heads' | 'ffnDim'>,
): BlockWidths {
  const head = config.dim / config.heads;
  return { qk: head, v: head, ffn: config.ffnDim ?? config.dim };
}

/** Block b's inner widths: config.inner[b], or the defaults when the config has none. */
export function blockWidths(
  config: Pick<SasrecConfig, 'dim' | 'heads' | 'inner' | 'ffnDim'>,
  b: number,
): BlockWidths {
  if (!config.inner) return defaultBlockWidths(config);
  const widths = config.inner[b];
  if (!widths) throw new Error(`SASRec config.inner has no widths for block ${b}`);
  return widths;
}

/** Whether every block has the default widths (config.inner absent, or equal to them). */
export function hasDefaultInner(config: SasrecConfig): boolean {
  if (!config.inner) return true;
  const d = defaultBlockWidths(config);
  return config.inner.every((w) => w.qk === d.qk && w.v === d.v && w.ffn === d.ffn);
}

/**
 * Why config.inner cannot describe this encoder (not one entry per block, a width that is
 * not a positive integer or is above its default), or null when it can (or is absent).
 */
export function innerWidthsProblem(config: SasrecConfig): string | null {
  if (!config.inner) return null;
  if (config.inner.length !== config.blocks) {
    return `inner lists ${config.inner.length} blocks' widths for ${config.blocks} blocks`;
  }
  const d = defaultBlockWidths(config);
  for (let b = 0; b < config.inner.length; b++) {
    const w = config.inner[b] as BlockWidths;
    for (const key of ['qk', 'v', 'ffn'] as const) {
      const x = w[key];
      if (!Number.isSafeInteger(x) || x < 1 || x > d[key]) {
        return `inner[${b}].${key} must be an integer in 1..${d[key]}, got ${JSON.stringify(x)}`;
      }
    }
  }
  return null;
}

/**
 * The attention scores' scale, 1/√(dim/heads): the head width the model was trained with,
 * whatever its blocks' query/key widths are now.
 */
export function attentionScale(config: Pick<SasrecConfig, 'dim' | 'heads'>): number {
  return 1 / Math.sqrt(config.dim / config.heads);
}

export type Readout = 'last' | 'attention';
export const READOUTS: readonly Readout[] = ['last', 'attention'];

export type PositionScheme = 'from-oldest' | 'from-latest';
export const POSITION_SCHEMES: readonly PositionScheme[] = ['from-oldest', 'from-latest'];

/** The LayerNorm on the summed embeddings (EncoderVariant.embeddingNorm). */
export const EMBEDDING_NORM = 'embedding.norm';

/** Every encoder weight (not the item table) with its shape, in a stable order. */
export function encoderWeightShapes(config: SasrecConfig): [string, number[]][] {
  const d = config.dim;
  const shapes: [string, number[]][] = [['positions', [config.maxLen, d]]];
  if (config.embeddingNorm) {
    shapes.push([`${EMBEDDING_NORM}.gamma`, [d]], [`${EMBEDDING_NORM}.beta`, [d]]);
  }
  for (let b = 0; b < config.blocks; b++) {
    const p = `blocks.${b}`;
    const { qk, v, ffn } = blockWidths(config, b);
    const h = config.heads;
    shapes.push(
      [`${p}.norm1.gamma`, [d]],
      [`${p}.norm1.beta`, [d]],
      [`${p}.attention.query.kernel`, [d, h * qk]],
      [`${p}.attention.query.bias`, [h * qk]],
      [`${p}.attention.key.kernel`, [d, h * qk]],
      [`${p}.attention.key.bias`, [h * qk]],
      [`${p}.attention.value.kernel`, [d, h * v]],
      [`${p}.attention.value.bias`, [h * v]],
      [`${p}.attention.output.kernel`, [h * v, d]],
      [`${p}.attention.output.bias`, [d]],
      [`${p}.norm2.gamma`, [d]],
      [`${p}.norm2.beta`, [d]],
      [`${p}.ffn.inner.kernel`, [d, ffn]],
      [`${p}.ffn.inner.bias`, [ffn]],
      [`${p}.ffn.outer.kernel`, [ffn, d]],
      [`${p}.ffn.outer.bias`, [d]],
    );
  }
  if (config.finalNorm !== false) shapes.push(['norm.gamma', [d]], ['norm.beta', [d]]);
  if (config.readout === 'attention') {
    shapes.push(
      ['readout.item.kernel', [d, d]],
      ['readout.item.bias', [d]],
      ['readout.session.kernel', [d, d]],
      ['readout.score.kernel', [d, 1]],
    );
  }
  return shapes;
}

export function encoderParamCount(config: SasrecConfig): number {
  return encoderWeightShapes(config).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/** Whether the engine can encode this model a step at a time (SessionEncoder.incremental, the fused scorer's). */
export function encodesIncrementally(config: SasrecConfig): boolean {
  return config.positions === 'from-oldest' && config.readout === 'last';
}
