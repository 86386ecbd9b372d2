/**
 * What every layout shares: the typed error of an import, the source's tensors taken one
 * by one with their shapes checked (and any left over refused: an extra tensor means a
 * module this import does not know, whose part of the math would be lost), the source's
 * config read key by key, and the teacher an import produces.
 */
import { PocketrecError } from '../../errors.ts';
import type { SafetensorsFile } from '../../package/safetensors.ts';
import type { EncoderVariant, SasrecConfig } from '../sasrec.ts';
import type { ImportLayout } from './defaults.ts';

export const IMPORT_PROBLEMS = [
  'missing-tensor',
  'unexpected-tensor',
  'bad-shape',
  'bad-config',
  'unsupported-option',
  'bad-items',
] as const;
export type ImportProblem = (typeof IMPORT_PROBLEMS)[number];

/** A source file that cannot become a pocketrec package as it is, naming the file and why. */
export class TeacherImportError extends PocketrecError {
  declare readonly code: ImportProblem;
  readonly file: string;

  constructor(code: ImportProblem, file: string, problem: string) {
    super(code, `${file}: ${problem}`);
    this.file = file;
  }
}

/** A teacher in pocketrec's terms: the encoder's tensors by package name, the item table. */
export interface ImportedTeacher {
  layout: ImportLayout;
  config: SasrecConfig;
  /** Every tensor of encoderWeightShapes(config), float32, row-major in that shape. */
  encoder: Map<string, Float32Array>;
  /** [numItems + 1, dim]; row 0 pads. */
  table: Float32Array;
  /** External id of internal item i at index i - 1; null: the source has none (ids are 1..n). */
  itemIds: string[] | null;
  /** The source's config entries the import read, as it read them (kept in the package's notes). */
  read: Record<string, unknown>;
}

/** What a layout maps: the teacher but its item ids (index.ts reads those). */
export type Taken = Omit<ImportedTeacher, 'itemIds'>;

/** The sizes a layout reads off the source's tensors and config. */
export interface TakenSizes {
  /** Rows of the item table, padding's included. */
  rows: number;
  dim: number;
  maxLen: number;
  blocks: number;
  heads: number;
  dropout: number;
}

/** A layout's teacher from its sizes, how its encoder differs (positions, readout, variant), its tensors. */
export function takenTeacher(
  layout: ImportLayout,
  sizes: TakenSizes,
  architecture: Pick<SasrecConfig, 'positions' | 'readout'> & EncoderVariant,
  parts: { encoder: Map<string, Float32Array>; table: Float32Array; config: SourceConfig },
): Taken {
  const { rows, ...rest } = sizes;
  return {
    layout,
    config: { numItems: rows - 1, ...rest, ...architecture },
    encoder: parts.encoder,
    table: parts.table,
    read: parts.config.read,
  };
}

/** The source's tensors, each taken once with its shape checked. */
export class SourceTensors {
  private readonly left: Set<string>;

  constructor(
    private readonly file: SafetensorsFile,
    readonly where: string,
  ) {
    this.left = new Set(file.tensors.keys());
  }

  has(name: string): boolean {
    return this.file.tensors.has(name);
  }

  names(): string[] {
    return [...this.file.tensors.keys()];
  }

  /** The shape of a tensor that must be there. */
  shape(name: string): number[] {
    return this.get(name).shape;
  }

  /** The values of `name`, which must have `shape` ([] or a -1 dimension matches any). */
  take(name: string, shape: readonly number[]): Float32Array {
    const t = this.get(name);
    const fits =
      t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
    if (!fits) {
      throw new TeacherImportError(
        'bad-shape',
        this.where,
        `tensor "${name}" has shape [${t.shape}], expected [${shape.map((d) => (d === -1 ? '?' : d))}]`,
      );
    }
    this.left.delete(name);
    return t.values;
  }

  /** A PyTorch LayerNorm's weight and bias [d] as the package's `${to}.gamma` and `.beta`. */
  layerNorm(into: Map<string, Float32Array>, from: string, to: string, d: number): void {
    into.set(`${to}.gamma`, this.take(`${from}.weight`, [d]));
    into.set(`${to}.beta`, this.take(`${from}.bias`, [d]));
  }

  /** A PyTorch Linear (weight [out, in], bias [out]) as the package's kernel [in, out] and bias. */
  linear(
    into: Map<string, Float32Array>,
    from: string,
    to: string,
    out: number,
    inWidth: number,
  ): void {
    into.set(`${to}.kernel`, transposed(this.take(`${from}.weight`, [out, inWidth]), out, inWidth));
    into.set(`${to}.bias`, this.take(`${from}.bias`, [out]));
  }

  /** Refuses what no mapping took. */
  checkAllTaken(): void {
    if (this.left.size === 0) return;
    const names = [...this.left].sort();
    throw new TeacherImportError(
      'unexpected-tensor',
      this.where,
      `tensor "${names[0]}" is not part of the model this layout describes (${names.length} unexpected in all): a module whose math the import would drop`,
    );
  }

