/**
 * `snaptape mirror create|status|split|rejoin|remove`: the mirror technique (issue 7) through the
 * control API of a running `snaptape serve` (`--server`), because a mirror lives in the server that
 * owns its primary. `<volume>` is the primary's export name (or the mirror session's id).
 *
 * `create --wait` and `rejoin --wait` draw a progress bar (on a TTY) for the initial copy or the
 * resync, and return once every mirror is ONGOING and in sync.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { ControlClient, parseControlEndpoint, type SessionInfo, type MirrorSessionStatus, type MirrorStatus } from '../../api/index.js';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { parseCount, parsePositiveNumber, printResult } from '../cli-output.js';
import { barsAllowed } from '../progress-bar.js';
import { registerMirrorBackup, runFromSecondary, withHookOptions, type HookFlags } from './mirror-backup-command.js';
import { splitBetweenHooks } from '../../api/index.js';

/** Status polls while waiting: often enough for a smooth bar, rare enough not to load the server. */
const WAIT_POLL_MS = 200;
/** Longest `--wait`: a resync of a 3390-54 over loopback fits well inside an hour. */
const MAX_WAIT_MS = 3_600_000;

interface ServerFlags {
  server: string;
  json?: boolean;
}

interface PacingFlags {
  pauseAfter?: string;
  pauseMs?: string;
  throttleMbps?: string;
}

/** The pacing fields of a mirror request, from the flags that were given. */
function pacingFields(flags: PacingFlags): { pauseAfter?: number; pauseMs?: number; throttleMbps?: number } {
  return {
    ...(flags.pauseAfter !== undefined ? { pauseAfter: parseCount(flags.pauseAfter, '--pause-after') } : {}),
    ...(flags.pauseMs !== undefined ? { pauseMs: parseCount(flags.pauseMs, '--pause-ms') } : {}),
    ...(flags.throttleMbps !== undefined ? { throttleMbps: parsePositiveNumber(flags.throttleMbps, '--throttle-mbps') } : {}),
  };
}

function statusOf(session: SessionInfo): MirrorSessionStatus {
  return session.progress as unknown as MirrorSessionStatus;
}

async function findMirror(client: ControlClient, volume: string): Promise<SessionInfo> {
  const sessions = await client.listSessions();
  const found = sessions.find((s) => s.type === 'mirror' && s.state === 'running' && (s.id === volume || s.volume === volume));
  if (!found)
    throw new SessionError(`Cannot find a mirror of ${volume} on the server at ${client.address}: no running mirror session has that volume or id`, { volume });
  return found;
}

function mirrorLine(m: MirrorStatus): string {
  const resync = m.resync && m.resync.finishedAt === null ? `  resync ${m.resync.copied + m.resync.sentByWrites}/${m.resync.total}` : '';
  const errors = m.trackErrorCount > 0 ? `  ${m.trackErrorCount} tracks in error (first: ${m.trackErrors[0]?.reason ?? ''})` : '';
  const last = m.lastError !== null && !m.inSync ? `  (${m.lastError})` : '';
  return `  ${m.mirror}  ${m.state.padEnd(13)} ${m.inSync ? 'in sync' : `${m.invalidTracks} invalid tracks`}${resync}  ${m.kind} ${m.target}${errors}${last}`;
}

function statusText(session: SessionInfo): string {
  const status = statusOf(session);
  return [
    `${session.id}  ${status.volume}  ${status.path}${status.recoveredUnclean ? '  (recovered from an unclean stop: a write may have been in flight, so every track of a mirror that was live is resent)' : ''}`,
    ...status.mirrors.map(mirrorLine),
  ].join('\n');
}

