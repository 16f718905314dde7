/**
 * The `snaptape` command line. Each command lives in its own file under commands/ and registers
 * itself on the program; this file only wires them up and turns failures into one line and an
 * exit status.
 */
import { Command, CommanderError } from 'commander';
import { reportFailure } from './cli-output.js';
import { UsageError } from '../errors/snaptape-error.js';
import { COMMANDS } from './commands/index.js';

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = new Command();
  program
    .name('snaptape')
    .description('Hercules-compatible DASD volumes and virtual tapes, with point-in-time copy techniques')
    .version('0.1.0')
    .exitOverride()
    // Commander's own error line is suppressed: failures are printed once, by reportFailure.
    .configureOutput({ writeErr: (text) => process.stderr.write(text), outputError: () => undefined });
  for (const register of COMMANDS) register(program);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its one line (unknown option, missing argument, --help).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return reportFailure(new UsageError(`Cannot run command: ${error.message.replace(/^error: /, '')}`), false);
    }
    return reportFailure(error, argv.includes('--json'));
  }
}