  private get(name: string) {
    const t = this.file.tensors.get(name);
    if (!t)
      throw new TeacherImportError('missing-tensor', this.where, `tensor "${name}" is missing`);
    return t;
  }
}

/** The source's config, read key by key with the errors naming the key. */
export class SourceConfig {
  readonly read: Record<string, unknown> = {};

  constructor(
    private readonly values: Record<string, unknown>,
    private readonly where: string,
  ) {}

  has(key: string): boolean {
    return this.values[key] !== undefined && this.values[key] !== null;
  }

  /** Every key the config states. */
  keys(): string[] {
    return Object.keys(this.values).filter((key) => this.has(key));
  }

  /** A value as stated (undefined when absent), for a caller that checks it itself. */
  raw(key: string): unknown {
    if (!this.has(key)) return undefined;
    return this.remember(key, this.values[key]);
  }

  /** A positive integer, or `fallback` when absent (undefined: required). */
  integer(key: string, fallback?: number): number {
    return this.value(
      key,
      fallback,
      (v) => Number.isSafeInteger(v) && (v as number) > 0,
      'a positive integer',
    ) as number;
  }

  number(
    key: string,
    fallback: number | undefined,
    ok: (v: number) => boolean,
    what: string,
  ): number {
    return this.value(key, fallback, (v) => typeof v === 'number' && ok(v), what) as number;
  }

  boolean(key: string, fallback: boolean): boolean {
    // Command-line dumps (pmixer's args.txt) say "True"/"False".
    const raw = this.values[key];
    if (raw === 'True' || raw === 'true') return this.remember(key, true) as boolean;
    if (raw === 'False' || raw === 'false') return this.remember(key, false) as boolean;
    return this.value(key, fallback, (v) => typeof v === 'boolean', 'true or false') as boolean;
  }

  string(key: string, fallback: string | undefined): string {
    return this.value(key, fallback, (v) => typeof v === 'string', 'a string') as string;
  }

  /** The attention heads, which must divide the width d. */
  heads(key: string, d: number): number {
    const heads = this.integer(key);
    if (d % heads !== 0) {
      throw new TeacherImportError(
        'bad-config',
        this.where,
        `width ${d} is not divisible by ${key} ${heads}`,
      );
    }
    return heads;
  }

  /** A dropout rate in [0, 1): what a student distilled from the teacher trains with. */
  dropout(key: string, fallback: number): number {
    return this.number(key, fallback, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  }

  /** A stated value must agree with what the tensors say. */
  agrees(key: string, actual: number, what: string): void {
    if (!this.has(key)) return;
    const stated = Number(this.values[key]);
    if (stated !== actual) {
      throw new TeacherImportError(
        'bad-config',
        this.where,
        `config ${key} is ${JSON.stringify(this.values[key])}, but ${what} is ${actual}`,
      );
    }
    this.read[key] = actual;
  }

  /** A key whose value changes the math to something pocketrec cannot reproduce. */
  unsupported(key: string, value: unknown, supported: string): never {
    throw new TeacherImportError(
      'unsupported-option',
      this.where,
      `${key} ${JSON.stringify(value)} is not supported: ${supported}`,
    );
  }

  private value(
    key: string,
    fallback: unknown,
    ok: (v: unknown) => boolean,
    what: string,
  ): unknown {
    if (!this.has(key)) {
      if (fallback === undefined) {
        throw new TeacherImportError(
          'bad-config',
          this.where,
          `config has no ${key}: give it in --config or the file's __metadata__`,
        );
      }
      return this.remember(key, fallback);
    }
    // Dumps of command lines hold numbers as text.
    const raw = this.values[key];
    const v =
      typeof raw === 'string' &&
      what !== 'a string' &&
      raw.trim() !== '' &&
      Number.isFinite(Number(raw))
        ? Number(raw)
        : raw;
    if (!ok(v)) {
      throw new TeacherImportError(
        'bad-config',
        this.where,
        `config ${key} must be ${what}, got ${JSON.stringify(raw)}`,
      );
    }
    return this.remember(key, v);
  }

  private remember(key: string, v: unknown): unknown {
    this.read[key] = v;
    return v;
  }
}

/** [rows, cols] row-major → its transpose [cols, rows] (a PyTorch Linear weight → a kernel). */
export function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}

/** How many blocks the names `${prefix}${b}.` number, 0..n-1 with none missing. */
export function countBlocks(names: readonly string[], prefix: string, where: string): number {
  const found = new Set<number>();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const b = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isSafeInteger(b) && b >= 0) found.add(b);
  }
  for (let b = 0; b < found.size; b++) {
    if (!found.has(b)) {
      throw new TeacherImportError(
        'missing-tensor',
        where,
        `no tensors of block ${b} (${prefix}${b}.*), yet ${found.size} blocks are numbered`,
      );
    }
  }
  return found.size;
}

/** Whether every value is exactly zero (a padding row). */
export function allZero(values: Float32Array): boolean {
  return values.every((v) => v === 0);
}
