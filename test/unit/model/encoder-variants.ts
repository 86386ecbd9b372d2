// Encoder variants of teachers trained elsewhere, as the tests build them.
import type { EncoderVariant } from '../../../src/model/sasrec.ts';

/** RecBole's SASRec (inner size 24 for a d 16 test model). */
export const RECBOLE_VARIANT: EncoderVariant = {
  norm: 'post',
  activation: 'gelu-erf',
  embeddingNorm: true,
  scaleEmbeddings: false,
  finalNorm: false,
  layerNormEps: 1e-12,
  ffnDim: 24,
};
