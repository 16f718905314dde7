/**
 * `snaptape put <image> <dsname> <hostfile> [--text]` and `snaptape get <image> <dsname> [outfile]
 * [--text]`: host file ↔ data set records. `get` without an outfile writes to stdout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { withVolume } from '../../api/volume-api.js';
import { withInjectedVolume } from '../../api/fault-api.js';
import { translateIoError } from '../../errors/io-error.js';
import { getDataset, putDataset } from '../../vtoc/dataset-io.js';
import { printResult } from '../cli-output.js';

interface TextFlags {
  text?: boolean;
  json?: boolean;
  inject?: string;
}

function readHostFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw translateIoError(error, `read ${path}`, path);
  }
}

export function registerPutGet(program: Command): void {
  program
    .command('put <image> <dsname> <hostfile>')
    .description('write a host file into a data set as blocks of records')
    .option('--text', 'ASCII lines become blank-padded EBCDIC fixed records')
    .option('--json', 'machine-readable output')
    .option('--inject <spec>', 'inject faults into the volume, e.g. read:1:EIO (src/image/fault-plan.ts)')
    .action((image: string, dsname: string, hostfile: string, flags: TextFlags) => {
      const content = readHostFile(hostfile);
      const result = withInjectedVolume(image, flags.inject, (volume) => putDataset(volume, dsname, content, { text: flags.text }));
      printResult(result, () => `${result.dsname}: ${result.records} records in ${result.blocks} blocks on ${result.tracksUsed} tracks`, flags);
    });
  program
    .command('get <image> <dsname> [outfile]')
    .description('read a data set back into a host file (stdout without outfile)')
    .option('--text', 'EBCDIC fixed records become ASCII lines, trailing blanks dropped')
    .option('--json', 'machine-readable output (needs outfile)')
    .action((image: string, dsname: string, outfile: string | undefined, flags: TextFlags) => {
      const data = withVolume(image, { readOnly: true }, (volume) => getDataset(volume, dsname, { text: flags.text }));
      if (outfile === undefined) {
        process.stdout.write(data);
        return;
      }
      try {
        writeFileSync(outfile, data);
      } catch (error) {
        throw translateIoError(error, `write ${outfile}`, outfile);
      }
      printResult({ dsname: dsname.toUpperCase(), outfile, bytes: data.length }, () => `${dsname.toUpperCase()}: ${data.length} bytes to ${outfile}`, flags);
    });
}
