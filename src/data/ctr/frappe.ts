/**
 * frappe's NFM libfm split as fields: each libfm feature belongs to one of the feature
 * map's 10 fields (user, item, daytime, …), and its offset inside that field is its raw
 * code. The split is the published one (three files), not a random one.
 */
import { PocketrecError } from '../../errors.ts';
import { type FeatureMap, loadFeatureMap } from '../frappe.ts';
import { type LibfmData, loadLibfm } from '../libfm.ts';
import type { RawTable, SplitRows } from './encode.ts';
import { consecutiveSplit } from './split.ts';

export interface LibfmCtrFiles {
  readonly trainFile: string;
  readonly validationFile: string;
  readonly testFile: string;
  readonly featureMapFile: string;
}

export async function readLibfmFields(
  files: LibfmCtrFiles,
): Promise<{ table: RawTable; splits: SplitRows }> {
  const featureMap = await loadFeatureMap(files.featureMapFile);
  const load = async (file: string) => {
    const data = await loadLibfm(file, { featureMap });
    // loadLibfm refuses extra features but not missing ones; a short row would shift fields.
    if (data.numFields !== featureMap.fields.length) {
      throw new PocketrecError(
        'data-mismatch',
        `${file} has ${data.numFields} features per row; ${files.featureMapFile} has ${featureMap.fields.length} fields`,
      );
    }
    return data;
  };
  const parts = [
    await load(files.trainFile),
    await load(files.validationFile),
    await load(files.testFile),
  ] as const;
  const table = concatenate(featureMap, parts);
  const splits = consecutiveSplit(parts[0].numRows, parts[1].numRows, parts[2].numRows);
  return { table, splits };
}

/** The three files one after another; loadLibfm has checked that feature k is in field k. */
function concatenate(featureMap: FeatureMap, parts: readonly LibfmData[]): RawTable {
  const numRows = parts.reduce((n, part) => n + part.numRows, 0);
  const numFields = featureMap.fields.length;
  const codes = featureMap.fields.map(() => new Int32Array(numRows));
  const labels = new Uint8Array(numRows);
  let row = 0;
  for (const part of parts) {
    labels.set(part.labels, row);
    for (let r = 0; r < part.numRows; r++, row++) {
      for (let f = 0; f < numFields; f++) {
        const start = featureMap.fields[f]?.start ?? 0;
        (codes[f] as Int32Array)[row] = (part.features[r * numFields + f] as number) - start;
      }
    }
  }
  return {
    numRows,
    labels,
    columns: featureMap.fields.map((field, f) => ({
      kind: 'categorical' as const,
      name: field.name,
      codes: codes[f] as Int32Array,
      // frappe.csv's own value ("morning", a user number), which is what a client knows.
      valueText: (code: number) => featureMap.values[field.start + code] as string,
    })),
  };
}
