/**
 * `pocketrec tune-repeats`: fits a trained session model's repeat bonus (see
 * SequentialModel.repeatBonus) on the validation sessions `train` validated on, and writes
 * the package again with it. The weights are untouched: only how the session's own items
 * are ranked changes, so it applies to a teacher and to a student alike.
 */
import { UsageError } from '../errors.ts';
import { bestRepeatBonus, REPEAT_BONUS_GRID, sweepRepeatBonus } from '../eval/repeat-bonus.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import {
  sequentialFromPackage,
  sequentialPackageSpec,
  ttArchitecture,
} from '../model/sequential-package.ts';
import { SEQUENTIAL_PRUNED_KIND } from '../model/sequential-pruned.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { buildModelPackage } from '../package/writer.ts';
import { checkOutputFree, checkPackageFitsData, type EventLogCliOptions } from './options.ts';
import { commandLine, type Output, printJson, table } from './output.ts';
import { trainingData } from './training-data.ts';

export interface TuneRepeatsCliOptions extends EventLogCliOptions {
  dataset: string;
  out: string;
  force?: boolean;
  users?: string;
  dataDir?: string;
  json?: boolean;
}

export async function tuneRepeatsCommand(
  dir: string,
  options: TuneRepeatsCliOptions,
  output: Output,
): Promise<void> {
  checkOutputFree(options.out, options.force);
  const data = await trainingData(options.dataset, options);
  if (data.maskHistory) {
    throw new UsageError(
      `tune-repeats is for session data sets; ${options.dataset} ranks with the user's history masked, so a bonus on it changes nothing`,
    );
  }
  await useWasmBackend();
  const pkg = await readModelPackage(directorySource(dir));
  checkPackageFitsData(dir, pkg.manifest, data.dataset, data.numItems);
  if (pkg.manifest.kind === SEQUENTIAL_PRUNED_KIND) {
    // The tuned package is written from the model, whose table is the dense one rebuilt at load.
    throw new UsageError(
      `${dir} is a sequential-pruned package: tune the dense model, then prune it`,
    );
  }
  const model = sequentialFromPackage(pkg);
  const sweep = await sweepRepeatBonus(model, data.validation, REPEAT_BONUS_GRID);
  const best = bestRepeatBonus(sweep);

  const { manifest } = pkg;
  const tuned = { ...model, repeatBonus: best.bonus };
  const ttShape = model.items.tt?.shape;
  const built = await buildModelPackage(
    await sequentialPackageSpec(tuned, {
      name: options.out.split('/').filter(Boolean).pop() ?? manifest.name,
      dataset: data.dataset,
      ...(data.itemIds ? { itemIds: data.itemIds } : {}),
      metrics: {
        ...manifest.training.metrics,
        repeatBonus: best.bonus,
        validationHR20: best['HR@20'],
        validationMRR20: best['MRR@20'],
      },
      notes: JSON.stringify({
        command: commandLine('tune-repeats', [dir], options),
        tunedFrom: { package: dir },
        validationCases: data.validation.inputs.length,
        sweep,
      }),
      ...(ttShape ? { architecture: ttArchitecture(ttShape) } : {}),
    }),
  );
  await writePackageDirectory(options.out, built.files);
  const untuned = sweep.find((s) => s.bonus === 0);
  if (options.json) {
    printJson(output, { out: options.out, from: dir, chosen: best, sweep });
    return;
  }
  output.out(
    `${dir} on ${options.dataset} validation (${data.validation.inputs.length.toLocaleString('en-US')} cases, every item ranked, nothing masked):`,
  );
  output.out(
    table([
      ['bonus', 'P@20    MRR@20'],
      ...sweep.map(
        (s) => [String(s.bonus), `${s['HR@20'].toFixed(4)}  ${s['MRR@20'].toFixed(4)}`] as const,
      ),
    ]),
  );
  output.out(
    `wrote ${options.out} with repeat bonus ${best.bonus} (validation P@20 ${untuned?.['HR@20'].toFixed(4)} -> ${best['HR@20'].toFixed(4)})`,
  );
}
