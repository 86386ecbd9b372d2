/**
 * The structure a CTR package (`ctr-dense`) must have, checked on the manifest alone: no
 * weight is read, and nothing is allocated or looped over in proportion to a number the
 * manifest merely states. The schema's lists are data of the manifest itself (bounded by its
 * 1 MiB), and every count and size in them is tied to tensors that are present, and so to
 * bytes that were hashed: the vocabulary sizes to the embedding table's rows, `dim` to its
 * width, the MLP's length and widths to the `mlp.<i>.kernel` tensors, DCNv2's cross layers
 * and experts to the cross tensors found (DLRM's interaction sizes only the first MLP
 * kernel's rows, which the shape comparison checks). Only then is the list of expected tensors built
 * and compared, shape by shape, with the manifest's.
 *
 * Architecture keys (written by ctrPackageSpec, package.ts):
 *   model                     'fm' | 'deepfm' | 'dcnv2' | 'dlrm'
 *   dim                       embedding width of every field
 *   mlp, norm, dropout        deepfm, dcnv2 and dlrm: hidden widths, 'batch' | 'layer' | 'none', rate
 *   crossLayers, cross,       dcnv2: layer count, 'full' | 'mixture',
 *   crossRank, crossExperts   the mixture's rank and experts (mixture only),
 *   structure                 'parallel' | 'stacked'
 *   interaction               dlrm: 'dot' | 'cat'
 *   fieldNames, fieldKinds,   the schema, one entry per field in schema order
 *   vocabularySizes, maxValues  (maxValues 1 for a single-valued field),
 *   boundaryCounts,           how many boundaries each field has (0 unless numeric),
 *   boundaries                every numeric field's boundaries, one flat list in field order
 *
 * `pocketrec verify` runs this; ctrFromPackage runs it before it builds a tensor.
 */
import { ModelPackageError } from '../../package/errors.ts';
import type { Manifest, TensorEntry } from '../../package/manifest.ts';
import { checkWeightEntry } from '../weight-entry.ts';
import { type CrossKind, type Dcnv2Config, dcnv2WeightShapes } from './dcnv2.ts';
import { deepFmWeightShapes } from './deepfm.ts';
import { DLRM_INTERACTIONS, dlrmWeightShapes } from './dlrm.ts';
import { fmWeightShapes } from './fm.ts';
import { type MlpConfig, NORMS } from './layers.ts';
import { CTR_MODEL_KINDS, type CtrArchitecture } from './model.ts';
import type { CtrField, CtrFieldKind, CtrSchema } from './schema.ts';

/**
 * Package kinds holding a CTR model with a dense `embedding` tensor. `ctr-pruned` stores the
 * table as sparse tensors and checks them itself (pruned-package.ts), through ctrStructureOf.
 */
export const CTR_PACKAGE_KINDS = ['ctr-dense'] as const;
export type CtrPackageKind = (typeof CTR_PACKAGE_KINDS)[number];

export const CTR_FIELD_KINDS: readonly CtrFieldKind[] = ['categorical', 'multi', 'numeric'];
const CROSS_KINDS: readonly CrossKind['kind'][] = ['full', 'mixture'];
const DCN_STRUCTURES: readonly Dcnv2Config['structure'][] = ['parallel', 'stacked'];

/** What a CTR package holds: the model kind with its configuration, and the schema. */
export type CtrStructure = CtrArchitecture & { schema: CtrSchema };

/** The table every model looks fields up in (field-embedding.ts). */
export const CTR_EMBEDDING = 'embedding';

export function isCtrPackageKind(kind: string): kind is CtrPackageKind {
  return (CTR_PACKAGE_KINDS as readonly string[]).includes(kind);
}

/** Every weight of the model with its shape, in the order the model's shape list gives. */
export function ctrWeightShapes(structure: CtrStructure): [string, number[]][] {
  switch (structure.kind) {
    case 'fm':
      return fmWeightShapes(structure.config, structure.schema);
    case 'deepfm':
      return deepFmWeightShapes(structure.config, structure.schema);
    case 'dcnv2':
      return dcnv2WeightShapes(structure.config, structure.schema);
    case 'dlrm':
      return dlrmWeightShapes(structure.config, structure.schema);
  }
}

