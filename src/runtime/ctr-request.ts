/**
 * A rank request as a page writes it, raw field values, encoded into the rows a CTR model
 * reads (CtrRows), exactly as the data loaders encode training data: a categorical or
 * multi-valued field's value becomes its id in the package's vocabulary (CtrField.values),
 * a numeric one its bucket. Shared by the worker and Node (no tfjs, no Node APIs).
 *
 *   { context: { user: '12', daytime: 'morning' },      // fields every candidate shares
 *     candidates: [{ item: '1193' }, { item: '661' }] }  // fields each candidate has
 *
 * Every field of the model is given exactly once per candidate: in the context or in the
 * candidate. A value the vocabulary lacks is no error: it is out of vocabulary (id 0), as a
 * value unseen in training was, and the result names such fields. Nor is a field the model
 * does not read: a page sends every field it has, and a model cut down from a larger one
 * (`pocketrec umec` removes whole fields) reads fewer; such a field is left out of the rows
 * and named the same way (in `unknownContext` or the candidate's list). Everything else
 * that does not fit is a RuntimeError naming the field and the candidate: 'bad-field' for
 * a field, 'bad-request' for the request's shape.
 */
import {
  type CtrField,
  type CtrRows,
  type CtrSchema,
  idsPerRow,
  numericBucket,
} from '../model/ctr/schema.ts';
import { RuntimeError } from './errors.ts';

export type CtrScalar = string | number;
/** A field's raw value: a number (numeric), a value (categorical) or a list of them (multi). */
export type CtrValue = CtrScalar | readonly CtrScalar[];
export type CtrFieldValues = Readonly<Record<string, CtrValue>>;

export interface RankInput {
  candidates: readonly CtrFieldValues[];
  context?: CtrFieldValues;
}

export const RANK_LIMITS = {
  /** Candidates per request: 10,000 rows of fields are a few MB through the model. */
  maxCandidates: 10_000,
  /**
   * Fields in the context or in one candidate: fields a model does not read are let through
   * and named in the result, so their number is bounded here, far above any real schema's.
   */
  maxFields: 256,
} as const;

export interface EncodedRank {
  /** One row per candidate, in request order (labels 0). */
  rows: CtrRows;
  /**
   * Context fields whose value the vocabulary lacks (scored out of vocabulary), then those
   * the model does not read (not scored), in the request's order.
   */
  unknownContext: string[];
  /** Per candidate, the same for its own fields. */
  unknownByCandidate: string[][];
}

