/**
 * The mirror's commands from the secondary's side (claims 1A/8A of US 5,857,208), against the
 * `snaptape serve` that owns a remote secondary:
 *
 *   mirror split <volume> --from-secondary     hold the export: the primary puts the mirror into backup mode
 *   mirror rejoin <volume> --from-secondary    release it: the primary's next connect rejoins
 *   mirror backup <volume> --to <tape> [--rejoin]
 *                                              split, back the split secondary up with the server's
 *                                              tape backup, and (with --rejoin) end the split once
 *                                              the backup completed: one command for the three steps
 *
 * `--pre-split CMD` and `--post-split CMD` (split-hooks.ts) run here, on the machine of the
 * command, around the split instant; they also work with the primary's `mirror split`.
 */
import type { Command } from 'commander';
import {
  ControlClient,
  parseControlEndpoint,
  splitBetweenHooks,
  type BackupProgress,
  type SecondarySplitInfo,
  type SessionInfo,
  type SplitHookResult,
} from '../../api/index.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { printResult } from '../cli-output.js';
import { backupProgressBar } from '../progress-bar.js';

/** How long the command waits for the server to end the split after the backup completed. */
const REJOIN_WAIT_MS = 10_000;
const REJOIN_POLL_MS = 50;

export interface HookFlags {
  preSplit?: string;
  postSplit?: string;
}

interface SecondaryFlags extends HookFlags {
  server: string;
  json?: boolean;
}

/** Adds the hook options to a command that splits. */
export function withHookOptions(command: Command): Command {
  return command
    .option('--pre-split <cmd>', 'run this shell command before the split (e.g. quiesce a database); if it fails, nothing is split')
    .option('--post-split <cmd>', 'run this shell command right after the split (e.g. let the database write again)');
}

function hooksOf(flags: HookFlags): { preSplit?: string; postSplit?: string } {
  return { ...(flags.preSplit !== undefined ? { preSplit: flags.preSplit } : {}), ...(flags.postSplit !== undefined ? { postSplit: flags.postSplit } : {}) };
}

function hookLines(hooks: readonly SplitHookResult[]): string[] {
  return hooks.map((h) => `  ${h.phase} hook done in ${h.durationMs} ms`);
}

function splitLine(info: SecondarySplitInfo): string {
  return info.split
    ? `${info.volume}: split from the secondary's side at ${info.splitAt ?? '?'}`
    : `${info.volume}: not split (the primary's mirror rejoins on its next connect)`;
}

/** `mirror split --from-secondary` and `mirror rejoin --from-secondary`. */
export async function runFromSecondary(verb: 'split' | 'rejoin', volume: string, flags: SecondaryFlags): Promise<void> {
  const client = new ControlClient(parseControlEndpoint(flags.server));
  if (verb === 'rejoin') {
    const info = await client.rejoinSecondary(volume);
    printResult({ split: info }, () => splitLine(info), flags);
    return;
  }
  const { result, hooks } = await splitBetweenHooks(hooksOf(flags), { volume, side: 'secondary' }, () => client.splitSecondary(volume));
  printResult({ split: result, hooks }, () => [splitLine(result), ...hookLines(hooks)].join('\n'), flags);
}

/** Waits until the server has ended the split (it does once the backup completed). */
async function waitRejoined(client: ControlClient, volume: string): Promise<boolean> {
  const deadline = Date.now() + REJOIN_WAIT_MS;
  // Bounded by the deadline.
  while (Date.now() < deadline) {
    const info = (await client.listVolumes()).find((v) => v.name === volume);
    if (info !== undefined && info.secondarySplitAt === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, REJOIN_POLL_MS));
  }
  return false;
}

export function registerMirrorBackup(mirror: Command): void {
  withHookOptions(
    mirror
      .command('backup <volume>')
      .description("from a remote secondary's server: split <volume> (its export), back it up onto a tape, and with --rejoin end the split")
      .requiredOption('--server <socket|host:port>', "control address of the secondary's server (the one that serves <volume>)")
      .requiredOption('--to <tape>', 'the tape to write (a path on the server)')
      .option('--rejoin', 'end the split once the backup completed, so the primary resyncs and mirrors again'),
  )
    .option('--json', 'machine-readable output')
    .action(async (volume: string, flags: SecondaryFlags & { to: string; rejoin?: boolean }) => {
      const client = new ControlClient(parseControlEndpoint(flags.server));
      const { result: split, hooks } = await splitBetweenHooks(hooksOf(flags), { volume, side: 'secondary' }, () => client.splitSecondary(volume));
      let backup: SessionInfo;
      // The server's backup session, drawn as `backup --server` draws it.
      const bar = backupProgressBar(!flags.json, 'units');
      try {
        const started = await client.startSession({ type: 'backup', volume, tape: flags.to, ...(flags.rejoin ? { rejoinSecondary: true } : {}) });
        backup = await client.waitForSession(started.id, (info) => {
          if (info.progress) bar.update(info.progress as unknown as BackupProgress);
        });
        bar.stop();
      } catch (error) {
        bar.stop();
        const why = error instanceof Error ? error.message : String(error);
        throw new SessionError(`Cannot back up the split secondary ${volume}: ${why}; it stays split (end it with mirror rejoin ${volume} --from-secondary)`, {
          volume,
        });
      }
      if (backup.state !== 'completed')
        throw new SessionError(
          `Cannot back up the split secondary ${volume}: session ${backup.id} is ${backup.state}${backup.error ? `: ${backup.error.message}` : ''}; it stays split (end it with mirror rejoin ${volume} --from-secondary)`,
          { volume, session: backup.id },
        );
      const rejoined = flags.rejoin === true && (await waitRejoined(client, volume));
      if (flags.rejoin === true && !rejoined)
        throw new SessionError(`Cannot rejoin ${volume} after its backup (session ${backup.id}): the server still has it split after ${REJOIN_WAIT_MS} ms`, {
          volume,
          session: backup.id,
        });
      printResult(
        { split, hooks, backup, rejoined },
        () =>
          [
            splitLine(split),
            ...hookLines(hooks),
            `  backed up onto ${flags.to} (session ${backup.id})`,
            rejoined
              ? `  split ended: the primary's mirror rejoins on its next connect`
              : `  still split: end it with mirror rejoin ${volume} --from-secondary`,
          ].join('\n'),
        flags,
      );
    });
}
