/** Parsing of the options several commands share, with errors that name the option. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';
import { QAT_DTYPES, type QatDtype } from '../model/ops/fake-quant.ts';
import type { WindowPolicy } from '../train/batches.ts';

/** A numeric option, or a UsageError naming it. */
export function numberOption(
  value: string | undefined,
  name: string,
  fallback: number,
  check: { integer?: boolean; min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const ok =
    value.trim() !== '' &&
    Number.isFinite(n) &&
    (!check.integer || Number.isInteger(n)) &&
    (check.min === undefined || n >= check.min) &&
    (check.max === undefined || n <= check.max);
  if (!ok) {
    const range = [
      check.integer ? 'an integer' : 'a number',
      check.min !== undefined ? `>= ${check.min}` : '',
      check.max !== undefined ? `<= ${check.max}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    throw new UsageError(`--${name} must be ${range}, got "${value}"`);
  }
  return n;
}

/** --windows: which windows of each history an epoch trains on. */
export function windowPolicy(value: string): WindowPolicy {
  if (value !== 'latest' && value !== 'all') {
    throw new UsageError(`--windows must be "latest" or "all", got "${value}"`);
  }
  return value;
}

/**
 * Refuses to train over a finished package: its checkpoint is gone once it is exported, so
 * the same command run again would start a new run from scratch and replace the model.
 */
export function checkOutputFree(out: string, force: boolean | undefined): void {
  if (!force && existsSync(join(out, 'manifest.json'))) {
    throw new UsageError(
      `${out} already holds a model package; remove it, or pass --force to train a new one over it`,
    );
  }
}

/**
 * A package given on the command line must have been trained on the data set the command
 * works on, with its item count; `label` names it in the error (a path, or the option).
 */
export function checkPackageFitsData(
  label: string,
  manifest: { training: { dataset: string }; items: { count: number } },
  dataset: string,
  numItems: number,
): void {
  if (manifest.training.dataset !== dataset) {
    throw new UsageError(`${label} was trained on ${manifest.training.dataset}, not ${dataset}`);
  }
  if (manifest.items.count !== numItems) {
    throw new UsageError(
      `${label} knows ${manifest.items.count} items; ${dataset} has ${numItems}`,
    );
  }
}

/**
 * `--threads n`: how many threads share each training batch (train/data-parallel.ts); the
 * main thread is one of them, so the workers to start are n - 1.
 */
export function trainingWorkers(value: string | undefined): number {
  return numberOption(value, 'threads', 1, { integer: true, min: 1, max: 64 }) - 1;
}

/** --qat: quantisation-aware training's dtype (train and distill); absent: none. */
export function qatDtype(value: string | undefined): QatDtype | undefined {
  if (value === undefined) return undefined;
  if (!(QAT_DTYPES as readonly string[]).includes(value)) {
    throw new UsageError(`--qat must be one of ${QAT_DTYPES.join(', ')}, got "${value}"`);
  }
  return value as QatDtype;
}
