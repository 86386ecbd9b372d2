// The packages in models/ that `pocketrec umec` cut (issue 18's shipped models) hold what
// their notes and docs say: they read and verify, count their FLOPs from their own
// architecture within the budget they were cut to, and are smaller than their sources.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageFlops } from '../../../src/model/package-flops.ts';
import { encoderFlops } from '../../../src/model/sequential-flops.ts';
import { checkSequentialStructure } from '../../../src/model/sequential-structure.ts';
import { directorySource } from '../../../src/package/node-fs.ts';
import { readModelPackage } from '../../../src/package/reader.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/runtime/engine/engine.ts';

const models = join(import.meta.dirname, '../../../models');
const read = async (name: string) =>
  (await readModelPackage(directorySource(join(models, name)))).manifest;

describe('shipped packages cut to a FLOPs budget', () => {
  it("frappe-deepfm-umec50: a ctr-dense DeepFM at half its source's FLOPs, fewer bytes", async () => {
    const cut = await read('frappe-deepfm-umec50');
    const source = await read('frappe-deepfm');
    expect(cut.kind).toBe('ctr-dense');
    const flops = packageFlops(cut, DEFAULT_ENGINE_OPTIONS);
    const sourceFlops = packageFlops(source, DEFAULT_ENGINE_OPTIONS);
    expect(flops?.flopsRatio).toBeLessThanOrEqual(0.5);
    expect(flops?.flopsRatio).toBeGreaterThan(0.45);
    expect((flops?.flops as number) / (sourceFlops?.flops as number)).toBeCloseTo(
      flops?.flopsRatio as number,
      12,
    );
    expect(cut.size.bytes).toBeLessThan(0.6 * source.size.bytes);
    expect(JSON.parse(cut.training.notes as string).umec).toMatchObject({
      method: 'umec',
      budget: 0.5,
    });
  });

  it('ml-1m-d128-tt2-r16-enc50: the shipped student with its encoder at half its FLOPs, 1.8x fewer bytes', async () => {
    const cut = await read('ml-1m-d128-tt2-r16-enc50');
    const source = await read('ml-1m-d128-tt2-r16');
    expect(cut.kind).toBe('sequential-tt');
    const ratio =
      encoderFlops(checkSequentialStructure(cut).config) /
      encoderFlops(checkSequentialStructure(source).config);
    expect(ratio).toBeLessThanOrEqual(0.5);
    expect(ratio).toBeGreaterThan(0.45);
    expect(JSON.parse(cut.training.notes as string).umec.encoderFlopsRatio).toBeCloseTo(ratio, 12);
    expect(source.size.bytes / cut.size.bytes).toBeGreaterThanOrEqual(1.8);
    // The item table is the source's: the same tensor-train shape.
    const table = (m: typeof cut) =>
      ['ttRows', 'ttCols', 'ttRank', 'ttStp'].map((k) => m.architecture[k]);
    expect(table(cut)).toEqual(table(source));
  });
});
