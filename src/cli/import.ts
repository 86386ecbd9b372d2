/**
 * `pocketrec import --from safetensors --layout recbole|pmixer|pocketrec <file> --out <dir>`:
 * a SASRec teacher trained elsewhere (at scale with scripts/torch/train_sasrec.py under
 * torchrun, with RecBole, or with pmixer's SASRec.pytorch) as a `sequential-dense` package
 * that `verify`, `eval`, `distill --teacher` and the browser runtime take like one trained
 * here. The source's parameter names and layouts are mapped by src/model/import/; where its
 * encoder differs from pocketrec's, the package's architecture says how (EncoderVariant), so
 * every reader runs it exactly; an option pocketrec cannot reproduce is refused by name.
 *
 * `--dataset`: the data set the teacher was trained on, as pocketrec loads it; the package
 * then records its name (which `distill` and `eval` check), and its item table is put in the
 * data set's numbering by item id, which must be the same set of items as the source's.
 */
import { open, readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { useWasmBackend } from '../kernels/wasm/backend.ts';
import { IMPORT_FORMATS } from '../model/import/defaults.ts';
import {
  IMPORT_LAYOUTS,
  type ImportLayout,
  importTeacher,
  renumberTeacher,
  teacherModel,
} from '../model/import/index.ts';
import { verifyModelStructure } from '../model/package-structure.ts';
import { variantOf } from '../model/sasrec.ts';
import { sequentialPackageSpec } from '../model/sequential-package.ts';
import { directorySource, writePackageDirectory } from '../package/node-fs.ts';
import { readModelPackage } from '../package/reader.ts';
import { type ByteSource, readSafetensors } from '../package/safetensors.ts';
import { buildModelPackage } from '../package/writer.ts';
import type { EventLogCliOptions } from './options.ts';
import { checkOutputWritable } from './options.ts';
import { commandLine, kibText, type Output, printJson } from './output.ts';
import { trainingData } from './training-data.ts';

export interface ImportCliOptions extends EventLogCliOptions {
  from: string;
  layout: string;
  out: string;
  config?: string;
  items?: string;
  dataset?: string;
  force?: boolean;
  dataDir?: string;
  json?: boolean;
}

/** A --config file larger than this is refused before it is parsed (a RecBole config is a few KiB). */
const MAX_CONFIG_BYTES = 1024 * 1024;

export async function importCommand(
  file: string,
  options: ImportCliOptions,
  output: Output,
): Promise<void> {
  if (!(IMPORT_FORMATS as readonly string[]).includes(options.from)) {
    throw new UsageError(
      `--from must be one of ${IMPORT_FORMATS.join(', ')}, got "${options.from}"`,
    );
  }
  if (!(IMPORT_LAYOUTS as readonly string[]).includes(options.layout)) {
    throw new UsageError(
      `--layout must be one of ${IMPORT_LAYOUTS.join(', ')}, got "${options.layout}"`,
    );
  }
  checkOutputWritable(options.out, { force: options.force });
  const layout = options.layout as ImportLayout;
  const where = resolve(file);
  const safetensors = await withFile(where, (source) => readSafetensors(source, where));
  const imported = importTeacher({
    layout,
    file: safetensors,
    where,
    ...(options.config ? { config: await configFile(options.config) } : {}),
    ...(options.items ? { itemIds: await itemsFile(options.items) } : {}),
  });
  let { teacher } = imported;
  let dataset = imported.dataset ?? `${layout}:${basename(file)}`;
  if (options.dataset !== undefined) {
    const data = await trainingData(options.dataset, options);
    const ids = data.itemIds ?? Array.from({ length: data.numItems }, (_, i) => String(i + 1));
    teacher = renumberTeacher(teacher, ids, where);
    dataset = data.dataset;
  }

  await useWasmBackend();
  const model = teacherModel(teacher);
  const name = options.out.split('/').filter(Boolean).pop() ?? `${layout}-teacher`;
  const built = await buildModelPackage(
    await sequentialPackageSpec(model, {
      name,
      dataset,
      ...(teacher.itemIds ? { itemIds: teacher.itemIds } : {}),
      notes: JSON.stringify({
        command: commandLine('import', [file], options),
        source: {
          file: basename(file),
          layout,
          config: teacher.read,
          metadata: safetensors.metadata,
        },
      }),
    }),
  );
  await writePackageDirectory(options.out, built.files);
  // What was written is read back as every reader will read it.
  const structure = await verifyModelStructure(
    await readModelPackage(directorySource(options.out)),
  );
  const { config } = teacher;
  const summary = {
    out: options.out,
    layout,
    dataset,
    items: config.numItems,
    dim: config.dim,
    maxLen: config.maxLen,
    blocks: config.blocks,
    heads: config.heads,
    positions: config.positions,
    variant: variantOf(config),
    structure,
    bytes: built.manifest.size.bytes,
  };
  if (options.json) printJson(output, summary);
  else {
    const variant = Object.entries(summary.variant)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    output.out(
      `wrote ${options.out}: ${layout} SASRec, ${config.numItems} items, d ${config.dim}, ${config.blocks} blocks, maxLen ${config.maxLen}, ${kibText(summary.bytes)} (${variant || "pocketrec's own encoder"}); trained on ${dataset}`,
    );
  }
}

/** A plain file read piece by piece: the reader asks for the header before any weight. */
async function withFile<T>(path: string, read: (source: ByteSource) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${path} cannot be read (${error.code ?? error.message})`);
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new UsageError(`${path} is not a regular file`);
    return await read({
      size: stat.size,
      async read(offset, length) {
        const buffer = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return buffer.subarray(0, done);
      },
    });
  } finally {
    await handle.close();
  }
}

async function configFile(path: string): Promise<Record<string, unknown>> {
  const text = await withFile(path, async (source) => {
    if (source.size > MAX_CONFIG_BYTES)
      throw new UsageError(`--config ${path} is over ${MAX_CONFIG_BYTES} bytes`);
    return new TextDecoder().decode(await source.read(0, source.size));
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path} is not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--config ${path} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** One id per line, in the source's numbering (a trailing newline, or \r\n, is fine). */
async function itemsFile(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--items ${path} cannot be read (${error.code ?? error.message})`);
  });
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
