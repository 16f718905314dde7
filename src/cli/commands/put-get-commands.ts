/**
 * `snaptape put <image> <dsname> <hostfile> [--text]` and `snaptape get <image> <dsname> [outfile]
 * [--text] [--force]`: host file ↔ data set records. `get` without an outfile, or with `-`, writes to
 * stdout. Like `tape get`, `get` replaces an existing file only with `--force`, and a file it
 * could not write in whole is removed.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { withVolume, withInjectedVolume, getDataset, putDataset } from '../../api/index.js';
import { translateIoError } from '../../errors/io-error.js';
import { TargetExistsError, UsageError } from '../../errors/snaptape-error.js';
import { printResult } from '../cli-output.js';

interface TextFlags {
  text?: boolean;
  force?: boolean;
  json?: boolean;
  inject?: string;
}

/** Writes a host file, never over an existing one without `force`, and never leaves half of one. */
function writeHostFile(path: string, data: Buffer, force: boolean): void {
  try {
    writeFileSync(path, data, { flag: force ? 'w' : 'wx' });
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST')
      throw new TargetExistsError(`Cannot write ${path}: the file exists (use --force to replace it)`, { path });
    rmSync(path, { force: true });
    throw translateIoError(error, `write ${path}`, path);
  }
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
    .description('read a data set back into a host file (stdout without outfile, or with -)')
    .option('--text', 'EBCDIC fixed records become ASCII lines, trailing blanks dropped')
    .option('--force', 'replace an existing output file')
    .option('--json', 'machine-readable output (needs outfile)')
    .action((image: string, dsname: string, outfile: string | undefined, flags: TextFlags) => {
      if (flags.json && (outfile === undefined || outfile === '-'))
        throw new UsageError(`Cannot print ${dsname} as JSON: its data would go to stdout too; give an outfile with --json`);
      const data = withVolume(image, { readOnly: true }, (volume) => getDataset(volume, dsname, { text: flags.text }));
      if (outfile === undefined || outfile === '-') {
        process.stdout.write(data);
        return;
      }
      writeHostFile(outfile, data, flags.force ?? false);
      printResult({ dsname: dsname.toUpperCase(), outfile, bytes: data.length }, () => `${dsname.toUpperCase()}: ${data.length} bytes to ${outfile}`, flags);
    });
}
