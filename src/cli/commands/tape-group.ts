/** The `tape` command group: each `tape …` command file adds its subcommand to this one parent. */
import type { Command } from 'commander';

export function tapeCommandGroup(program: Command): Command {
  const existing = program.commands.find((command) => command.name() === 'tape');
  return existing ?? program.command('tape').description('AWSTAPE/HET virtual tapes with IBM standard labels');
}
