/**
 * `snaptape track <image> [--checkpoint NAME]`: start durable change tracking of a volume (its side
 * files `<image>.tracking` and `<image>.tracking.json`), set a named checkpoint, and show them.
 */
import type { Command } from 'commander';
import { trackVolume, type TrackingStatus } from '../../api/index.js';
import { printResult } from '../cli-output.js';

export function formatTracking(t: TrackingStatus): string {
  const lines = [`change tracking: era ${t.era}, ${t.checkpoints.length} checkpoint(s)${t.holder ? `, held by process ${t.holder.pid}` : ''}`];
  for (const c of t.checkpoints) {
    const tape = c.tape ? ` tape ${c.tape.path} (${c.tape.volser}, ${c.tape.complete ? 'complete' : 'incomplete'})` : '';
    lines.push(`  checkpoint ${c.name.padEnd(24)} era ${String(c.era).padStart(5)} at ${c.at}${tape}${c.usable ? '' : ' NOT USABLE as a base'}`);
  }
  if (t.invalidReason) lines.push(`  older checkpoints are not usable: ${t.invalidReason}`);
  return lines.join('\n');
}

export function registerTrack(program: Command): void {
  program
    .command('track <image>')
    .description('start durable change tracking of a volume, set a named checkpoint, or show its checkpoints')
    .option('--checkpoint <name>', 'set this named checkpoint now (a later backup --since NAME copies what changed after it)')
    .option('--json', 'machine-readable output')
    .action((image: string, flags: { checkpoint?: string; json?: boolean }) => {
      const status = trackVolume(image, { checkpoint: flags.checkpoint });
      printResult(status, () => `${image}: ${formatTracking(status)}`, flags);
    });
}
