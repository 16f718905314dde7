/**
 * `snaptape tape ls <tape> [--json]`: the volume, its data sets and its files between tapemarks. A
 * tape whose backup did not complete is refused as incomplete, as `verify` refuses it (issue 18.8):
 * its blocks past the last one written are not a tape, so a listing would be a chunk error.
 */
import type { Command } from 'commander';
import { printResult } from '../cli-output.js';
import { listTape, type TapeListing, checkTapeFinished } from '../../api/index.js';
import { tapeCommandGroup } from './tape-group.js';

function listingText(listing: TapeListing): string {
  const lines: string[] = [];
  const kind = listing.labelled ? `volume ${listing.volser}${listing.owner ? ` (owner ${listing.owner})` : ''}, standard labels` : 'no labels (NL)';
  lines.push(`${listing.path}: ${kind}, ${listing.sizeBytes} bytes${listing.blank ? ', blank' : ''}`);
  if (listing.dataSets.length > 0) lines.push('data sets:');
  for (const d of listing.dataSets) {
    const dcb = listing.labelled ? ` RECFM=${d.recordFormat} LRECL=${d.recordLengthBytes} BLKSIZE=${d.blockSizeBytes}` : '';
    lines.push(`  ${String(d.fileSequence).padStart(4)} ${d.dsname.padEnd(17)}${dcb} blocks=${d.blockCount} bytes=${d.byteCount} (file ${d.dataFileNumber})`);
    for (const [i, text] of d.userHeaderLabels.entries()) lines.push(`       UHL${i + 1} ${text}`);
    for (const [i, text] of d.userTrailerLabels.entries()) lines.push(`       UTL${i + 1} ${text}`);
  }
  lines.push('files:');
  for (const f of listing.files) {
    lines.push(
      `  file ${f.fileNumber}: blocks=${f.blockCount} bytes=${f.byteCount} min=${f.minBlockBytes} max=${f.maxBlockBytes} tapemark at block ${f.tapemarkBlockNumber} (byte offset ${f.tapemarkOffsetBytes})`,
    );
  }
  lines.push(`tapemarks: ${listing.tapemarkCount}`);
  return lines.join('\n');
}

export function registerTapeLs(program: Command): void {
  tapeCommandGroup(program)
    .command('ls')
    .description('list the labels, data sets and files of a tape')
    .argument('<tape>', 'tape file (.aws or .het)')
    .option('--json', 'print the listing as JSON')
    .action((tape: string, options: { readonly json?: boolean }) => {
      checkTapeFinished(tape);
      const listing = listTape(tape);
      printResult(listing, () => listingText(listing), options);
    });
}
