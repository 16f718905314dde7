/**
 * `snaptape map`: draws a track map as SVG, and prints its counts.
 * - `snaptape map <tape> --svg out.svg`: a finished backup's map (`<tape>.map.json`, written when
 *   it completed; a `.map.json` path works too);
 * - `snaptape map <session-id> --server <socket|host:port> --svg out.svg`: a session running on a
 *   `snaptape serve` daemon (backup, clone or mirror), fetched now through the control API
 *   (GET /sessions/:id/map). For a mirror, `--mirror M3` chooses the secondary.
 * Disambiguation: `--server` given means the argument is a session id; without it, a tape path.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ControlClient, parseControlEndpoint, readFinishedMap, renderTrackMapSvg, type TrackMapSnapshot } from '../../api/index.js';
import { translateIoError } from '../../errors/io-error.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { printResult } from '../cli-output.js';

interface MapFlags {
  svg?: string;
  server?: string;
  mirror?: string;
  json?: boolean;
}

async function loadMap(subject: string, flags: MapFlags): Promise<TrackMapSnapshot> {
  if (flags.server === undefined) {
    if (flags.mirror !== undefined)
      throw new UsageError(`Cannot draw mirror ${flags.mirror} of ${subject}: --mirror needs --server (a running mirror session)`, { path: subject });
    return readFinishedMap(subject);
  }
  const client = new ControlClient(parseControlEndpoint(flags.server));
  return client.trackMap(subject, flags.mirror === undefined ? {} : { mirror: flags.mirror });
}

function countsText(map: TrackMapSnapshot): string {
  const of = map.subject !== undefined ? ` ${map.subject}` : '';
  const counts = map.legend.map((e) => `${e.label} ${map.counts[e.name]}`).join(', ');
  return `${map.kind}${of}: ${map.unitCount} ${map.unitKind}s (${map.columns} × ${map.rows}): ${counts}; written by the host ${map.hostWrittenUnits}`;
}

export function registerMap(program: Command): void {
  program
    .command('map <tape|session>')
    .description('draw a track map: of a finished backup (<tape>.map.json), or with --server of a running session (<session> is its id)')
    .option('--server <socket|host:port>', 'the argument is a session id on this `snaptape serve` daemon (token in $SNAPTAPE_TOKEN for TCP): fetch its map now')
    .option('--mirror <M2|M3|M4>', 'with --server, a mirror session: the secondary to draw (default: the one being copied, else out of sync, else M2)')
    .option('--svg <out.svg>', 'write the map as SVG to this file')
    .option('--json', 'machine-readable output (the counts)')
    .action(async (subject: string, flags: MapFlags) => {
      const map = await loadMap(subject, flags);
      if (flags.svg) {
        try {
          writeFileSync(flags.svg, `${renderTrackMapSvg(map)}\n`);
        } catch (error) {
          throw translateIoError(error, 'write the SVG map', flags.svg);
        }
      }
      const result = {
        kind: map.kind,
        subject: map.subject ?? null,
        unitKind: map.unitKind,
        unitCount: map.unitCount,
        counts: map.counts,
        hostWrittenUnits: map.hostWrittenUnits,
        hostWrites: map.hostWrites,
        svg: flags.svg ?? null,
      };
      printResult(result, () => [countsText(map), ...(flags.svg ? [`SVG written to ${flags.svg}`] : [])].join('\n'), flags);
    });
}
