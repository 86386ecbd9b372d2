/**
 * The section `pocketrec report` gives sequence models whose SASRec encoder `pocketrec umec`
 * narrowed to a FLOPs budget: the encoder's FLOPs counted from the package's architecture
 * against its source's, the whole request's (scoring against the item table included, which
 * no encoder budget shrinks), what each block kept, whole-package bytes, and the headline
 * metrics beside the source's when the source is in the same report.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metrics } from '../eval/evaluate.ts';
import type { MetricName } from '../model/metrics.ts';
import { packageFlops } from '../model/package-flops.ts';
import { blockWidths, type SasrecConfig } from '../model/sasrec.ts';
import { encoderFlops } from '../model/sequential-flops.ts';
import { checkSequentialStructure, isSequentialKind } from '../model/sequential-structure.ts';
import { MANIFEST_FILE, type Manifest, parseManifest } from '../package/manifest.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../runtime/engine/engine.ts';
import { markdownTable } from './markdown-table.ts';
import { umecNotesOf } from './report-umec.ts';

/** A sequence package cut by `pocketrec umec`, as the report shows it. */
export interface EncoderCut {
  /** The source package's name (its manifest's), to find its row. */
  from: string;
  method: string;
  budget: number;
  /** Encoder FLOPs over the source's, both counted from their architectures; null when the source cannot be read. */
  encoderFlopsRatio: number | null;
  /** The whole request's FLOPs over the source's (packageFlops's flopsRatio). */
  flopsRatio: number | null;
  /** Each block's widths, e.g. "qk 40, v 64, ffn 60". */
  widths: string;
  sourceBytes: number | null;
}

/**
 * The headline metrics of a report's next-item tables, user sequences or sessions, and how a
 * table heads each (on sessions HR@20 is P@20: one target per prefix).
 */
export function headlineMetrics(session: boolean): MetricName[] {
  return session ? ['HR@20', 'MRR@20'] : ['NDCG@10', 'HR@10'];
}

export function metricLabel(metric: MetricName, session: boolean): string {
  return session && metric === 'HR@20' ? 'P@20' : metric;
}

/**
 * What a package's notes say of a `pocketrec umec` cut: the source's directory and the cut's
 * settings; null for a package that was never cut (or notes that are not JSON).
 */
export function umecCutOf(
  notesText: string | undefined,
): { from: string; umec: NonNullable<ReturnType<typeof umecNotesOf>> } | null {
  let notes: { prunedFrom?: { package?: unknown }; umec?: unknown };
  try {
    notes = JSON.parse(notesText ?? '{}');
  } catch {
    return null;
  }
  const umec = umecNotesOf(notes?.umec);
  const from = notes?.prunedFrom?.package;
  return umec && typeof from === 'string' ? { from, umec } : null;
}

/** The cut a sequential package's notes record, or null for a package that was never cut. */
export async function encoderCutOf(manifest: Manifest): Promise<EncoderCut | null> {
  if (!isSequentialKind(manifest.kind)) return null;
  const recorded = umecCutOf(manifest.training.notes);
  if (!recorded) return null;
  const { from, umec } = recorded;
  const { config } = checkSequentialStructure(manifest);
  const source = await readSourceManifest(from);
  const sourceConfig =
    source && isSequentialKind(source.kind) ? checkSequentialStructure(source).config : null;
  return {
    from: source?.name ?? from,
    method: umec.method,
    budget: umec.budget,
    encoderFlopsRatio: sourceConfig ? encoderFlops(config) / encoderFlops(sourceConfig) : null,
    flopsRatio: packageFlops(manifest, DEFAULT_ENGINE_OPTIONS)?.flopsRatio ?? null,
    widths: widthsOf(config),
    sourceBytes: source?.size.bytes ?? null,
  };
}

async function readSourceManifest(dir: string): Promise<Manifest | null> {
  try {
    return await parseManifest(await readFile(join(dir, MANIFEST_FILE)));
  } catch {
    // Moved or deleted since: the row keeps the package's own figures.
    return null;
  }
}

function widthsOf(config: SasrecConfig): string {
  return Array.from({ length: config.blocks }, (_, b) => {
    const w = blockWidths(config, b);
    return `qk ${w.qk}, v ${w.v}, ffn ${w.ffn}`;
  }).join('; ');
}

/** A report row as this section reads it. */
export interface CutRow {
  model: string;
  bytes: number | null;
  metrics: Metrics;
  cut: EncoderCut | null;
}

/** The section's markdown lines; none when no listed package was cut. */
export function encoderCutSection(rows: readonly CutRow[], session: boolean): string[] {
  const cuts = rows.filter((r): r is CutRow & { cut: EncoderCut } => r.cut !== null);
  if (cuts.length === 0) return [];
  const metrics = headlineMetrics(session);
  const label = (m: MetricName) => metricLabel(m, session);
  const f3 = (v: number | null) => (v === null ? '-' : v.toFixed(3));
  const f4 = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));
  const share = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(3)}x`;
  const header = [
    'package',
    'cut from',
    'method',
    'encoder budget',
    'encoder FLOPs',
    'request FLOPs',
    'widths per block',
    'bytes',
    'smaller',
    ...metrics.map(label),
    ...metrics.map((m) => `${label(m)} / source`),
  ];
  return [
    '## Encoders cut to a FLOPs budget',
    '',
    "`pocketrec umec` narrowed each SASRec block (per-head query/key and value widths, feed-forward units) to a budget of the encoder's FLOPs, then fine-tuned. The item table and the positions are untouched, so the whole request (one incremental step and the scoring against every item) falls less than the encoder. **Encoder FLOPs** and **request FLOPs** are counted from each package's architecture over its source's; bytes are the whole package's, against the source's.",
    '',
    ...markdownTable(
      header,
      cuts.map((r) => {
        const source = rows.find((s) => s.model === r.cut.from && s.cut === null);
        const smaller =
          r.bytes !== null && r.cut.sourceBytes !== null && r.bytes > 0
            ? `${(r.cut.sourceBytes / r.bytes).toFixed(2)}x`
            : '-';
        return [
          r.model,
          r.cut.from,
          r.cut.method,
          String(r.cut.budget),
          f3(r.cut.encoderFlopsRatio),
          f3(r.cut.flopsRatio),
          r.cut.widths,
          r.bytes === null ? '-' : r.bytes.toLocaleString('en-US'),
          smaller,
          ...metrics.map((m) => f4(r.metrics[m])),
          ...metrics.map((m) => share(r.metrics[m], source?.metrics[m])),
        ];
      }),
    ),
  ];
}
