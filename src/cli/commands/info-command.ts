/**
 * `snaptape info <image|tape> [--json]` (compare `qemu-img info --output=json`): the format, device
 * type and geometry of a volume, or the contents of a tape, its size and allocated bytes, and the
 * checkpoints and side files beside it. The work is describePath's; this file only prints.
 */
import type { Command } from 'commander';
import { formatTracking } from './track-command.js';
import { describePath, type PathInfo } from '../../api/index.js';
import { printResult } from '../cli-output.js';

function describeInfo(info: PathInfo): string {
  const lines: string[] = [];
  if (info.kind === 'image') {
    const format = info.compression !== null ? `${info.format} (${info.compression})` : info.format;
    const g = info.geometry;
    const shape = 'blocks' in g ? `${g.blocks} blocks` : `${g.cylinders} cylinders × ${g.heads} heads = ${g.tracks} tracks`;
    lines.push(
      `image: ${info.path}`,
      `format: ${format}`,
      `device type: ${info.deviceType}`,
      `volser: ${info.volser || '(none)'}`,
      `geometry: ${shape} of ${info.unitBytes} bytes`,
      `virtual size: ${info.virtualBytes} bytes`,
    );
    if (info.files.length > 1) lines.push(`files: ${info.files.join(' ')}`);
    if (info.tracking) lines.push(formatTracking(info.tracking));
  } else {
    lines.push(
      `tape: ${info.path}`,
      `format: ${info.format}`,
      `volser: ${info.labelled ? info.volser : '(unlabelled)'}`,
      `files: ${info.files} (${info.dataSets} labelled data sets), ${info.blocks} blocks, ${info.bytes} bytes${info.storedBytes !== info.bytes ? ` (${info.storedBytes} stored)` : ''}`,
      `label digest: ${info.labelDigest.of === 0 ? 'no data sets' : `${info.labelDigest.dataSets} of ${info.labelDigest.of} data sets`}`,
    );
  }
  lines.push(`file size: ${info.fileBytes} bytes, ${info.allocatedBytes} allocated on disk`);
  for (const c of info.checkpoints) {
    lines.push(`checkpoint: ${c.kind} ${c.status}${c.resumable ? ' (resumable)' : ''}, updated ${c.updatedAt}${c.reason ? `: ${c.reason}` : ''}`);
  }
  for (const s of info.sideFiles) lines.push(`side file: ${s.path} (${s.bytes} bytes): ${s.what}`);
  return lines.join('\n');
}

export function registerInfo(program: Command): void {
  program
    .command('info <path>')
    .description('describe an image or a tape: format, device type, geometry, size on disk, checkpoints and side files')
    .option('--json', 'machine-readable output')
    .action((path: string, flags: { json?: boolean }) => {
      const info = describePath(path);
      printResult(info, () => describeInfo(info), flags);
    });
}
