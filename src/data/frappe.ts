import { DataFormatError } from '../errors.ts';
import { expectFieldCount, parseNonNegative } from './fields.ts';
import { GrowableInt32Array } from './growable.ts';
import { readDataLines } from './lines.ts';

/** A contiguous block of feature indices that encode one categorical field. */
export interface FieldRange {
  readonly name: string;
  /** First feature index of the field. */
  readonly start: number;
  /** One past the last feature index. */
  readonly end: number;
}

/** `frappe.libfm_feature_map.tsv`: what each libfm feature index means. */
export interface FeatureMap {
  readonly numFeatures: number;
  /** Fields in the order their features appear in a libfm row. */
  readonly fields: readonly FieldRange[];
  /** `fieldOf[feature]` is an index into `fields`. */
  readonly fieldOf: Int32Array;
  /** `values[feature]` is the raw frappe.csv value the feature stands for. */
  readonly values: readonly string[];
}

/** One row of the original frappe.csv log. */
export interface FrappeLogRow {
  readonly user: number;
  readonly item: number;
  /** How many times the user used the app in that context. */
  readonly cnt: number;
  readonly daytime: string;
  readonly weekday: string;
  readonly isweekend: string;
  readonly homework: string;
  readonly cost: string;
  readonly weather: string;
  readonly country: string;
  /** A city code, categorical even though it looks numeric. */
  readonly city: string;
}

export const FEATURE_MAP_HEADER = 'feature_index\tfield\tvalue';

/** frappe.csv's columns, in file order. */
const FRAPPE_COLUMNS = [
  'user',
  'item',
  'cnt',
  'daytime',
  'weekday',
  'isweekend',
  'homework',
  'cost',
  'weather',
  'country',
  'city',
] as const;

/** One string per name, as a tuple, so a split row can be destructured without `as string`. */
type StringPerName<Names extends readonly string[]> = { -readonly [K in keyof Names]: string };
type FrappeColumns = StringPerName<typeof FRAPPE_COLUMNS>;

export const FRAPPE_LOG_HEADER = FRAPPE_COLUMNS.join('\t');

/**
 * Loads the feature map. Indices must run 0, 1, 2, … and each field's features must be one
 * contiguous block, which is what lets a field be described by a [start, end) range.
 */
export async function loadFeatureMap(file: string): Promise<FeatureMap> {
  const fields: FieldRange[] = [];
  const fieldOf = new GrowableInt32Array(8 * 1024);
  const values: string[] = [];
  let currentName: string | undefined;
  let currentStart = 0;
  for await (const { text, number } of readDataLines(file, { header: FEATURE_MAP_HEADER })) {
    const at = { file, line: number };
    const columns = text.split('\t');
    expectFieldCount(columns, 3, 'feature_index, field, value separated by tabs', at);
    const index = parseNonNegative(columns[0] as string, 'feature index', at);
    if (index !== values.length) {
      throw new DataFormatError(
        file,
        number,
        `feature index ${index} out of order; expected ${values.length}`,
      );
    }
    const name = columns[1] as string;
    if (name.length === 0) throw new DataFormatError(file, number, 'empty field name');
    if (name !== currentName) {
      if (currentName !== undefined)
        fields.push({ name: currentName, start: currentStart, end: index });
      if (fields.some((field) => field.name === name)) {
        throw new DataFormatError(
          file,
          number,
          `field '${name}' resumes after another field; its features must be contiguous`,
        );
      }
      currentName = name;
      currentStart = index;
    }
    fieldOf.push(fields.length);
    values.push(columns[2] as string);
  }
  if (currentName === undefined) throw new DataFormatError(file, 2, 'feature map has no features');
  fields.push({ name: currentName, start: currentStart, end: values.length });
  return { numFeatures: values.length, fields, fieldOf: fieldOf.toArray(), values };
}

/** frappe.csv: tab-separated with a header; country names contain spaces, so never split on them. */
export async function* readFrappeLog(file: string): AsyncGenerator<FrappeLogRow> {
  for await (const { text, number } of readDataLines(file, { header: FRAPPE_LOG_HEADER })) {
    const at = { file, line: number };
    const columns = text.split('\t');
    expectFieldCount(columns, FRAPPE_COLUMNS.length, 'the tab-separated columns of the header', at);
    const [user, item, cnt, daytime, weekday, isweekend, homework, cost, weather, country, city] =
      columns as FrappeColumns;
    yield {
      user: parseNonNegative(user, 'user', at),
      item: parseNonNegative(item, 'item', at),
      cnt: parseNonNegative(cnt, 'cnt', at),
      daytime,
      weekday,
      isweekend,
      homework,
      cost,
      weather,
      country,
      city,
    };
  }
}
