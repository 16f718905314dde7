/** `snaptape map <tape> --svg out.svg`: draws the track map of a finished backup (`<tape>.map.json`). */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { translateIoError } from '../../errors/io-error.js';
import { readFinishedMap } from '../../live/finished-map.js';
import { renderTrackMapSvg } from '../../live/track-map-svg.js';
import { printResult } from '../cli-output.js';

export function registerMap(program: Command): void {
  program
    .command('map <tape>')
    .description('draw the track map of a finished backup (from <tape>.map.json, written when it completed)')
    .option('--svg <out.svg>', 'write the map as SVG to this file')
    .option('--json', 'machine-readable output (the counts)')
    .action((tape: string, flags: { svg?: string; json?: boolean }) => {
      const map = readFinishedMap(tape);
      if (flags.svg) {
        try {
          writeFileSync(flags.svg, `${renderTrackMapSvg(map)}\n`);
        } catch (error) {
          throw translateIoError(error, 'write the SVG map', flags.svg);
        }
      }
      const result = { unitKind: map.unitKind, unitCount: map.unitCount, counts: map.counts, hostWrittenUnits: map.hostWrittenUnits, svg: flags.svg ?? null };
      printResult(result, () => [
        `${map.unitCount} ${map.unitKind}s (${map.columns} × ${map.rows}): in order ${map.counts.copiedInOrder}, out of order ${map.counts.copiedOutOfOrder}, pending ${map.counts.pending}, not in the session ${map.counts.notInSession}; written by the host ${map.hostWrittenUnits}`,
        ...(flags.svg ? [`SVG written to ${flags.svg}`] : []),
      ].join('\n'), flags);
    });
}
