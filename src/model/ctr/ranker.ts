/**
 * A ranker: a CTR package (ctr-dense or ctr-pruned) that re-ranks a next-item model's
 * candidates on the device, with features that never leave it: the shopper's local context
 * (hour, weekday, device, locale: what the page knows) and each candidate's item fields
 * (category, brand, price tier, ...: what the package carries). Two stages, one request:
 * the next-item model proposes its top `candidates` items, the ranker scores each in the
 * given context, and the final order is by
 *
 *   retrieval score + weight × logit(ranker's click probability)
 *
 * a product of experts: trained on impressions whose non-clicked items were drawn without
 * regard to context, the ranker's logit estimates how much more likely an item is in this
 * context than overall, which is what the history-only score lacks. `weight` is fitted on
 * validation shoppers against one retrieval model (`pocketrec ranker`).
 *
 * Stored as `ranker.json`, named by `architecture.ranker` and hashed like every file:
 *
 *   { "candidates": 50, "weight": 0.9,
 *     "contextFields": ["hour", "weekday", "device", "locale"],
 *     "itemIdField": "item",                    // the field holding the item's own id, or null
 *     "itemFields": ["category", "brand", ...],  // fields read from the table below
 *     "items": ["p0001", ...],                   // external item ids
 *     "itemCodes": { "category": [3, 3, 1, ...], ... } }  // per item, its id in the field's vocabulary
 *
 * Every field of the model is exactly one of these, and all are categorical: a page sends
 * raw context values, the item side is looked up. Pure functions over the schema (no tfjs,
 * no Node): the worker and `pocketrec eval` build the same rows and fuse the same way.
 */
import { ModelPackageError } from '../../package/errors.ts';
import { type Manifest, parseStrictJson } from '../../package/manifest.ts';
import type { ModelPackage } from '../../package/reader.ts';
import type { PackageSpec } from '../../package/writer.ts';
import type { CtrRows, CtrSchema } from './schema.ts';

export const RANKER_FILE = 'ranker.json';
/** The architecture key naming the ranker file. */
export const RANKER_KEY = 'ranker';

export const RANKER_LIMITS = {
  /** Candidates retrieval may propose: every one costs 1 + contextFields rows of the ranker. */
  maxCandidates: 1000,
  /** Items of the table: the id cap of every package. */
  maxItems: 10_000_000,
} as const;

export interface RankerSpec {
  /** How many items retrieval proposes for the ranker. */
  candidates: number;
  /** Final score = retrieval score + weight × ranker logit. */
  weight: number;
  /** Fields the page's context fills, by name. */
  contextFields: string[];
  /** The field that holds the item's own external id, or null when the model has none. */
  itemIdField: string | null;
  /** Fields read per item from `itemCodes`. */
  itemFields: string[];
  /** External item ids the table covers. */
  items: string[];
  /** Per item field, each item's id in that field's vocabulary (0: unknown), as `items`. */
  itemCodes: Record<string, number[]>;
}

/** The bytes of `ranker.json`. */
export function encodeRankerFile(ranker: RankerSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(ranker));
}

/** `spec` (a CTR package's) with the ranker file and the architecture key naming it. */
export function withRanker(spec: PackageSpec, ranker: RankerSpec): PackageSpec {
  const attachments = new Map(spec.attachments ?? []);
  attachments.set(RANKER_FILE, encodeRankerFile(ranker));
  return {
    ...spec,
    architecture: { ...spec.architecture, [RANKER_KEY]: RANKER_FILE },
    attachments,
  };
}

/** Whether the manifest says it is a ranker (its file is checked by readRanker). */
export function isRanker(manifest: Manifest): boolean {
  return manifest.architecture[RANKER_KEY] !== undefined;
}

/**
 * The package's ranker, checked against the model's schema (with its vocabularies); null
 * when the package is not one. Anything that does not fit is ModelPackageError('bad-shape').
 */
