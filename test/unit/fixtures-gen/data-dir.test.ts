/**
 * Every data set of the registry, loaded through the registry's own loaders from the
 * generated stand-in for ../shared/data: each loader path runs in `npm test`, and the
 * generated files keep the shapes the command tests rely on (ML-1M's 3,416 items, Tmall's
 * 40,727, repeats in the sessions).
 */
import { describe, expect, it } from 'vitest';
import { loadCtrFields } from '../../../src/data/ctr/index.ts';
import {
  DATASET_NAMES,
  DATASETS,
  loadCtrDataset,
  loadSessionDataset,
  loadUserSequences,
  needsDataDir,
} from '../../../src/data/datasets.ts';
import { repeatShare } from '../../../src/data/sessions.ts';
import { GENERATED_ML1M_ITEMS, GENERATED_ML1M_USERS, useGeneratedDataDir } from './data-dir.ts';

const dataDir = useGeneratedDataDir();

describe('the generated data directory', () => {
  it('holds every registry data set that reads the data directory', async () => {
    const loaded: string[] = [];
    for (const name of DATASET_NAMES) {
      const spec = DATASETS[name];
      if (!needsDataDir(spec)) continue;
      const numRows =
        spec.kind === 'sequential'
          ? (await loadUserSequences(name, { dataDir })).numInteractions
          : spec.kind === 'session'
            ? (await loadSessionDataset(name, { dataDir })).trainSessions.length
            : (await loadCtrFields(name, { dataDir })).train.numRows;
      expect(numRows, name).toBeGreaterThan(0);
      loaded.push(name);
    }
    expect(loaded).toEqual(DATASET_NAMES.filter((name) => !name.startsWith('storefront')));
  });

  it("keeps ML-1M's item count, with MovieIDs from the item map", async () => {
    const ml1m = await loadUserSequences('ml-1m', { dataDir });
    expect(ml1m.numItems).toBe(GENERATED_ML1M_ITEMS);
    expect(ml1m.sequences).toHaveLength(GENERATED_ML1M_USERS);
    expect(ml1m.sourceItemIds?.[GENERATED_ML1M_ITEMS]).toBe(2 * GENERATED_ML1M_ITEMS);
    const ratings = await loadUserSequences('ml-1m-ratings', { dataDir });
    expect(ratings.numInteractions).toBe(ml1m.numInteractions);
  });

  it("keeps Tmall's and RetailRocket's item counts; many sessions end on an earlier item", async () => {
    for (const [name, numItems] of [
      ['tmall', 40_727],
      ['retailrocket', 36_968],
    ] as const) {
      const sessions = await loadSessionDataset(name, { dataDir });
      expect(sessions.numItems, name).toBe(numItems);
      const inputs = sessions.trainSessions.map((s) => s.subarray(0, -1));
      const targets = Int32Array.from(sessions.trainSessions, (s) => s.at(-1) as number);
      expect(repeatShare(inputs, targets)).toBeGreaterThan(0.4);
    }
  });

  it('reads frappe both as one-hot libfm and as fields', async () => {
    const libfm = await loadCtrDataset('frappe', { dataDir });
    const fields = await loadCtrFields('frappe', { dataDir });
    expect(libfm.test.numRows).toBe(fields.test.numRows);
    expect(fields.schema.fields.map((f) => f.name)).toEqual(
      libfm.featureMap.fields.map((f) => f.name),
    );
  });
});
