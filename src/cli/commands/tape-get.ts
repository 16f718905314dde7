/**
 * `snaptape tape get <tape> <fileno> <outfile> [--text] [--force]`: one data set off a tape, like
 * `hetget`. A tape whose backup did not complete is refused as incomplete, as `tape ls` refuses it.
 */
import type { Command } from 'commander';
import { parseCount, printResult } from '../cli-output.js';
import { extractDataSet, checkTapeFinished } from '../../api/index.js';
import { tapeCommandGroup } from './tape-group.js';

interface TapeGetOptions {
  readonly text?: boolean;
  readonly force?: boolean;
  readonly json?: boolean;
}

export function registerTapeGet(program: Command): void {
  tapeCommandGroup(program)
    .command('get')
    .description('copy a data set off a tape (data set sequence number on SL tapes, file number on NL)')
    .argument('<tape>', 'tape file (.aws or .het)')
    .argument('<fileno>', 'data set sequence number, from 1')
    .argument('<outfile>', 'file to write')
    .option('--text', 'EBCDIC records become ASCII lines')
    .option('--force', 'replace an existing output file')
    .option('--json', 'print the result as JSON')
    .action((tape: string, fileno: string, outFile: string, options: TapeGetOptions) => {
      checkTapeFinished(tape);
      const result = extractDataSet(tape, parseCount(fileno, '<fileno>'), outFile, { text: options.text ?? false, force: options.force ?? false });
      printResult(
        result,
        () => `${outFile}: data set ${result.fileSequence} ${result.dsname}, ${result.blockCount} blocks, ${result.writtenBytes} bytes written`,
        options,
      );
    });
}