export function readRanker(pkg: ModelPackage, schema: CtrSchema): RankerSpec | null {
  const { manifest } = pkg;
  const path = manifest.architecture[RANKER_KEY];
  if (path === undefined) return null;
  const fail = (problem: string): never => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
  const listed = manifest.files.some((f) => f.path === path);
  if (typeof path !== 'string' || !listed || manifest.tensors.some((t) => t.file === path)) {
    return fail(
      `architecture.${RANKER_KEY} must name a file of the package that holds no tensor, got ${JSON.stringify(path)}`,
    );
  }
  const bytes = pkg.attachments?.get(path);
  if (!bytes) return fail(`the ranker file "${path}" was not read`);
  const parsed = parseStrictJson(bytes);
  if (typeof parsed === 'string') return fail(`${path}: ${parsed}`);
  return checkRanker(parsed.json, schema, (problem) => fail(`${path}: ${problem}`));
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The ranker file's content, every part checked against the schema. */
export function checkRanker(
  json: unknown,
  schema: CtrSchema,
  fail: (problem: string) => never,
): RankerSpec {
  if (!isRecord(json)) return fail('must hold one object');
  const { candidates, weight, contextFields, itemIdField, itemFields, items, itemCodes } = json;
  if (
    typeof candidates !== 'number' ||
    !Number.isInteger(candidates) ||
    candidates < 1 ||
    candidates > RANKER_LIMITS.maxCandidates
  ) {
    fail(`"candidates" must be an integer from 1 to ${RANKER_LIMITS.maxCandidates}`);
  }
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    fail('"weight" must be a finite number >= 0');
  }
  if (!isStringList(contextFields)) return fail('"contextFields" must be a list of field names');
  if (!isStringList(itemFields)) return fail('"itemFields" must be a list of field names');
  if (itemIdField !== null && typeof itemIdField !== 'string') {
    return fail('"itemIdField" must be a field name or null');
  }
  if (!isStringList(items) || items.length > RANKER_LIMITS.maxItems) {
    return fail(`"items" must be a list of at most ${RANKER_LIMITS.maxItems} item ids`);
  }
  if (new Set(items).size !== items.length) fail('"items" lists an item twice');
  const named = [...contextFields, ...(itemIdField === null ? [] : [itemIdField]), ...itemFields];
  const fieldOf = new Map(schema.fields.map((f) => [f.name, f]));
  const seen = new Set<string>();
  for (const name of named) {
    const field = fieldOf.get(name);
    if (!field) fail(`field "${name}" is not a field of the model`);
    else if (field.kind !== 'categorical') {
      fail(`field "${name}" is ${field.kind}; a ranker reads categorical fields only`);
    }
    if (seen.has(name)) fail(`field "${name}" is named twice`);
    seen.add(name);
  }
  const unnamed = schema.fields.find((f) => !seen.has(f.name));
  if (unnamed) fail(`field "${unnamed.name}" of the model is neither a context nor an item field`);
  if (!isRecord(itemCodes)) return fail('"itemCodes" must be an object of field names to lists');
  const codes: Record<string, number[]> = {};
  for (const name of itemFields) {
    const list = itemCodes[name];
    const size = fieldOf.get(name)?.vocabularySize ?? 0;
    if (!Array.isArray(list) || list.length !== items.length) {
      return fail(`"itemCodes.${name}" must list one id per item (${items.length})`);
    }
    const bad = list.findIndex((c) => !Number.isInteger(c) || c < 0 || c >= size);
    if (bad >= 0) {
      fail(`"itemCodes.${name}" gives item ${items[bad]} id ${list[bad]}, outside 0..${size - 1}`);
    }
    codes[name] = list as number[];
  }
  const stray = Object.keys(itemCodes).find((name) => !itemFields.includes(name));
  if (stray !== undefined) fail(`"itemCodes" has "${stray}", which is not an item field`);
  return {
    candidates: candidates as number,
    weight: weight as number,
    contextFields,
    itemIdField,
    itemFields,
    items,
    itemCodes: codes,
  };
}

/**
 * The item side of a ranker's rows for one retrieval model: per field of the schema, the
 * id of each retrieval row's value (index 0 unused), or null for a context field. Rows the
 * table does not list get 0, the unknown value, in every item field.
 */
export interface RankerItemTable {
  readonly columns: (Int32Array | null)[];
  /** Retrieval rows the ranker knows nothing of (not in its table). */
  readonly unknownRows: number;
}

/**
 * `retrievalIds[r - 1]` is the external id of retrieval row r (null: the rows are their
 * own ids, "1".."numItems", as a package without an id map has them).
 */
export function rankerItemTable(
  ranker: RankerSpec,
  schema: CtrSchema,
  retrievalIds: readonly string[] | null,
  numItems: number,
): RankerItemTable {
  const position = new Map(ranker.items.map((id, i) => [id, i]));
  const idOfRow = (row: number) => (retrievalIds ? (retrievalIds[row - 1] as string) : String(row));
  const at = new Int32Array(numItems + 1).fill(-1);
  let unknownRows = 0;
  for (let row = 1; row <= numItems; row++) {
    const p = position.get(idOfRow(row));
    if (p === undefined) unknownRows++;
    else at[row] = p;
  }
  const columns = schema.fields.map((field) => {
    if (field.name === ranker.itemIdField) {
      const vocabulary = new Map((field.values ?? []).map((value, i) => [value, i + 1]));
      return Int32Array.from({ length: numItems + 1 }, (_, row) =>
        row === 0 ? 0 : (vocabulary.get(idOfRow(row)) ?? 0),
      );
    }
    const codes = ranker.itemCodes[field.name];
    if (!codes) return null;
    return Int32Array.from(at, (p) => (p < 0 ? 0 : (codes[p] as number)));
  });
  return { columns, unknownRows };
}

