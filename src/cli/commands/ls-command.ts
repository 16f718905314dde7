/** `snaptape ls <image> [--json]`: volser, device type, data sets with extents, free space. */
import type { Command } from 'commander';
import { describeVolume, trackingStatus, withVolume, type TrackingStatus, type VolumeListing } from '../../api/index.js';
import { formatTracking } from './track-command.js';
import { printResult } from '../cli-output.js';

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

export function formatListing(l: VolumeListing): string {
  const lines: string[] = [];
  if (l.format === 'fba') {
    lines.push(`${l.path}: VOLSER=${l.volser || '(none)'} FBA ${l.blocks} blocks of 512 bytes`);
    return lines.join('\n');
  }
  lines.push(`${l.path}: VOLSER=${l.volser} ${l.deviceType} ${l.cylinders} cylinders x ${l.heads} heads = ${l.tracks} tracks`);
  if (!l.vtoc) {
    lines.push(`no VTOC: ${l.vtocProblem ?? ''}`);
    return lines.join('\n');
  }
  lines.push(`VTOC at cyl ${l.vtoc.cylinder} head ${l.vtoc.head}, ${l.vtoc.tracks} tracks, ${l.vtoc.freeDscbs} free DSCBs`);
  lines.push(`${'Dsname'.padEnd(44)} CREDT ORG RECFM LRECL BLKSZ Key  Trks %Use #Ext 2ndry_alloc  Extents (cyl/head)`);
  for (const d of l.datasets) {
    const extents = d.extents.map((e) => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`).join(' ');
    lines.push(
      `${d.name.padEnd(44)} ${d.created} ${d.dsorg.padEnd(3)} ${d.recfm.padEnd(5)} ${d.lrecl ? pad(d.lrecl, 5) : '     '} ${pad(d.blksize, 5)} ${pad(d.keyLength, 3)} ${pad(d.tracks, 5)} ${pad(d.percentUsed, 4)} ${pad(d.extents.length, 4)} ${d.secondary.unit.padEnd(3)}${pad(d.secondary.quantity, 8)}  ${extents}`,
    );
  }
  const f = l.freeSpace;
  if (f)
    lines.push(`Free space: ${f.freeTracks} tracks (${f.freeCylinders} whole cylinders) in ${f.freeExtents} extents, largest ${f.largestFreeTracks} tracks`);
  return lines.join('\n');
}

export function registerLs(program: Command): void {
  program
    .command('ls <image>')
    .description('list the volume label, data sets and free space')
    .option('--json', 'machine-readable output')
    .action((image: string, flags: { json?: boolean }) => {
      const listing = withVolume(image, { readOnly: true }, describeVolume);
      const tracking: TrackingStatus | null = trackingStatus(image);
      // The checkpoints of a tracked volume are part of its listing (and of its JSON, as `tracking`).
      printResult(
        tracking ? { ...listing, tracking } : listing,
        () => [formatListing(listing), ...(tracking ? [formatTracking(tracking)] : [])].join('\n'),
        flags,
      );
    });
}
