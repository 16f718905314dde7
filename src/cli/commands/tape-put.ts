/** `snaptape tape put <tape> <hostfile> --dsn NAME [--recfm F|FB|U] [--lrecl 80 --blksize 27920] [--text]`. */
import type { Command } from 'commander';
import { parseCount, printResult } from '../cli-output.js';
import { putHostFile } from '../../api/index.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';
import { tapeCommandGroup } from './tape-group.js';

interface TapePutOptions {
  readonly dsn: string;
  readonly recfm: string;
  readonly lrecl: string;
  readonly blksize: string;
  readonly text?: boolean;
  readonly json?: boolean;
}

export function registerTapePut(program: Command): void {
  tapeCommandGroup(program)
    .command('put')
    .description('append a host file to a tape as a labelled data set')
    .argument('<tape>', 'tape file (.aws)')
    .argument('<hostfile>', 'file to copy onto the tape')
    .requiredOption('--dsn <name>', 'data set name')
    .option('--recfm <recfm>', 'record format: F, FB or U', 'FB')
    .option('--lrecl <bytes>', 'record length', '80')
    .option('--blksize <bytes>', 'block size', '27920')
    .option('--text', 'ASCII lines become blank-padded EBCDIC records of LRECL')
    .option('--json', 'print the result as JSON')
    .action((tape: string, hostFile: string, options: TapePutOptions) => {
      const bar = phaseProgressBar(options.json);
      const result = withBar(bar, () =>
        putHostFile(tape, hostFile, {
          dsname: options.dsn,
          recordFormat: options.recfm,
          recordLengthBytes: parseCount(options.lrecl, '--lrecl'),
          blockSizeBytes: parseCount(options.blksize, '--blksize'),
          text: options.text ?? false,
          onProgress: (p) => bar.update(p),
        }),
      );
      printResult(
        result,
        () =>
          `${tape}: data set ${result.fileSequence} ${result.dsid} RECFM=${result.recordFormat} LRECL=${result.recordLengthBytes} BLKSIZE=${result.blockSizeBytes}, ${result.blockCount} blocks, ${result.byteCount} bytes`,
        options,
      );
    });
}
