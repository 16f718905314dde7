/** `snaptape delete <image> <dsname>`: deletes a data set and returns its space. */
import type { Command } from 'commander';
import { withVolume, deleteDataset } from '../../api/index.js';
import { printResult } from '../cli-output.js';

export function registerDelete(program: Command): void {
  program
    .command('delete <image> <dsname>')
    .description('delete a data set')
    .option('--json', 'machine-readable output')
    .action((image: string, dsname: string, flags: { json?: boolean }) => {
      withVolume(image, {}, (volume) => deleteDataset(volume, dsname));
      printResult({ deleted: dsname.toUpperCase() }, () => `${dsname.toUpperCase()}: deleted`, flags);
    });
}
