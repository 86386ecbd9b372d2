/**
 * A CTR package's vocabularies: per categorical or multi-valued field, the raw value of
 * each id (CtrField.values), so a client holding raw values (a browser page) encodes a row
 * exactly as training did. Stored as `vocabulary.json` listed in the manifest's `files`
 * (hashed like any file; the manifest would not hold ML-1M's 13,000 values under its cap)
 * and named by `architecture.vocabulary`:
 *
 *   { "<field name>": ["<value of id 1>", "<value of id 2>", …], … }
 *
 * one key per categorical or multi-valued field, none for numeric fields (their
 * boundaries are in the architecture). A package without the key predates vocabularies: it
 * still scores encoded rows in Node, but a browser cannot encode a request for it.
 */
import { PocketrecError } from '../../errors.ts';
import { ModelPackageError } from '../../package/errors.ts';
import { type Manifest, parseStrictJson } from '../../package/manifest.ts';
import type { ModelPackage } from '../../package/reader.ts';
import type { CtrField, CtrSchema } from './schema.ts';

export const VOCABULARY_FILE = 'vocabulary.json';
/** The architecture key naming the vocabulary file. */
export const VOCABULARY_KEY = 'vocabulary';

/** Whether a field's ids stand for raw values (the others are numeric buckets). */
export function hasVocabulary(field: CtrField): boolean {
  return field.kind !== 'numeric';
}

/** The fields that lack their values: every one for a package written before vocabularies. */
export function fieldsWithoutValues(schema: CtrSchema): string[] {
  return schema.fields.filter((f) => hasVocabulary(f) && f.values === undefined).map((f) => f.name);
}

/** What is wrong with a field's values, or null: vocabularySize - 1 distinct strings. */
function valuesProblem(field: CtrField, values: unknown): string | null {
  const what = `field ${JSON.stringify(field.name)}`;
  if (!Array.isArray(values)) return `${what}: its values are not a list`;
  if (values.length !== field.vocabularySize - 1) {
    return `${what} has ${values.length} values for ${field.vocabularySize - 1} ids (vocabularySize ${field.vocabularySize} less the out-of-vocabulary id 0)`;
  }
  const seen = new Set<string>();
  for (const [i, value] of values.entries()) {
    if (typeof value !== 'string') return `${what}: value of id ${i + 1} is not a string`;
    if (seen.has(value)) return `${what}: value ${JSON.stringify(value)} is listed twice`;
    seen.add(value);
  }
  return null;
}

/**
 * The bytes of `vocabulary.json` for a schema whose categorical and multi-valued fields all
 * carry values; null when none does (a schema built without a data loader). Values for
 * some fields only, or values that would not read back, are refused here rather than
 * written into a package a browser could not use.
 */
export function encodeVocabulary(schema: CtrSchema): Uint8Array | null {
  const fields = schema.fields.filter(hasVocabulary);
  const missing = fieldsWithoutValues(schema);
  if (missing.length === fields.length) return null;
  const refuse = (problem: string): never => {
    throw new PocketrecError('bad-vocabulary', `cannot package the vocabulary: ${problem}`);
  };
  if (missing.length > 0) refuse(`fields ${missing.join(', ')} have no values`);
  const out: Record<string, readonly string[]> = {};
  for (const field of fields) {
    const problem = valuesProblem(field, field.values);
    if (problem) refuse(problem);
    out[field.name] = field.values as readonly string[];
  }
  return new TextEncoder().encode(JSON.stringify(out));
}

/**
 * The schema with each field's values from the package's vocabulary file, checked (a JSON
 * object with exactly one list per categorical or multi-valued field, vocabularySize - 1
 * distinct strings each); the schema as it is when the package has none. A bad vocabulary
 * is ModelPackageError('bad-shape'), as the other structure checks.
 */
export function withPackagedVocabulary(pkg: ModelPackage, schema: CtrSchema): CtrSchema {
  const { manifest } = pkg;
  const path = vocabularyPath(manifest);
  if (path === null) return schema;
  const fail = (problem: string): never => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
  const bytes = pkg.attachments?.get(path);
  if (!bytes) return fail(`the vocabulary file "${path}" was not read`);
  const parsed = parseVocabulary(bytes, path, fail);
  const names = new Set(schema.fields.filter(hasVocabulary).map((f) => f.name));
  const stray = Object.keys(parsed).find((name) => !names.has(name));
  if (stray !== undefined) fail(`${path} lists ${JSON.stringify(stray)}, not a field with values`);
  const fields = schema.fields.map((field) => {
    if (!hasVocabulary(field)) return field;
    const values: unknown = parsed[field.name];
    if (values === undefined) return fail(`${path} has no values for field "${field.name}"`);
    const problem = valuesProblem(field, values);
    if (problem) fail(`${path}: ${problem}`);
    return { ...field, values: values as string[] };
  });
  return { fields };
}

/** The vocabulary file the manifest names (a file it lists), or null when it names none. */
export function vocabularyPath(manifest: Manifest): string | null {
  const path = manifest.architecture[VOCABULARY_KEY];
  if (path === undefined) return null;
  const listed = manifest.files.some((f) => f.path === path);
  const holdsTensors = manifest.tensors.some((t) => t.file === path);
  if (typeof path !== 'string' || !listed || holdsTensors) {
    throw new ModelPackageError(
      'bad-shape',
      manifest.name,
      `${manifest.kind}: architecture.${VOCABULARY_KEY} must name a file of the package that holds no tensor, got ${JSON.stringify(path)}`,
    );
  }
  return path;
}

function parseVocabulary(
  bytes: Uint8Array,
  path: string,
  fail: (problem: string) => never,
): Record<string, unknown> {
  const parsed = parseStrictJson(bytes);
  if (typeof parsed === 'string') return fail(`${path}: ${parsed}`);
  const { json } = parsed;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(`${path} must hold one object of field names to value lists`);
  }
  return json as Record<string, unknown>;
}
