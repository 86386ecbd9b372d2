/**
 * pocketrec's own layout (what scripts/torch/train_sasrec.py writes): every tensor under its
 * package name, kernels already [in, out], the item table as items.table, and the
 * architecture in the config under pocketrec's keys (numItems, dim, maxLen, blocks, heads,
 * dropout, positions, readout, and any EncoderVariant field). Nothing is renamed; a config
 * key pocketrec does not know is refused by name rather than ignored.
 */
import { DENSE_TABLE } from '../item-table.ts';
import {
  encoderVariantProblem,
  encoderWeightShapes,
  POSITION_SCHEMES,
  type PositionScheme,
  READOUTS,
  type Readout,
  type SasrecConfig,
} from '../sasrec.ts';
import { VARIANT_KEYS } from '../sequential-structure.ts';
import {
  countBlocks,
  type SourceConfig,
  type SourceTensors,
  type Taken,
  TeacherImportError,
} from './source.ts';

const KEYS = ['numItems', 'dim', 'maxLen', 'blocks', 'heads', 'dropout', 'positions', 'readout'];

export function fromPocketrec(src: SourceTensors, config: SourceConfig): Taken {
  const { where } = src;
  const known = new Set<string>([...KEYS, ...VARIANT_KEYS, 'dataset']);
  const unknown = config.keys().filter((key) => !known.has(key));
  if (unknown.length > 0) {
    config.unsupported(
      unknown[0] as string,
      config.raw(unknown[0] as string),
      `pocketrec's architecture keys are ${[...known].join(', ')}`,
    );
  }
  const [rows, dim] = src.shape(DENSE_TABLE) as [number, number];
  const [maxLen] = src.shape('positions') as [number];
  const blocks = countBlocks(src.names(), 'blocks.', where);
  config.agrees('numItems', rows - 1, `${DENSE_TABLE} has rows - 1`);
  config.agrees('dim', dim, `${DENSE_TABLE} has width`);
  config.agrees('maxLen', maxLen, 'positions has rows');
  config.agrees('blocks', blocks, 'the number of blocks.* numbered');
  const choice = <T extends string>(key: string, choices: readonly T[], fallback?: T): T => {
    const v = config.string(key, fallback);
    if (!(choices as readonly string[]).includes(v))
      config.unsupported(key, v, `one of ${choices.join(', ')}`);
    return v as T;
  };
  const variant: Record<string, unknown> = {};
  for (const key of VARIANT_KEYS) {
    const v = config.raw(key);
    if (v !== undefined) variant[key] = v;
  }
  const model: SasrecConfig = {
    ...variant,
    numItems: rows - 1,
    dim,
    maxLen,
    blocks,
    heads: config.heads('heads', dim),
    dropout: config.dropout('dropout', 0),
    // No default: the two schemes give different models, and the older default differs from today's.
    positions: choice<PositionScheme>('positions', POSITION_SCHEMES),
    readout: choice<Readout>('readout', READOUTS, 'last'),
  };
  const problem = encoderVariantProblem(model);
  if (problem) throw new TeacherImportError('unsupported-option', where, `config ${problem}`);
  const encoder = new Map<string, Float32Array>();
  for (const [name, shape] of encoderWeightShapes(model)) encoder.set(name, src.take(name, shape));
  const table = src.take(DENSE_TABLE, [rows, dim]);
  return { layout: 'pocketrec', config: model, encoder, table, read: config.read };
}
