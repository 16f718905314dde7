/**
 * Puts the commands on the program without importing them all: only the module of the command
 * being run is imported (each imports the whole library). Every other command is a stand-in with
 * its name and description, which the top-level help lists as the real one would be listed.
 */
import { Help, type Command } from 'commander';
import { COMMAND_MODULES, type CommandSummary } from './commands/index.js';

/** The top-level command a run of `argv` goes to: its first operand, or the one after `help`. */
export function requestedCommand(argv: readonly string[]): string | undefined {
  const operands = argv.filter((arg) => !arg.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/** Registers the requested command's module for real and a stand-in for every other command. */
export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const requested = requestedCommand(argv);
  // A completion script is made from the whole tree, options and subcommands included.
  if (requested === 'completion') return registerAllCommands(program);
  const standInTerms = new Map<Command, string>();
  for (const module of COMMAND_MODULES) {
    if (module.commands.some((summary) => summary.name === requested)) {
      for (const register of await module.load()) register(program);
    } else {
      for (const summary of module.commands) standInTerms.set(addStandIn(program, summary), summary.term);
    }
  }
  program.configureHelp({
    // A stand-in declares no options or arguments: the help shows the real command's usage instead.
    subcommandTerm(this: Help, command: Command): string {
      return standInTerms.get(command) ?? Help.prototype.subcommandTerm.call(this, command);
    },
  });
}

/** Registers every command's module for real (the reference pages and shell completion need them all). */
export async function registerAllCommands(program: Command): Promise<void> {
  for (const module of COMMAND_MODULES) for (const register of await module.load()) register(program);
}

function addStandIn(program: Command, summary: CommandSummary): Command {
  return program
    .command(summary.name)
    .description(summary.description)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      // Unreachable while requestedCommand finds the operand commander dispatches on.
      throw new Error(`the module of command '${summary.name}' was not loaded`);
    });
}
