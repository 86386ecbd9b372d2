/**
 * The rows `pocketrec report` gives models cut down to a FLOPs budget by `pocketrec umec`
 * (UMEC, magnitude, Group Lasso): FLOPs counted from the package's own architecture
 * (packageFlops) against its source's, what was kept, bytes on disk, test AUC and LogLoss,
 * and the median time of one request, timed in the same run as its source's.
 */

import type { CtrModel } from '../model/ctr/model.ts';
import type { CtrRows } from '../model/ctr/schema.ts';
import { ctrProbabilities } from '../model/ctr/score.ts';
import { packageFlops } from '../model/package-flops.ts';
import type { Manifest } from '../package/manifest.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../runtime/engine/engine.ts';
import type { CtrMetrics } from './eval-ctr.ts';

/** What `pocketrec umec` records in a package's notes, as the report reads it. */
export interface UmecNotes {
  method: string;
  budget: number;
  /** Groups kept per layer, and each layer's name and group count. */
  kept: number[];
  groups: { layer: string; groups: number }[];
  removedFields: string[];
}

export const REQUEST_TIMING = {
  /** Rows of one request: a page of candidates to rank. */
  rows: 100,
  warmup: 5,
  runs: 41,
};

/** Median milliseconds of scoring the first REQUEST_TIMING.rows rows of `rows`. */
export async function requestMedianMs(ctr: CtrModel, rows: CtrRows): Promise<number> {
  const n = Math.min(REQUEST_TIMING.rows, rows.numRows);
  const request: CtrRows = {
    numRows: n,
    ids: rows.ids.map((ids) => ids.subarray(0, (ids.length / rows.numRows) * n)),
    labels: rows.labels.subarray(0, n),
  };
  const times: number[] = [];
  for (let i = 0; i < REQUEST_TIMING.warmup + REQUEST_TIMING.runs; i++) {
    const started = performance.now();
    await ctrProbabilities(ctr, request);
    if (i >= REQUEST_TIMING.warmup) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

export function umecNotesOf(raw: unknown): UmecNotes | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const numbers = (v: unknown) =>
    Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null;
  const kept = numbers(r.kept);
  if (typeof r.method !== 'string' || typeof r.budget !== 'number' || !kept) return null;
  const groups = Array.isArray(r.groups)
    ? r.groups.flatMap((g) =>
        g && typeof g.layer === 'string' && typeof g.groups === 'number'
          ? [{ layer: g.layer as string, groups: g.groups as number }]
          : [],
      )
    : [];
  const removed = Array.isArray(r.removedFields)
    ? r.removedFields.filter((f): f is string => typeof f === 'string')
    : [];
  return { method: r.method, budget: r.budget, kept, groups, removedFields: removed };
}

export interface StructuredRow {
  package: string;
  name: string;
  method: string;
  budget: number;
  /** Counted from the package's architecture, over its unpruned model's. */
  flopsRatio: number | null;
  /** "kept/groups" per layer, e.g. fields 7/10, mlp.0 200/400. */
  kept: string;
  removedFields: string[];
  bytes: number;
  metrics: CtrMetrics;
  requestP50: number;
  dense: { name: string; AUC: number; bytes: number; requestP50: number | null } | null;
  drop: number | null;
  command: string;
}

/** A package cut down by `pocketrec umec`, evaluated, and the dense package it came from. */
export interface StructuredInput {
  dir: string;
  manifest: Manifest;
  umec: UmecNotes;
  metrics: CtrMetrics;
  bytes: number;
  requestP50: number;
  /** Its recorded command and the eval command of its figures. */
  command: string;
}

export function structuredRow(
  e: StructuredInput,
  source: { name: string; metrics: CtrMetrics; bytes: number; requestP50: number } | undefined,
): StructuredRow {
  const { manifest, umec } = e;
  return {
    package: e.dir,
    name: manifest.name,
    method: umec.method,
    budget: umec.budget,
    flopsRatio: packageFlops(manifest, DEFAULT_ENGINE_OPTIONS)?.flopsRatio ?? null,
    kept: umec.kept
      .map((k, i) => {
        const layer = umec.groups[i];
        return layer ? `${layer.layer} ${k}/${layer.groups}` : String(k);
      })
      .join(', '),
    removedFields: umec.removedFields,
    bytes: e.bytes,
    metrics: e.metrics,
    requestP50: e.requestP50,
    dense: source
      ? {
          name: source.name,
          AUC: source.metrics.AUC,
          bytes: source.bytes,
          requestP50: source.requestP50,
        }
      : null,
    drop: source ? source.metrics.AUC - e.metrics.AUC : null,
    command: e.command,
  };
}