type Fail = (problem: string) => never;

/** Checks the manifest against the model it describes; a ModelPackageError('bad-shape') names the first mismatch. */
export function checkCtrStructure(manifest: Manifest): CtrStructure {
  if (!isCtrPackageKind(manifest.kind)) {
    throw new ModelPackageError(
      'bad-manifest',
      manifest.name,
      `kind "${manifest.kind}" is not a CTR model this reader knows`,
    );
  }
  // The embedding table fixes the rows and the width that the schema and dim must match.
  const table = manifest.tensors.find((t) => t.name === CTR_EMBEDDING);
  const fail = structureFailure(manifest);
  if (!table) return fail(`tensor "${CTR_EMBEDDING}" is missing`);
  const [rows, width] = table.shape;
  if (table.shape.length !== 2 || rows === undefined || width === undefined) {
    return fail(`tensor "${CTR_EMBEDDING}" has shape [${table.shape}], expected [rows, dim]`);
  }
  return ctrStructureOf(manifest, rows, { dim: width });
}

/**
 * How the field embedding table [rows, dim] is stored: as the dense tensor `embedding` of
 * width `dim`, or as other tensors (a pruned package's sparse ones) that the caller has tied
 * `rows` to and checks itself; `embedding` must then be absent and `dim` is the architecture's.
 */
export type CtrTableStorage = { dim: number } | { tensors: ReadonlySet<string> };

/**
 * The model a CTR manifest describes, its schema tied to a table of `rows` rows: the body of
 * checkCtrStructure for any kind that stores the table (see CtrTableStorage). The caller
 * checks the kind.
 */
export function ctrStructureOf(
  manifest: Manifest,
  rows: number,
  table: CtrTableStorage,
): CtrStructure {
  const fail = structureFailure(manifest);
  const arch = new ArchitectureReader(manifest.architecture, fail);
  const model = manifest.architecture.model;
  const kind = CTR_MODEL_KINDS.find((k) => k === model);
  if (kind === undefined) {
    throw new ModelPackageError(
      'bad-manifest',
      manifest.name,
      `${manifest.kind}: architecture.model ${show(model)} is not one of ${CTR_MODEL_KINDS.join(', ')}`,
    );
  }
  const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
  const schema = schemaOf(arch, rows, fail);
  const dim = arch.int('dim', 1);
  if ('dim' in table && dim !== table.dim) {
    fail(`architecture.dim is ${dim}, but tensor "${CTR_EMBEDDING}" is ${table.dim} wide`);
  }

  let structure: CtrStructure;
  if (kind === 'fm') structure = { kind, config: { dim }, schema };
  else {
    const tower = mlpOf(arch, manifest.tensors, entries, fail);
    if (kind === 'deepfm') structure = { kind, config: { dim, ...tower }, schema };
    else if (kind === 'dlrm') {
      const interaction = arch.oneOf('interaction', DLRM_INTERACTIONS);
      structure = { kind, config: { dim, interaction, ...tower }, schema };
    } else
      structure = {
        kind,
        config: { dim, ...tower, ...crossOf(arch, manifest.tensors, fail) },
        schema,
      };
  }

  const storedApart = 'tensors' in table ? table.tensors : null;
  for (const name of storedApart ?? []) entries.delete(name);
  for (const [name, shape] of ctrWeightShapes(structure)) {
    if (name === CTR_EMBEDDING && storedApart) continue;
    const entry = entries.get(name);
    if (!entry) return fail(`tensor "${name}" is missing`);
    checkWeightEntry(entry, shape, fail);
    entries.delete(name);
  }
  const extra = [...entries.keys()];
  if (extra.length > 0) {
    fail(`tensor "${extra[0]}" is not part of this model (${extra.length} unexpected in all)`);
  }
  return structure;
}

function structureFailure(manifest: Manifest): Fail {
  return (problem) => {
    throw new ModelPackageError('bad-shape', manifest.name, `${manifest.kind}: ${problem}`);
  };
}