/** Raw context values encoded with the model's vocabularies. */
export interface RankerContext {
  /** Per field of the schema, the context's id (0: unknown or not given); unused for item fields. */
  ids: Int32Array;
  /** Context fields given a value the model never saw, then those not given at all. */
  unknown: string[];
  /** Fields given that the ranker does not read. */
  unread: string[];
}

export function encodeRankerContext(
  ranker: RankerSpec,
  schema: CtrSchema,
  context: Readonly<Record<string, string | number>>,
): RankerContext {
  const ids = new Int32Array(schema.fields.length);
  const unknown: string[] = [];
  const missing: string[] = [];
  schema.fields.forEach((field, f) => {
    if (!ranker.contextFields.includes(field.name)) return;
    if (!Object.hasOwn(context, field.name)) {
      missing.push(field.name);
      return;
    }
    const value = String(context[field.name]);
    const id = (field.values ?? []).indexOf(value) + 1;
    if (id === 0) unknown.push(field.name);
    ids[f] = id;
  });
  const unread = Object.keys(context).filter((name) => !ranker.contextFields.includes(name));
  return { ids, unknown: [...unknown, ...missing], unread };
}

/**
 * The ranker's rows for `candidates` (retrieval rows): block 0 in the full context, then,
 * with `attribution`, one block per context field with that field alone made unknown, so
 * that each field's part in a candidate's score can be read off (twoStageOrder).
 */
export function twoStageRows(
  ranker: RankerSpec,
  schema: CtrSchema,
  table: RankerItemTable,
  context: RankerContext,
  candidates: Int32Array,
  attribution: boolean,
): CtrRows {
  const contextFields = schema.fields.flatMap((f, i) =>
    ranker.contextFields.includes(f.name) ? [i] : [],
  );
  const blocks = attribution ? 1 + contextFields.length : 1;
  const n = candidates.length;
  const ids = schema.fields.map((_, f) => {
    const out = new Int32Array(blocks * n);
    const column = table.columns[f];
    for (let b = 0; b < blocks; b++) {
      for (let i = 0; i < n; i++) {
        const row = candidates[i] as number;
        out[b * n + i] = column
          ? (column[row] as number)
          : b > 0 && contextFields[b - 1] === f
            ? 0
            : (context.ids[f] as number);
      }
    }
    return out;
  });
  return { numRows: blocks * n, ids, labels: new Float32Array(blocks * n) };
}

/** log(p / (1 - p)), with p kept off 0 and 1 so a saturated probability stays finite. */
export function logit(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
}

export interface TwoStageItem {
  /** The retrieval row. */
  row: number;
  /** retrievalScore + weight × rankerLogit. */
  score: number;
  retrievalScore: number;
  rankerLogit: number;
  /** 0-based place in retrieval's order, and in the final one. */
  retrievalRank: number;
  rank: number;
  /**
   * The context field whose value moved this item's final score most (weight × the logit
   * with it less the logit with it unknown), or null without attribution or context.
   */
  context: { field: string; effect: number } | null;
}

/**
 * The final order of `candidates` (retrieval rows, best first, with their retrieval
 * scores), given the ranker's probabilities for twoStageRows' rows: every candidate, best
 * first; ties keep retrieval's order.
 */
export function twoStageOrder(
  ranker: RankerSpec,
  schema: CtrSchema,
  candidates: Int32Array,
  retrievalScores: Float32Array,
  probabilities: Float32Array,
): TwoStageItem[] {
  const n = candidates.length;
  const contextNames = schema.fields
    .map((f) => f.name)
    .filter((name) => ranker.contextFields.includes(name));
  const attributed = probabilities.length > n;
  const items: TwoStageItem[] = Array.from(candidates, (row, i) => {
    const rankerLogit = logit(probabilities[i] as number);
    let context: TwoStageItem['context'] = null;
    if (attributed) {
      contextNames.forEach((field, c) => {
        const without = logit(probabilities[(c + 1) * n + i] as number);
        const effect = ranker.weight * (rankerLogit - without);
        if (context === null || Math.abs(effect) > Math.abs(context.effect)) {
          context = { field, effect };
        }
      });
    }
    const retrievalScore = retrievalScores[i] as number;
    return {
      row,
      score: retrievalScore + ranker.weight * rankerLogit,
      retrievalScore,
      rankerLogit,
      retrievalRank: i,
      rank: 0,
      context,
    };
  });
  items.sort((a, b) => b.score - a.score || a.retrievalRank - b.retrievalRank);
  items.forEach((item, rank) => {
    item.rank = rank;
  });
  return items;
}
