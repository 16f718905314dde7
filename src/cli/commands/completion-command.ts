/** `snaptape completion bash|zsh`: prints a completion script made from the command tree (shell-completion.ts). */
import type { Command } from 'commander';
import { UsageError } from '../../errors/snaptape-error.js';
import { bashCompletion, zshCompletion } from '../shell-completion.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: bash (source it, or put it in bash_completion.d) or zsh (put it in $fpath as _snaptape)')
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') process.stdout.write(zshCompletion(program));
      else throw new UsageError(`Cannot make a completion script for "${shell}": the shells are bash and zsh`);
    });
}