/** Typed access to architecture values, each checked for type and range. */
class ArchitectureReader {
  constructor(
    private readonly arch: Manifest['architecture'],
    readonly fail: Fail,
  ) {}

  int(key: string, min: number): number {
    const v = this.arch[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      return this.fail(`architecture.${key} must be an integer >= ${min}, got ${show(v)}`);
    }
    return v;
  }

  /** A rate in [0, 1). */
  rate(key: string): number {
    const v = this.arch[key];
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
      return this.fail(`architecture.${key} must be a number in [0, 1), got ${show(v)}`);
    }
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.arch[key];
    const found = allowed.find((a) => a === v);
    if (found === undefined) {
      return this.fail(`architecture.${key} must be one of ${allowed.join(', ')}, got ${show(v)}`);
    }
    return found;
  }

  numbers(key: string): number[] {
    const v = this.arch[key];
    const out: number[] = [];
    if (!Array.isArray(v)) return this.fail(`architecture.${key} must be a list of numbers`);
    for (const x of v) {
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        return this.fail(`architecture.${key} must be a list of numbers, got ${show(x)} in it`);
      }
      out.push(x);
    }
    return out;
  }

  /** A list of integers >= min. */
  ints(key: string, min: number): number[] {
    const list = this.numbers(key);
    const bad = list.findIndex((x) => !Number.isSafeInteger(x) || x < min);
    if (bad >= 0) {
      this.fail(`architecture.${key}[${bad}] must be an integer >= ${min}, got ${list[bad]}`);
    }
    return list;
  }

  strings(key: string): string[] {
    const v = this.arch[key];
    const out: string[] = [];
    if (!Array.isArray(v)) return this.fail(`architecture.${key} must be a list of strings`);
    for (const x of v) {
      if (typeof x !== 'string') {
        return this.fail(`architecture.${key} must be a list of strings, got ${show(x)} in it`);
      }
      out.push(x);
    }
    return out;
  }
}

/** A stated value for a message, never longer than a line however long the value. */
function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The schema from its parallel lists. Each field's rows are counted against the table's
 * `rows` as they are read, so the sum is never past it; a multi-valued field's slots are
 * bounded by the table's rows too (a batch row allocates one slot each).
 */
function schemaOf(arch: ArchitectureReader, rows: number, fail: Fail): CtrSchema {
  const names = arch.strings('fieldNames');
  const kinds = arch.strings('fieldKinds');
  const sizes = arch.ints('vocabularySizes', 1);
  const widths = arch.ints('maxValues', 1);
  const counts = arch.ints('boundaryCounts', 0);
  const boundaries = arch.numbers('boundaries');
  if (names.length === 0) fail('architecture.fieldNames lists no field');
  for (const [key, list] of [
    ['fieldKinds', kinds],
    ['vocabularySizes', sizes],
    ['maxValues', widths],
    ['boundaryCounts', counts],
  ] as const) {
    if (list.length !== names.length) {
      fail(`architecture.${key} has ${list.length} entries for ${names.length} fields`);
    }
  }
  const fields: CtrField[] = [];
  const seen = new Set<string>();
  let total = 0;
  let nextBoundary = 0;
  for (const [f, name] of names.entries()) {
    const kind = CTR_FIELD_KINDS.find((k) => k === kinds[f]);
    const size = sizes[f] as number;
    const width = widths[f] as number;
    const count = counts[f] as number;
    const what = `field ${show(name)}`;
    if (name === '' || seen.has(name))
      fail(`${what} (number ${f}): names must be distinct, not empty`);
    seen.add(name);
    if (kind === undefined) {
      return fail(`${what}: kind ${show(kinds[f])} is not one of ${CTR_FIELD_KINDS.join(', ')}`);
    }
    total += size;
    if (total > rows) {
      fail(`vocabularySizes add up to more than the ${rows} rows of "${CTR_EMBEDDING}"`);
    }
    if (kind !== 'multi' && width !== 1) fail(`${what} is ${kind}, so maxValues must be 1`);
    if (width > rows) fail(`${what} has ${width} values per row, more than the table's rows`);
    if (kind !== 'numeric' && count !== 0) fail(`${what} is ${kind}, so it has no boundaries`);
    const own = boundaries.slice(nextBoundary, nextBoundary + count);
    nextBoundary += count;
    if (own.length !== count) {
      fail(`architecture.boundaryCounts add up to more than the ${boundaries.length} boundaries`);
    }
    // A bucket past the field's rows would read the next field's rows.
    if (count + 2 > size && kind === 'numeric') {
      fail(`${what} has ${count + 2} buckets but ${size} rows`);
    }
    // numericBucket searches them by bisection, which only counts right in ascending order.
    if (own.some((b, i) => i > 0 && !(b > (own[i - 1] as number)))) {
      fail(`${what}: boundaries must be strictly ascending`);
    }
    const field: CtrField = { name, kind, vocabularySize: size };
    if (kind === 'multi') field.maxValues = width;
    if (kind === 'numeric') field.boundaries = own;
    fields.push(field);
  }
  if (nextBoundary !== boundaries.length) {
    fail(
      `architecture.boundaries has ${boundaries.length} entries, boundaryCounts account for ${nextBoundary}`,
    );
  }
  if (total !== rows) {
    fail(`vocabularySizes add up to ${total}, but "${CTR_EMBEDDING}" has ${rows} rows`);
  }
  return { fields };
}

