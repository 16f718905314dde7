/** `snaptape drill <image>`: backup under load, restore into scratch, compare with the point in time. */
import type { Command } from 'commander';
import { runDrill, type DrillReport, parseLoadSpec, writeReport, LocalEventWriter, type TrackMapSnapshot, type BackupProgress } from '../../api/index.js';
import { VerifyError } from '../../errors/snaptape-error.js';
import { parseCount, printResult } from '../cli-output.js';
import { backupProgressBar, phaseProgressBar } from '../progress-bar.js';
import { formatBackupRun } from './backup-command.js';

interface DrillFlags {
  load: string;
  workers?: string;
  seed: string;
  inPlace?: boolean;
  keep?: boolean;
  json?: boolean;
  report?: string;
  events?: boolean;
  incremental?: string;
}

export function formatDrill(r: DrillReport): string {
  return [
    formatBackupRun(r.backup),
    `Restore into a scratch volume: ${r.restoreSeconds.toFixed(2)} s`,
    `Compare with the point-in-time reference: ${r.comparison.units} units, ${r.comparison.mismatched} mismatched${r.comparison.firstMismatch !== null ? ` (first: unit ${r.comparison.firstMismatch})` : ''}`,
    ...(r.incrementals ?? []).flatMap((inc, i) => [
      `Incremental ${i + 1}: ${inc.backup.summary.copiedInOrder + inc.backup.summary.copiedOutOfOrder} tracks, tape ${inc.backup.summary.tapeBytes} bytes, in ${inc.backup.summary.seconds.toFixed(2)} s`,
      `  restore of the chain up to it: ${inc.restoreSeconds.toFixed(2)} s; compare with its instant: ${inc.comparison.mismatched} of ${inc.comparison.units} units mismatched`,
    ]),
    `Drill ${r.pass ? 'PASSED' : 'FAILED'}${r.scratchDir !== '(removed)' ? ` (scratch files kept in ${r.scratchDir})` : ''}`,
  ].join('\n');
}

export function registerDrill(program: Command): void {
  program
    .command('drill <image>')
    .description('restore drill: back up under a synthetic load, restore into scratch, compare with the point in time')
    .option('--load <spec>', 'synthetic host writer: random:RATE', 'random:500')
    .option('--workers <n>', 'copy worker threads')
    .option('--seed <n>', 'seed of the load', '1')
    .option('--in-place', 'run on the image itself (its content is changed by the load)')
    .option('--keep', 'keep the scratch directory')
    .option('--json', 'machine-readable output')
    .option('--report <out.html>', 'write a self-contained HTML report (track map, timings, SHA-256s, the comparison)')
    .option('--incremental <n>', 'then N incremental backups under the same load; restore the chain up to each and compare it with that instant')
    .option('--events', 'print newline-delimited JSON progress events on stdout, then one {"kind":"drill"} result line')
    .action(async (image: string, flags: DrillFlags) => {
      const bar = backupProgressBar(!flags.json && !flags.events, 'units');
      // After the backups: the restore (SHA-256, copy) and the comparison (verify), on a bar of their own.
      const phaseBar = phaseProgressBar(flags.json || flags.events);
      const events = flags.events ? new LocalEventWriter({ volume: image, target: '(drill scratch tape)' }) : undefined;
      let lastProgress: BackupProgress | undefined;
      let trackMap: TrackMapSnapshot | undefined;
      const report = await runDrill({
        image,
        load: parseLoadSpec(flags.load),
        workers: flags.workers !== undefined ? parseCount(flags.workers, '--workers') : undefined,
        seed: parseCount(flags.seed, '--seed'),
        inPlace: flags.inPlace,
        keep: flags.keep,
        incremental: flags.incremental !== undefined ? parseCount(flags.incremental, '--incremental') : undefined,
        onProgress: (p) => {
          lastProgress = p;
          bar.update(p);
          events?.progress(p);
        },
        onPhaseProgress: (p) => {
          bar.stop();
          phaseBar.update(p);
        },
        onTrackMap: (map) => {
          trackMap = map;
        },
      }).finally(() => {
        bar.stop();
        phaseBar.stop();
      });
      if (flags.report) writeReport(flags.report, { title: `Restore drill of ${image}`, backup: report.backup, map: trackMap, drill: report });
      if (events) {
        if (lastProgress) events.end(lastProgress, { summary: report.backup.summary });
        process.stdout.write(`${JSON.stringify({ kind: 'drill', pass: report.pass, restoreSeconds: report.restoreSeconds, comparison: report.comparison })}\n`);
      } else {
        printResult(report, () => formatDrill(report), flags);
      }
      if (!report.pass)
        throw new VerifyError(
          `Cannot pass the drill on ${image}: ${[report.comparison, ...(report.incrementals ?? []).map((i) => i.comparison)].reduce((n, c) => n + c.mismatched, 0)} units differ from their point in time`,
          { path: image },
        );
    });
}
