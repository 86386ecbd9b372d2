/**
 * The architectures' default hyper-parameters, kept apart from the layers (which load
 * tfjs) so that the command line can show them in its help without loading tfjs. The
 * modules of each architecture re-export theirs.
 */
import type { Dcnv2Config } from './ctr/dcnv2.ts';
import type { DeepFmConfig } from './ctr/deepfm.ts';
import type { DlrmConfig } from './ctr/dlrm.ts';
import type { SasrecConfig } from './sasrec.ts';

export const DEFAULT_SASREC: Omit<SasrecConfig, 'numItems'> = {
  dim: 64,
  maxLen: 200,
  blocks: 2,
  heads: 1,
  dropout: 0.2,
  positions: 'from-oldest',
  readout: 'last',
};

/** The paper's 400-400-400 ReLU tower (its dropout was 0.5; 0.2 with batch norm here). */
export const DEFAULT_DEEPFM: DeepFmConfig = {
  dim: 16,
  mlp: [400, 400, 400],
  norm: 'batch',
  dropout: 0.2,
};

export const DEFAULT_DCNV2: Dcnv2Config = {
  dim: 16,
  crossLayers: 3,
  cross: { kind: 'full' },
  structure: 'parallel',
  mlp: [400, 400, 400],
  norm: 'batch',
  dropout: 0.2,
};

/** UMEC's top MLP 512-256-1, DLRM's dot interaction; dropout and norm as DeepFM's here. */
export const DEFAULT_DLRM: DlrmConfig = {
  dim: 16,
  interaction: 'dot',
  mlp: [512, 256],
  norm: 'batch',
  dropout: 0.2,
};

/** Elements per progressive chunk unless asked otherwise: 4096 float32 values are 16 KiB. */
/** Small enough that prefixes come in steps of 2% of a frappe-sized table. */
export const DEFAULT_CHUNK_ELEMENTS = 1024;