/** The MLP tower, its length tied to the `mlp.<i>.kernel` tensors and its widths to their columns. */
function mlpOf(
  arch: ArchitectureReader,
  tensors: readonly TensorEntry[],
  entries: ReadonlyMap<string, TensorEntry>,
  fail: Fail,
): MlpConfig {
  const kernels = tensors.filter((t) => /^mlp\.\d+\.kernel$/.test(t.name)).length;
  const stated = arch.numbers('mlp');
  if (stated.length !== kernels) {
    fail(
      `architecture.mlp lists ${stated.length} layers, but the package has ${kernels} MLP kernels`,
    );
  }
  const mlp = arch.ints('mlp', 1);
  for (const [i, units] of mlp.entries()) {
    const kernel = entries.get(`mlp.${i}.kernel`);
    if (!kernel) return fail(`tensor "mlp.${i}.kernel" is missing`);
    if (kernel.shape.length !== 2 || kernel.shape[1] !== units) {
      fail(`architecture.mlp[${i}] is ${units}, but "mlp.${i}.kernel" has shape [${kernel.shape}]`);
    }
  }
  return { mlp, norm: arch.oneOf('norm', NORMS), dropout: arch.rate('dropout') };
}

/**
 * DCNv2's cross network. The layer count is tied to the `cross.<l>.bias` tensors (one per
 * layer of either kind) and the mixture's experts to the `.v` tensors found, so the list of
 * expected tensors is no longer than the manifest's own.
 */
function crossOf(
  arch: ArchitectureReader,
  tensors: readonly TensorEntry[],
  fail: Fail,
): Pick<Dcnv2Config, 'crossLayers' | 'cross' | 'structure'> {
  const crossLayers = arch.int('crossLayers', 0);
  const layers = tensors.filter((t) => /^cross\.\d+\.bias$/.test(t.name)).length;
  if (crossLayers !== layers) {
    fail(`architecture.crossLayers is ${crossLayers}, but the package has ${layers} cross layers`);
  }
  const structure = arch.oneOf('structure', DCN_STRUCTURES);
  if (arch.oneOf('cross', CROSS_KINDS) === 'full') {
    return { crossLayers, cross: { kind: 'full' }, structure };
  }
  const experts = arch.int('crossExperts', 1);
  const found = tensors.filter((t) => /^cross\.\d+\.expert\.\d+\.v$/.test(t.name)).length;
  if (crossLayers * experts !== found) {
    fail(
      `architecture.crossExperts is ${experts}, but the package has ${found} expert tensors for ${crossLayers} layers`,
    );
  }
  // The rank only sizes shapes that are compared with the manifest's, never an allocation.
  const cross: CrossKind = { kind: 'mixture', rank: arch.int('crossRank', 1), experts };
  return { crossLayers, cross, structure };
}
