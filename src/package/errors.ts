import { PocketrecError } from '../errors.ts';

/** What is wrong with a model package; stable, so callers and tests can branch on it. */
export const MODEL_PACKAGE_PROBLEMS = [
  'missing-file',
  'truncated',
  'oversized',
  'hash-mismatch',
  'bad-manifest',
  'unsupported-version',
  'manifest-digest',
  'bad-path',
  'unknown-dtype',
  'bad-shape',
  'offset-out-of-range',
  'non-finite',
  'bad-quantization',
  'size-figures',
  'bad-item-map',
] as const;
export type ModelPackageProblem = (typeof MODEL_PACKAGE_PROBLEMS)[number];

/** A model package that must not be used, naming the file and the problem. */
export class ModelPackageError extends PocketrecError {
  declare readonly code: ModelPackageProblem;
  readonly file: string;

  constructor(code: ModelPackageProblem, file: string, problem: string) {
    super(code, `${file}: ${problem}`);
    this.file = file;
  }
}
