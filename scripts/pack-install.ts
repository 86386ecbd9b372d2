/**
 * The package as a user installs it, for test/browser/package.test.ts and
 * scripts/bench-cli-start.ts: the library built next to the files package.json's `files`
 * names (in a folder of the caller's, so it never races a build in dist/), packed with
 * `npm pack`, and installed from the tarball into a scratch project outside the repository.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildLibrary } from './build-library.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What package.json's `files` lists: what a tarball holds besides package.json and README. */
async function packedFiles(): Promise<string[]> {
  const { files } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  return files as string[];
}

/**
 * The environment of the npm commands run here, without what `npm run` / `npm test` put in
 * ours: an inherited npm_config_local_prefix would make `npm install` in the scratch project
 * install into the repository.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD'),
  );
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false' };
}

/** Runs a command to its end; a failure's error carries everything it printed. */
export async function run(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await promisify(execFile)(command, args, {
      cwd,
      env: npmEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`,
    );
  }
}

export interface PackedPackage {
  /** The tarball's path. */
  tarball: string;
  /** Every path in it, relative to the package root. */
  files: string[];
}

/** Builds the library into `<work>/stage`, packs it, and leaves the tarball in `work`. */
export async function packPackage(work: string): Promise<PackedPackage> {
  const stage = join(work, 'stage');
  await mkdir(stage, { recursive: true });
  const besideDist = (await packedFiles()).filter((f) => !f.startsWith('dist/'));
  for (const entry of [...besideDist, 'package.json', 'README.md']) {
    await cp(join(root, entry), join(stage, entry), { recursive: true });
  }
  await buildLibrary(join(stage, 'dist'));
  const args = ['pack', '--json', '--ignore-scripts', '--pack-destination', work];
  const { stdout } = await run('npm', args, stage);
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!packed) throw new Error('npm pack listed no package');
  return { tarball: join(work, packed.filename), files: packed.files.map((f) => f.path) };
}

/**
 * A scratch project at `app` with the tarball installed, and `others` (package specs) beside
 * it. Their dependencies come from npm's cache where it has them (`--prefer-offline`).
 */
export async function installPackage(
  app: string,
  tarball: string,
  others: readonly string[] = [],
): Promise<void> {
  await mkdir(app, { recursive: true });
  await writeFile(
    join(app, 'package.json'),
    '{ "name": "app", "private": true, "type": "module" }',
  );
  const flags = ['--prefer-offline', '--no-audit', '--ignore-scripts'];
  await run('npm', ['install', ...flags, tarball, ...others], app);
}