/** Polls until every mirror is in sync, drawing a bar of tracks made valid (TTY only). */
async function waitInSync(client: ControlClient, id: string, showBar: boolean): Promise<SessionInfo> {
  const bar =
    showBar && barsAllowed(false)
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: 'copy    {bar} {percentage}% | {value}/{total} tracks | {states}', hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let started = false;
  const deadline = Date.now() + MAX_WAIT_MS;
  try {
    // Bounded by the deadline.
    for (;;) {
      const session = await client.getSession(id);
      const mirrors = statusOf(session).mirrors;
      const total = mirrors.reduce((n, m) => n + (m.resync?.total ?? 0), 0);
      const done = mirrors.reduce((n, m) => n + (m.resync ? m.resync.copied + m.resync.sentByWrites : 0), 0);
      const states = mirrors.map((m) => `${m.mirror} ${m.state}`).join(', ');
      if (bar && !started) {
        bar.start(Math.max(total, 1), done, { states });
        started = true;
      } else bar?.update(done, { states });
      if (mirrors.every((m) => m.inSync) || session.state !== 'running') return session;
      if (mirrors.some((m) => m.trackErrorCount > 0 && m.resync?.finishedAt !== null)) return session;
      if (Date.now() > deadline) throw new SessionError(`Cannot wait for the mirror ${id}: not in sync within ${MAX_WAIT_MS} ms`, { session: id });
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  } finally {
    if (started) bar?.stop();
  }
}

export function registerMirror(program: Command): void {
  const mirror = program.command('mirror').description('mirror a served volume onto up to 3 secondaries; split for a point-in-time backup, rejoin to resync');
  mirror
    .command('create <volume> <secondaries...>')
    .description('mirror <volume> (an export of the server) onto image paths or host:port/export secondaries')
    .requiredOption('--server <socket|host:port>', 'control address of the server that owns the primary')
    .option('--wait', 'wait (with a progress bar) until the initial copy is done')
    .option('--force', 'overwrite a local secondary whose VTOC lists data sets (refused without it)')
    .option('--pause-after <m>', 'pause the initial copy and every resync after M tracks copied')
    .option('--pause-ms <ms>', 'length of that pause (default 5)')
    .option('--throttle-mbps <x>', 'cap the rate of the initial copy and every resync in MB/s')
    .option('--json', 'machine-readable output')
    .action(async (volume: string, secondaries: string[], flags: ServerFlags & PacingFlags & { wait?: boolean; force?: boolean }) => {
      const client = new ControlClient(parseControlEndpoint(flags.server));
      let session = await client.startSession({ type: 'mirror', volume, secondaries, ...(flags.force ? { force: true } : {}), ...pacingFields(flags) });
      if (flags.wait) session = await waitInSync(client, session.id, !flags.json);
      printResult(session, () => statusText(session), flags);
    });
  mirror
    .command('status [volume]')
    .description('link state, invalid tracks and resync progress of each mirror (all mirrors without <volume>)')
    .requiredOption('--server <socket|host:port>', 'control address of the server')
    .option('--json', 'machine-readable output')
    .action(async (volume: string | undefined, flags: ServerFlags) => {
      const client = new ControlClient(parseControlEndpoint(flags.server));
      const sessions =
        volume === undefined ? (await client.listSessions()).filter((s) => s.type === 'mirror' && s.state === 'running') : [await findMirror(client, volume)];
      printResult({ mirrors: sessions }, () => (sessions.length ? sessions.map(statusText).join('\n') : 'no mirrors'), flags);
    });
  for (const verb of ['split', 'rejoin'] as const) {
    const command = mirror
      .command(`${verb} <volume>`)
      .description(
        verb === 'split'
          ? 'freeze the secondaries at this instant (writes go on to the primary and mark tracks invalid)'
          : 'resync the tracks written since the split, in the background, then mirror again',
      )
      .requiredOption('--server <socket|host:port>', 'control address of the server')
      .option('--mirror <M2|M3|M4>', 'one mirror only (default: all)')
      .option('--wait', 'wait (with a progress bar) until the resync is done')
      .option('--from-secondary', "on the server of a remote secondary: <volume> is its export, split (or rejoined) from the secondary's side")
      .option('--json', 'machine-readable output');
    if (verb === 'split') withHookOptions(command);
    command.action(async (volume: string, flags: ServerFlags & HookFlags & { mirror?: string; wait?: boolean; fromSecondary?: boolean }) => {
      if (flags.fromSecondary) {
        if (flags.mirror !== undefined || flags.wait)
          throw new UsageError(`Cannot use --mirror or --wait with ${verb} --from-secondary: the secondary's server has one mirror of <volume>`);
        return runFromSecondary(verb, volume, flags);
      }
      const client = new ControlClient(parseControlEndpoint(flags.server));
      const found = await findMirror(client, volume);
      const hooks = {
        ...(flags.preSplit !== undefined ? { preSplit: flags.preSplit } : {}),
        ...(flags.postSplit !== undefined ? { postSplit: flags.postSplit } : {}),
      };
      let session =
        verb === 'split'
          ? (
              await splitBetweenHooks(hooks, { volume, side: 'primary', ...(flags.mirror !== undefined ? { mirror: flags.mirror.toUpperCase() } : {}) }, () =>
                client.splitMirror(found.id, flags.mirror),
              )
            ).result
          : await client.rejoinMirror(found.id, flags.mirror);
      if (flags.wait && verb === 'rejoin') session = await waitInSync(client, found.id, !flags.json);
      else if (flags.wait) throw new UsageError('Cannot use --wait with split: a split is done when it returns');
      printResult(session, () => statusText(session), flags);
    });
  }
  registerMirrorBackup(mirror);
  mirror
    .command('remove <volume>')
    .description('stop mirroring <volume> and delete its track-status file (the secondaries keep their data)')
    .requiredOption('--server <socket|host:port>', 'control address of the server')
    .option('--json', 'machine-readable output')
    .action(async (volume: string, flags: ServerFlags) => {
      const client = new ControlClient(parseControlEndpoint(flags.server));
      const found = await findMirror(client, volume);
      const session = await client.removeMirror(found.id);
      printResult(session, () => `${session.id}: mirror of ${session.volume} removed`, flags);
    });
}
