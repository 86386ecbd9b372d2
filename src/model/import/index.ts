/**
 * `pocketrec import`'s model side: a safetensors file in one of the known layouts (RecBole's
 * SASRec, pmixer's SASRec.pytorch, pocketrec's own from scripts/torch/train_sasrec.py)
 * becomes a pocketrec teacher: the encoder's tensors under the package's names, the
 * source's architecture as SasrecConfig (EncoderVariant fields where it differs from
 * pocketrec's encoder), its item table and its item ids. The config and the item ids come
 * from the caller (--config, --items) or from the file's __metadata__ ("config": a JSON
 * object, "items": a JSON array of ids in the source's own numbering, "dataset").
 */
import * as tf from '@tensorflow/tfjs';
import type { SafetensorsFile } from '../../package/safetensors.ts';
import { denseItemTable } from '../item-table.ts';
import { encoderWeightShapes } from '../sasrec.ts';
import type { SequentialModel } from '../sequential.ts';
import type { ImportLayout } from './defaults.ts';
import { fromPmixer } from './pmixer.ts';
import { fromPocketrec } from './pocketrec.ts';
import { fromRecbole } from './recbole.ts';
import { type ImportedTeacher, SourceConfig, SourceTensors, TeacherImportError } from './source.ts';

export { IMPORT_LAYOUTS, type ImportLayout } from './defaults.ts';
export { type ImportedTeacher, TeacherImportError } from './source.ts';

const LAYOUTS = { recbole: fromRecbole, pmixer: fromPmixer, pocketrec: fromPocketrec };

/** RecBole's padding token, first in its field2id_token; dropped from an id list that has it. */
const RECBOLE_PAD = '[PAD]';

export interface ImportRequest {
  layout: ImportLayout;
  file: SafetensorsFile;
  /** How to name the file in errors. */
  where: string;
  /** The source's config (--config); absent: the file's __metadata__.config. */
  config?: Record<string, unknown>;
  /** The source's item ids in its numbering (--items); absent: the file's __metadata__.items. */
  itemIds?: readonly string[];
}

export interface ImportResult {
  teacher: ImportedTeacher;
  /** The data set the source names (__metadata__.dataset or config.dataset), if it does. */
  dataset: string | null;
}

export function importTeacher(request: ImportRequest): ImportResult {
  const { file, where, layout } = request;
  const said = file.metadata.layout;
  if (said !== undefined && said !== layout) {
    throw new TeacherImportError(
      'bad-config',
      where,
      `the file's __metadata__ says layout "${said}", not "${layout}"`,
    );
  }
  const values = request.config ?? metadataJson(file, 'config', where) ?? {};
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new TeacherImportError('bad-config', where, 'the config is not a JSON object');
  }
  const fields = values as Record<string, unknown>;
  const config = new SourceConfig(fields, where);
  const tensors = new SourceTensors(file, where);
  const teacher = LAYOUTS[layout](tensors, config);
  tensors.checkAllTaken();
  const stated = request.itemIds ?? metadataJson(file, 'items', where);
  const itemIds = itemIdsOf(stated, layout, teacher.config.numItems, where);
  const dataset =
    file.metadata.dataset ?? (typeof fields.dataset === 'string' ? fields.dataset : null);
  return { teacher: { ...teacher, itemIds }, dataset: dataset ?? null };
}

function metadataJson(file: SafetensorsFile, key: string, where: string): unknown {
  const text = file.metadata[key];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TeacherImportError('bad-config', where, `__metadata__.${key} is not JSON`);
  }
}

/**
 * The ids in the source's numbering, checked: one per item, distinct, non-empty strings.
 * A RecBole list may start with its "[PAD]". pmixer's data files number items 1..n, which
 * are then the ids; RecBole renumbers, so its ids must come along.
 */
function itemIdsOf(
  stated: unknown,
  layout: ImportLayout,
  count: number,
  where: string,
): string[] | null {
  if (stated === undefined) {
    if (layout === 'recbole') {
      throw new TeacherImportError(
        'bad-items',
        where,
        "RecBole numbers items its own way: give its field2id_token['item_id'] with --items or in __metadata__.items",
      );
    }
    return layout === 'pmixer' ? Array.from({ length: count }, (_, i) => String(i + 1)) : null;
  }
  if (!Array.isArray(stated) || !stated.every((id) => typeof id === 'string' && id !== '')) {
    throw new TeacherImportError(
      'bad-items',
      where,
      'the item ids are not a list of non-empty strings',
    );
  }
  const ids = stated.length === count + 1 && stated[0] === RECBOLE_PAD ? stated.slice(1) : stated;
  if (ids.length !== count) {
    throw new TeacherImportError('bad-items', where, `${ids.length} item ids for ${count} items`);
  }
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id))
      throw new TeacherImportError(
        'bad-items',
        where,
        `item id ${JSON.stringify(id)} appears twice`,
      );
    seen.add(id);
  }
  return ids as string[];
}

/**
 * The teacher with its items in another numbering (a data set's, so that `distill` and
 * `eval` on it line up): internal item j becomes the source's item with id ids[j - 1].
 * Every id must be the source's, and every source item must be there.
 */
export function renumberTeacher(
  teacher: ImportedTeacher,
  ids: readonly string[],
  where: string,
): ImportedTeacher {
  const { numItems, dim } = teacher.config;
  const source = teacher.itemIds ?? Array.from({ length: numItems }, (_, i) => String(i + 1));
  const row = new Map(source.map((id, i) => [id, i + 1]));
  const missing = ids.filter((id) => !row.has(id));
  const wanted = new Set(ids);
  const unused = source.filter((id) => !wanted.has(id));
  if (missing.length > 0 || unused.length > 0 || ids.length !== numItems) {
    throw new TeacherImportError(
      'bad-items',
      where,
      `the data set's ${ids.length} items are not the source's ${numItems}: ${missing.length} unknown to the source${missing.length ? ` (first ${JSON.stringify(missing[0])})` : ''}, ${unused.length} of the source's not in the data${unused.length ? ` (first ${JSON.stringify(unused[0])})` : ''}`,
    );
  }
  const table = new Float32Array(teacher.table.length);
  table.set(teacher.table.subarray(0, dim)); // row 0: padding
  ids.forEach((id, j) => {
    const from = row.get(id) as number;
    table.set(teacher.table.subarray(from * dim, (from + 1) * dim), (j + 1) * dim);
  });
  return { ...teacher, table, itemIds: [...ids] };
}

/** The teacher as a model: tensors built in the shapes the encoder has. */
export function teacherModel(teacher: ImportedTeacher): SequentialModel {
  const { config } = teacher;
  const encoder: Record<string, tf.Tensor> = {};
  for (const [name, shape] of encoderWeightShapes(config)) {
    encoder[name] = tf.tensor(teacher.encoder.get(name) as Float32Array, shape, 'float32');
  }
  const items = denseItemTable(tf.tensor2d(teacher.table, [config.numItems + 1, config.dim]));
  return { config, encoder, items };
}
