import { DataFormatError } from '../errors.ts';
import { type Position, parseNonNegative, quote, splitWhitespace } from './fields.ts';
import type { FeatureMap } from './frappe.ts';
import { GrowableInt32Array } from './growable.ts';
import { readDataLines } from './lines.ts';

/** One libfm/libsvm row: `label idx:val idx:val …`. */
export interface LibfmRow {
  /** 1 for a click/positive (`1`, `+1`), 0 for a negative (`-1`, `0`). */
  readonly label: 0 | 1;
  readonly indices: Int32Array;
  readonly values: Float32Array;
  readonly line: number;
}

/**
 * A one-hot CTR file in memory: every row has `numFields` active features with value 1,
 * stored as their indices, row-major.
 */
export interface LibfmData {
  readonly numRows: number;
  readonly numFields: number;
  readonly labels: Uint8Array;
  /** `features[row * numFields + field]` is the active feature index of that field. */
  readonly features: Int32Array;
  /** Largest feature index in the file; a model needs at least this + 1 embeddings. */
  readonly maxFeatureIndex: number;
}

export interface LoadLibfmOptions {
  /**
   * When given, feature k of every row must belong to field k of the map (the NFM/AFN
   * layout). A row that breaks this would train the wrong field's embedding.
   */
  readonly featureMap?: FeatureMap;
}

export async function* readLibfm(file: string): AsyncGenerator<LibfmRow> {
  for await (const { text, number } of readDataLines(file)) {
    const at = { file, line: number };
    const tokens = splitWhitespace(text);
    const label = parseLabel(tokens[0] as string, at);
    const indices = new Int32Array(tokens.length - 1);
    const values = new Float32Array(tokens.length - 1);
    for (let i = 1; i < tokens.length; i++) {
      const token = tokens[i] as string;
      const colon = token.indexOf(':');
      if (colon === -1) {
        throw new DataFormatError(
          file,
          number,
          `feature ${quote(token)} has no ':' (expected index:value)`,
        );
      }
      indices[i - 1] = parseNonNegative(token.slice(0, colon), 'feature index', at);
      values[i - 1] = parseValue(token.slice(colon + 1), at);
    }
    yield { label, indices, values, line: number };
  }
}

/**
 * Loads a one-hot libfm file. Every row must have as many features as the first row and
 * every value must be 1, since the result keeps indices only.
 */
export async function loadLibfm(file: string, options: LoadLibfmOptions = {}): Promise<LibfmData> {
  const labels: number[] = [];
  const features = new GrowableInt32Array(64 * 1024);
  const featureMap = options.featureMap;
  let numFields = -1;
  let maxFeatureIndex = -1;
  for await (const row of readLibfm(file)) {
    if (numFields === -1) {
      if (row.indices.length === 0) {
        throw new DataFormatError(file, row.line, 'row has no features');
      }
      numFields = row.indices.length;
    } else if (row.indices.length !== numFields) {
      throw new DataFormatError(
        file,
        row.line,
        `expected ${numFields} features (as on the first row), found ${row.indices.length}`,
      );
    }
    for (let field = 0; field < numFields; field++) {
      const index = row.indices[field] as number;
      if (row.values[field] !== 1) {
        throw new DataFormatError(
          file,
          row.line,
          `feature ${index} has value ${row.values[field]}; only one-hot rows (value 1) are supported`,
        );
      }
      if (featureMap !== undefined) checkField(featureMap, index, field, file, row.line);
      if (index > maxFeatureIndex) maxFeatureIndex = index;
      features.push(index);
    }
    labels.push(row.label);
  }
  if (numFields === -1) throw new DataFormatError(file, 1, 'file has no rows');
  return {
    numRows: labels.length,
    numFields,
    labels: Uint8Array.from(labels),
    features: features.toArray(),
    maxFeatureIndex,
  };
}

function checkField(
  map: FeatureMap,
  index: number,
  field: number,
  file: string,
  line: number,
): void {
  const expected = map.fields[field];
  if (expected === undefined) {
    throw new DataFormatError(
      file,
      line,
      `row has more features than the ${map.fields.length} fields of the feature map`,
    );
  }
  if (index >= map.numFeatures) {
    throw new DataFormatError(
      file,
      line,
      `feature ${index} is not in the feature map (0..${map.numFeatures - 1})`,
    );
  }
  if (index < expected.start || index >= expected.end) {
    const actual = map.fields[map.fieldOf[index] as number];
    throw new DataFormatError(
      file,
      line,
      `feature ${index} at position ${field + 1} belongs to field '${actual?.name}', expected '${expected.name}'`,
    );
  }
}

function parseLabel(token: string, at: Position): 0 | 1 {
  switch (token) {
    case '1':
    case '+1':
      return 1;
    case '0':
    case '-1':
      return 0;
    default:
      throw new DataFormatError(
        at.file,
        at.line,
        `bad label ${quote(token)}; expected 1/-1 or 1/0`,
      );
  }
}

function parseValue(token: string, at: Position): number {
  // Number('') is 0, so an empty value has to be caught before converting.
  const value = token.length === 0 ? Number.NaN : Number(token);
  if (!Number.isFinite(value)) {
    throw new DataFormatError(at.file, at.line, `feature value ${quote(token)} is not a number`);
  }
  return value;
}
