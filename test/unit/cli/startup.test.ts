// `pocketrec --help` starts in a fraction of a second because registering the commands
// loads no model code: tfjs alone takes about a second to import. This runs the help of the
// program and of every command in a fresh Node process and checks that tfjs never loaded
// (it is CommonJS in Node, so it shows in require.cache), so an option whose default is
// read from a module that imports tfjs is caught here rather than in the startup benchmark
// (scripts/bench-cli-start.ts). Such defaults belong in a light module (src/cli/defaults.ts).
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

it('shows every help without loading tfjs', async () => {
  const main = pathToFileURL(join(root, 'src/cli/main.ts')).href;
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(main)});
    const quiet = { out() {}, err() {} };
    const commands = [];
    const helps = [await main(['--help'], quiet)];
    const listing = [];
    await main(['--help'], { out: (text) => listing.push(text), err() {} });
    for (const line of listing.join('\\n').split('\\n')) {
      const name = /^  ([a-z][a-z-]*) /.exec(line)?.[1];
      if (name && name !== 'help') commands.push(name);
    }
    for (const command of commands) helps.push(await main([command, '--help'], quiet));
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({
      commands,
      helps,
      tfjs: loaded.filter((file) => file.includes('@tensorflow')),
    }));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: root },
  );
  const { commands, helps, tfjs } = JSON.parse(stdout) as {
    commands: string[];
    helps: number[];
    tfjs: string[];
  };
  expect(commands).toEqual(expect.arrayContaining(['info', 'train', 'quantize', 'umec']));
  expect(helps.every((code) => code === 0)).toBe(true);
  expect(tfjs).toEqual([]);
});
