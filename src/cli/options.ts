/** Parsing of the options several commands share, with errors that name the option. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  EVENT_TYPES,
  type EventLogOptions,
  type EventType,
  getDataset,
  isEventLog,
  type LoadOptions,
} from '../data/index.ts';
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
 * Refuses an output that holds another package (unless --force). A command that rewrites
 * `source` may write it in place (as `repack` does); any other package there would be lost.
 */
export function checkOutputWritable(
  out: string,
  options: { source?: string; force?: boolean },
): void {
  const itself = options.source !== undefined && resolve(out) === resolve(options.source);
  if (!itself && !options.force && existsSync(join(out, 'manifest.json'))) {
    throw new UsageError(
      `${out} already holds a model package; remove it, or pass --force to write over it`,
    );
  }
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

/** The options that say how an event log file is read, as the command line gives them. */
export interface EventLogCliOptions {
  minItemCount?: string;
  events?: string;
  skipBadLines?: boolean;
}

/**
 * How to load `dataset`: its data directory and, for an event log file, how to read it. The
 * registry's data sets come prepared, so the log options on one are a mistake, not ignored.
 */
export function loadOptionsFor(
  dataset: string,
  options: EventLogCliOptions & { dataDir?: string },
): LoadOptions {
  const given = (['minItemCount', 'events', 'skipBadLines'] as const).filter(
    (key) => options[key] !== undefined,
  );
  const dataDir = options.dataDir;
  if (!isEventLog(getDataset(dataset))) {
    if (given.length > 0) {
      const flags = given.map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
      throw new UsageError(`${flags.join(', ')}: for event log files; ${dataset} comes prepared`);
    }
    return { dataDir };
  }
  const eventLog: Partial<Pick<EventLogOptions, 'minItemCount' | 'events' | 'skipBadLines'>> = {
    ...(options.minItemCount === undefined
      ? {}
      : {
          minItemCount: numberOption(options.minItemCount, 'min-item-count', 1, {
            integer: true,
            min: 1,
          }),
        }),
    ...(options.events === undefined ? {} : { events: eventTypes(options.events) }),
    ...(options.skipBadLines ? { skipBadLines: true } : {}),
  };
  return { dataDir, eventLog };
}

/** --events: a comma-separated subset of the event types, kept in their canonical order. */
function eventTypes(value: string): EventType[] {
  const given = value.split(',').map((type) => type.trim().toLowerCase());
  const unknown = given.filter((type) => !(EVENT_TYPES as readonly string[]).includes(type));
  if (given.length === 0 || unknown.length > 0) {
    throw new UsageError(
      `--events must list some of ${EVENT_TYPES.join(', ')} (comma-separated), got "${value}"`,
    );
  }
  return EVENT_TYPES.filter((type) => given.includes(type));
}
