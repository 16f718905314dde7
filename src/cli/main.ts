/**
 * The `snaptape` command line. Each command lives in its own file under commands/ and registers
 * itself on the program; this file only wires them up and turns failures into one line and an
 * exit status.
 */
import { Command, CommanderError } from 'commander';
import { reportFailure, setQuiet } from './cli-output.js';
import { UsageError } from '../errors/snaptape-error.js';
import { registerAllCommands, registerCommands } from './command-loader.js';

/** Exit status when the reader of stdout went away (`snaptape get … | head`): 128 + SIGPIPE, as a shell tool gives. */
const EXIT_STATUS_BROKEN_PIPE = 141;

/** A closed stdout ends the command quietly, with no stack trace: the reader chose to stop reading. */
function endQuietlyOnBrokenPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(EXIT_STATUS_BROKEN_PIPE);
  });
}

function baseProgram(): Command {
  return (
    new Command()
      .name('snaptape')
      .description('Hercules-compatible DASD volumes and virtual tapes, with point-in-time copy techniques')
      .version('0.1.0')
      .option('-q, --quiet', 'no progress bars and no informational lines (results and errors still print)')
      .exitOverride()
      // Commander's own error line is suppressed: failures are printed once, by reportFailure.
      .configureOutput({ writeErr: (text) => process.stderr.write(text), outputError: () => undefined })
  );
}

/** The program with the command `argv` runs loaded, and the other commands listed for its help. */
export async function createProgram(argv: readonly string[]): Promise<Command> {
  const program = baseProgram();
  await registerCommands(program, argv);
  setQuiet(false);
  program.hook('preAction', () => setQuiet(program.opts<{ quiet?: boolean }>().quiet === true));
  return program;
}

/** The whole command tree, every command loaded: what docs/cli.md shows and shell completion offers. */
export async function createFullProgram(): Promise<Command> {
  const program = baseProgram();
  await registerAllCommands(program);
  return program;
}

export async function runCli(argv: readonly string[]): Promise<number> {
  endQuietlyOnBrokenPipe();
  try {
    const program = await createProgram(argv);
    await program.parseAsync(argv as string[], { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its one line (unknown option, missing argument, --help).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return reportFailure(new UsageError(`Cannot run command: ${error.message.replace(/^error: /, '')}`), argv.includes('--json'));
    }
    return reportFailure(error, argv.includes('--json'));
  }
}
