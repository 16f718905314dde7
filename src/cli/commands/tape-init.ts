/** `snaptape tape init <tape> --volser T00001 [--owner X] [--nl] [--force]`: a blank SL or NL tape. */
import type { Command } from 'commander';
import { printResult } from '../cli-output.js';
import { initTape } from '../../api/index.js';
import { tapeCommandGroup } from './tape-group.js';
import { UsageError } from '../../errors/snaptape-error.js';

interface TapeInitOptions {
  readonly volser?: string;
  readonly owner?: string;
  readonly nl?: boolean;
  readonly force?: boolean;
  readonly json?: boolean;
}

export function registerTapeInit(program: Command): void {
  tapeCommandGroup(program)
    .command('init')
    .description('make a blank tape: VOL1 + dummy HDR1 + TM (standard labels) or TM TM (--nl)')
    .argument('<tape>', 'tape file to create (.aws)')
    .option('--volser <volser>', 'volume serial (1-6 characters)')
    .option('--owner <owner>', 'owner in VOL1 (up to 10 characters)')
    .option('--nl', 'unlabelled tape')
    .option('--force', 'replace an existing file')
    .option('--json', 'print the result as JSON')
    .action((tape: string, options: TapeInitOptions) => {
      if (!options.nl && options.volser === undefined) throw new UsageError('Cannot initialise a labelled tape: --volser is required (or use --nl)');
      const result = initTape(tape, { labelled: !options.nl, volser: options.volser, owner: options.owner, force: options.force });
      printResult(result, () => `${tape}: ${result.labelled ? `SL volume ${result.volser}` : 'NL tape'}, ${result.sizeBytes} bytes`, options);
    });
}
