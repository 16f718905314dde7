/**
 * `snaptape snapshot define|execute|status` (the host's protocol, steps kept apart) and
 * `snaptape snapshot <src> <tgt> --volser NEW` (all steps at once), issue 6. With `--json` each
 * prints one JSON object. `execute --physical <image>` starts the background copy in a detached
 * `snapshot copy-physical` process and returns at once; `status` answers copying until it is done.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { runPhysicalCopy, defineSnapshot, executeSnapshot, snapshotStatus, type StatusResult, type PhysicalCopyPacing } from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { parseCount, parsePositiveNumber, printResult } from '../cli-output.js';
import { phaseProgressBar } from '../progress-bar.js';

interface SnapshotFlags {
  volser?: string;
  datasets?: string[];
  physical?: string;
  pauseAfter?: string;
  pauseMs?: string;
  throttleMbps?: string;
  json?: boolean;
}

/** The physical copy's pacing, from the flags that were given. */
function pacingOf(flags: SnapshotFlags): PhysicalCopyPacing {
  return {
    ...(flags.pauseAfter !== undefined ? { pauseAfter: parseCount(flags.pauseAfter, '--pause-after') } : {}),
    ...(flags.pauseMs !== undefined ? { pauseMs: parseCount(flags.pauseMs, '--pause-ms') } : {}),
    ...(flags.throttleMbps !== undefined ? { throttleMbps: parsePositiveNumber(flags.throttleMbps, '--throttle-mbps') } : {}),
  };
}

/** The pacing flags of the physical copy, on every command that can request one. */
function withPacingOptions(command: Command): Command {
  return command
    .option('--pause-after <m>', 'pause the physical copy after M tracks copied')
    .option('--pause-ms <ms>', 'length of that pause (default 5)')
    .option('--throttle-mbps <x>', 'cap the rate of the physical copy in MB/s');
}

function statusText(s: StatusResult): string {
  const copy = s.physical
    ? `; physical copy ${s.physical.path}: ${s.physical.tracksDone}/${s.physical.tracksTotal} tracks${s.physical.error ? ` (${s.physical.error})` : ''}`
    : '';
  return `${s.pollingToken}: ${s.state} (${s.mode} snapshot of ${s.source} to ${s.target}${s.volser ? `, volser ${s.volser}` : ''})${copy}`;
}

/** Starts `snaptape snapshot copy-physical <polling token>` detached from this process. */
function startBackgroundCopy(pollingToken: string): void {
  const script = process.argv[1] ?? '';
  const child = spawn(process.execPath, [script, 'snapshot', 'copy-physical', pollingToken], { detached: true, stdio: 'ignore' });
  child.unref();
}

export function registerSnapshot(program: Command): void {
  const group = withPacingOptions(program.command('snapshot'))
    .description('instant snapshot by track pointers between mapped volumes of one subsystem')
    .argument('[source]', 'source mapped volume')
    .argument('[target]', 'target mapped volume (made when missing)')
    .option('--volser <volser>', 'volser of the target (whole-volume snapshot)')
    .option('--datasets <patterns...>', "snapshot only these data sets, into the target's allocated extents")
    .option('--physical <image>', 'also write a standalone Hercules CKD image of the snapshot')
    .option('--json', 'machine-readable output');
  group.action(async (source: string | undefined, target: string | undefined, flags: SnapshotFlags) => {
    if (!source || !target) {
      if (flags.json) throw new UsageError('Cannot snapshot: give <source> and <target>, or a subcommand (define, execute, status)');
      group.help({ error: true });
      return;
    }
    const defined = defineSnapshot(source, target, { volser: flags.volser, datasets: flags.datasets });
    const executed = executeSnapshot(defined.token, { physical: flags.physical, pacing: pacingOf(flags) });
    if (flags.physical) {
      const bar = phaseProgressBar(flags.json);
      await runPhysicalCopy(executed.pollingToken, { onProgress: (p) => bar.update(p) }).finally(() => bar.stop());
    }
    const status = snapshotStatus(executed.pollingToken);
    const result = { ...status, tracks: executed.tracks, executeMs: Math.round(executed.ms * 10) / 10, datasets: defined.datasets };
    printResult(result, () => statusText(status), flags);
  });
  // The group's options (--volser, --json, ...) are parsed by the group even after a subcommand's
  // name (commander's default), so each subcommand reads them from there too.
  const withGroupFlags = (own: SnapshotFlags): SnapshotFlags => ({ ...group.opts<SnapshotFlags>(), ...own });
  group
    .command('define <source> <target>')
    .description('locate the source (volume or --datasets) and the target; give a token')
    .option('--volser <volser>', 'volser of the target (whole-volume snapshot)')
    .option('--datasets <patterns...>', 'snapshot only these data sets')
    .option('--json', 'machine-readable output')
    .action((source: string, target: string, own: SnapshotFlags) => {
      const flags = withGroupFlags(own);
      // The group parses its pacing flags after `define` too: they would do nothing here.
      if (Object.keys(pacingOf(flags)).length > 0)
        throw new UsageError('Cannot pace snapshot define: --pause-after, --pause-ms and --throttle-mbps go with execute --physical');
      const defined = defineSnapshot(source, target, { volser: flags.volser, datasets: flags.datasets });
      printResult(defined, () => defined.token, flags);
    });
  withPacingOptions(
    group
      .command('execute <token>')
      .description("copy the pointers and update the target's metadata; give a polling token")
      .option('--physical <image>', 'write a standalone CKD image of the snapshot in the background'),
  )
    .option('--json', 'machine-readable output')
    .action((token: string, own: SnapshotFlags) => {
      const flags = withGroupFlags(own);
      const executed = executeSnapshot(token, { physical: flags.physical, pacing: pacingOf(flags) });
      if (executed.state === 'copying') startBackgroundCopy(executed.pollingToken);
      printResult(executed, () => executed.pollingToken, flags);
    });
  group
    .command('status <pollingToken>')
    .description('copying | complete')
    .option('--json', 'machine-readable output')
    .action((pollingToken: string, own: SnapshotFlags) => {
      const flags = withGroupFlags(own);
      const status = snapshotStatus(pollingToken);
      printResult(status, () => statusText(status), flags);
    });
  group
    .command('copy-physical <pollingToken>', { hidden: true })
    .description('write the physical image of an executed snapshot (started by execute --physical)')
    .action(async (pollingToken: string) => {
      await runPhysicalCopy(pollingToken);
    });
}
