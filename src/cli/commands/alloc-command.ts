/** `snaptape alloc <image> <dsname> (--tracks N | --cyls N)`: allocates a data set. */
import type { Command } from 'commander';
import { withVolume, allocateDataset, parseDsorg, parseRecfm } from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { parseCount, printResult } from '../cli-output.js';

interface AllocFlags {
  tracks?: string;
  cyls?: string;
  recfm: string;
  lrecl: string;
  blksize: string;
  dsorg: string;
  dir?: string;
  secondary?: string;
  json?: boolean;
}

export function registerAlloc(program: Command): void {
  program
    .command('alloc <image> <dsname>')
    .description('allocate a data set in tracks or cylinders')
    .option('--tracks <n>', 'primary space in tracks')
    .option('--cyls <n>', 'primary space in whole cylinders')
    .option('--recfm <recfm>', 'record format: F, FB, V, VB, U', 'FB')
    .option('--lrecl <n>', 'record length', '80')
    .option('--blksize <n>', 'block size', '27920')
    .option('--dsorg <dsorg>', 'organisation: PS, PO, DA', 'PS')
    .option('--dir <n>', 'directory blocks of a PO data set', '1')
    .option('--secondary <n>', 'secondary quantity recorded in the Format-1')
    .option('--json', 'machine-readable output')
    .action((image: string, dsname: string, flags: AllocFlags) => {
      if ((flags.tracks === undefined) === (flags.cyls === undefined)) throw new UsageError('Cannot allocate: give exactly one of --tracks N or --cyls N');
      const entry = withVolume(image, {}, (volume) =>
        allocateDataset(volume, {
          name: dsname,
          tracks: flags.tracks !== undefined ? parseCount(flags.tracks, '--tracks') : undefined,
          cylinders: flags.cyls !== undefined ? parseCount(flags.cyls, '--cyls') : undefined,
          dsorg: parseDsorg(flags.dsorg),
          recfm: parseRecfm(flags.recfm),
          recordLength: parseCount(flags.lrecl, '--lrecl'),
          blockSize: parseCount(flags.blksize, '--blksize'),
          secondary: flags.secondary !== undefined ? parseCount(flags.secondary, '--secondary') : undefined,
          directoryBlocks: flags.dir !== undefined ? parseCount(flags.dir, '--dir') : undefined,
        }),
      );
      const result = {
        dsname: entry.name,
        tracks: entry.trackCount,
        extents: entry.extents.map((e) => ({ sequence: e.sequence, begin: e.begin, end: e.end })),
      };
      const text = () =>
        `${entry.name}: ${entry.trackCount} tracks in ${entry.extents.length} extent(s): ` +
        entry.extents.map((e) => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`).join(', ');
      printResult(result, text, flags);
    });
}
