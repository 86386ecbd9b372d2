import { Argument, Command, CommanderError } from 'commander';
import { DATASET_NAMES } from '../data/index.ts';
import { PocketrecError } from '../errors.ts';
import { dataListCommand, dataStatsCommand } from './data.ts';
import { infoCommand } from './info.ts';
import { EXIT, type Output, processOutput } from './output.ts';
import { verifyCommand } from './verify.ts';

function buildProgram(output: Output): Command {
  const program = new Command('pocketrec')
    .description('Train, compress, verify and inspect on-device recommendation models.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => output.out(s.trimEnd()),
      writeErr: (s) => output.err(s.trimEnd()),
    })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('info')
    .description('show what a model package is and how small it is (verifies it first)')
    .argument('<model-dir>', 'model package directory')
    .option('--json', 'print machine-readable JSON')
    .action((dir: string, options: { json?: boolean }) => infoCommand(dir, options, output));

  program
    .command('verify')
    .description('check every hash, shape, offset and weight of a model package')
    .argument('<model-dir>', 'model package directory')
    .option('--json', 'print machine-readable JSON')
    .action((dir: string, options: { json?: boolean }) => verifyCommand(dir, options, output));

  const data = program.command('data').description('inspect the data sets the toolkit trains on');
  data
    .command('list')
    .description('list the known data sets')
    .option('--json', 'print machine-readable JSON')
    .action((options: { json?: boolean }) => dataListCommand(options, output));
  data
    .command('stats')
    .description('load a data set with the training loaders and print its counts')
    .addArgument(new Argument('<dataset>', 'data set name').choices(DATASET_NAMES))
    .option('--data-dir <dir>', 'data directory (default: ../shared/data when it exists)')
    .option('--json', 'print machine-readable JSON')
    .action((name: string, options: { json?: boolean; dataDir?: string }) =>
      dataStatsCommand(name, options, output),
    );

  return program;
}

/** Runs the CLI and returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(
  argv: readonly string[],
  output: Output = processOutput,
): Promise<number> {
  const program = buildProgram(output);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      const ok =
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help';
      return ok ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof PocketrecError) {
      output.err(`pocketrec: ${error.message}`);
      return error.code === 'usage' ? EXIT.usage : EXIT.failure;
    }
    output.err(
      `pocketrec: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return EXIT.failure;
  }
}