const show = (v: unknown): string => {
  // JSON would write NaN and Infinity as null.
  const text = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isScalar = (v: unknown): v is CtrScalar =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** Where a value was given, for messages: 'the context' or 'candidate 3'. */
const placeOf = (candidate: number | null): string =>
  candidate === null ? 'the context' : `candidate ${candidate}`;

function badField(field: string, candidate: number | null, problem: string): never {
  throw new RuntimeError('bad-field', `${placeOf(candidate)}: field "${field}" ${problem}`);
}

/**
 * What can be checked without the model: a list of at most RANK_LIMITS.maxCandidates
 * objects, a context object, and values that are strings, finite numbers or lists of them.
 * The client runs it before a request crosses to the worker (a value structured clone
 * cannot copy would otherwise fail there, untyped); the encoder runs it again.
 */
export function checkRankShape(input: unknown): asserts input is RankInput {
  if (!isRecord(input) || !Array.isArray(input.candidates)) {
    throw new RuntimeError('bad-request', 'rank needs { candidates: [...], context?: {...} }');
  }
  const { candidates, context } = input;
  if (candidates.length > RANK_LIMITS.maxCandidates) {
    throw new RuntimeError(
      'bad-request',
      `rank takes at most ${RANK_LIMITS.maxCandidates} candidates, got ${candidates.length}`,
    );
  }
  if (context !== undefined) checkValues(context, null);
  candidates.forEach((candidate, i) => {
    checkValues(candidate, i);
  });
}

function checkValues(values: unknown, candidate: number | null): void {
  if (!isRecord(values)) {
    throw new RuntimeError('bad-request', `${placeOf(candidate)} is not an object of fields`);
  }
  const entries = Object.entries(values);
  if (entries.length > RANK_LIMITS.maxFields) {
    throw new RuntimeError(
      'bad-request',
      `${placeOf(candidate)} has ${entries.length} fields; at most ${RANK_LIMITS.maxFields} are taken`,
    );
  }
  for (const [field, value] of entries) {
    const ok = isScalar(value) || (Array.isArray(value) && value.every(isScalar));
    if (!ok) {
      badField(
        field,
        candidate,
        `is ${show(value)}: a value is a string, a finite number or a list of them`,
      );
    }
  }
}

/** One field's ids for one row, and whether a value was out of vocabulary. */
interface EncodedValue {
  ids: number[];
  unknown: boolean;
}

/** The encoder of one model's fields; built once per model (it indexes the vocabularies). */
export class CtrRequestEncoder {
  private readonly fieldIndex: Map<string, number>;
  private readonly idOf: (Map<string, number> | null)[];

  /** Refuses a schema without vocabularies (a package written before they were packaged). */
  constructor(private readonly schema: CtrSchema) {
    const missing = schema.fields.filter((f) => f.kind !== 'numeric' && !f.values);
    if (missing.length > 0) {
      throw new RuntimeError(
        'bad-request',
        `this CTR package has no vocabulary for ${missing.map((f) => f.name).join(', ')}: it was written before packages carried their raw values, so a request's values cannot be encoded. Write the package again (train or prune) with this version of pocketrec.`,
      );
    }
    this.fieldIndex = new Map(schema.fields.map((f, i) => [f.name, i]));
    this.idOf = schema.fields.map((f) =>
      f.values ? new Map(f.values.map((value, i) => [value, i + 1])) : null,
    );
  }

  /** The rows of a request, or a RuntimeError naming the first field that does not fit. */
  encode(input: unknown): EncodedRank {
    checkRankShape(input);
    const context = input.context ?? {};
    const { candidates } = input;
    this.checkFields(context, candidates);
    const n = candidates.length;
    const unknownContext: string[] = [];
    const unknownByCandidate: string[][] = candidates.map(() => []);
    const ids = this.schema.fields.map((field, f) => {
      const width = idsPerRow(field);
      const out = new Int32Array(n * width);
      const shared = Object.hasOwn(context, field.name);
      const fromContext = shared ? this.value(f, context[field.name], null) : null;
      if (fromContext?.unknown) unknownContext.push(field.name);
      for (let i = 0; i < n; i++) {
        const encoded =
          fromContext ?? this.value(f, (candidates[i] as CtrFieldValues)[field.name], i);
        if (!shared && encoded.unknown) unknownByCandidate[i]?.push(field.name);
        out.fill(-1, i * width, (i + 1) * width);
        out.set(encoded.ids, i * width);
      }
      return out;
    });
    // Fields the model does not read, after those its vocabularies lack.
    unknownContext.push(...this.unread(context));
    candidates.forEach((candidate, i) => {
      unknownByCandidate[i]?.push(...this.unread(candidate));
    });
    return {
      rows: { numRows: n, ids, labels: new Float32Array(n) },
      unknownContext,
      unknownByCandidate,
    };
  }

  /** The fields of `values` the model does not read. */
  private unread(values: CtrFieldValues): string[] {
    return Object.keys(values).filter((field) => !this.fieldIndex.has(field));
  }

  /** No field twice, none of the model's missing (fields it does not read are let through). */
  private checkFields(context: CtrFieldValues, candidates: readonly CtrFieldValues[]): void {
    candidates.forEach((candidate, i) => {
      for (const field of Object.keys(candidate)) {
        if (Object.hasOwn(context, field)) badField(field, i, 'is given in the context too');
      }
      for (const { name } of this.schema.fields) {
        if (!Object.hasOwn(context, name) && !Object.hasOwn(candidate, name)) {
          badField(name, i, 'is missing: give it in the context or in every candidate');
        }
      }
    });
  }

  /** A value's ids by its field's kind; a value of the wrong type is 'bad-field'. */
  private value(f: number, value: CtrValue | undefined, candidate: number | null): EncodedValue {
    const field = this.schema.fields[f] as CtrField;
    const wrong = (expected: string): never =>
      badField(field.name, candidate, `is ${show(value)}, but it is ${field.kind}: ${expected}`);
    switch (field.kind) {
      case 'numeric':
        if (typeof value !== 'number') return wrong('give a finite number');
        return { ids: [numericBucket(value, field.boundaries ?? [])], unknown: false };
      case 'categorical':
        if (!isScalar(value)) return wrong('give one string or number');
        return this.lookUp(f, [value]);
      case 'multi': {
        const width = idsPerRow(field);
        if (!Array.isArray(value)) return wrong(`give a list of at most ${width} values`);
        if (value.length > width) return wrong(`give a list of at most ${width} values`);
        // A row without values pools the out-of-vocabulary row, as in training.
        return value.length === 0 ? { ids: [0], unknown: false } : this.lookUp(f, value);
      }
    }
  }

  private lookUp(f: number, values: readonly CtrScalar[]): EncodedValue {
    const vocabulary = this.idOf[f] as Map<string, number>;
    let unknown = false;
    const ids = values.map((v) => {
      const id = vocabulary.get(String(v)) ?? 0;
      if (id === 0) unknown = true;
      return id;
    });
    return { ids, unknown };
  }
}
