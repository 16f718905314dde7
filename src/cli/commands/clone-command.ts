/**
 * `snaptape clone ...` (technique 4). A clone session lives in the process that owns both volumes:
 * - `snaptape serve SRC DST ...` owns them; `clone create|precopy|activate|status|terminate|list --server S`
 *   steer its sessions through the control API (S: the socket path or HOST:PORT);
 * - `clone run SRC DST` is a one-shot clone in this process: CREATE, PRECOPY (with --precopy),
 *   ACTIVATE, wait for the background copy, TERMINATE;
 * - `clone status --target DST` reads the record beside a destination (a clone run elsewhere, or
 *   interrupted: such a record says unfinished, never complete);
 * - `clone resume DST` takes up, in this process, a clone whose process died (SIGKILL, a crash) from
 *   the record and durable bitmap beside DST, and finishes it as `clone run` would. A server takes
 *   up the clones of the images it serves by itself when it starts again.
 */
import type { Command } from 'commander';
import {
  ControlClient,
  parseControlEndpoint,
  readCloneStatus,
  resumeClone,
  runClone,
  type StoredCloneStatus,
  exportNameFor,
  type SessionInfo,
  type CloneStatus,
} from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { parseCount, parsePositiveNumber, printResult } from '../cli-output.js';
import { phaseProgressBar } from '../progress-bar.js';

interface ServerFlags {
  server: string;
  json?: boolean;
}

function client(server: string): ControlClient {
  return new ControlClient(parseControlEndpoint(server));
}

function flagsText(flags: { precopy: boolean; active: boolean }): string {
  return [flags.precopy ? 'PRECOPY' : '', flags.active ? 'ACTIVE' : ''].filter((f) => f).join(' ') || '-';
}

function statusText(s: CloneStatus | StoredCloneStatus): string {
  // PRECOPY PB: tracks the destination holds from the precopy (cleared once a track is copied after ACTIVATE).
  const left =
    'indirect' in s
      ? `${s.tracksLeft} of ${s.tracksTotal} tracks left, ${s.indirect} indirect, ${s.precopied} precopied`
      : `${s.tracksLeft} of ${s.tracksTotal} tracks left${s.precopiedAtCheckpoint === null ? '' : `, ${s.precopiedAtCheckpoint} precopied`}`;
  const lines = [
    `${s.id}  ${s.source} -> ${s.target}`,
    `  phase ${s.phase}  flags ${flagsText(s.flags)}  OP ${s.op} ${s.opStatus} at ${s.opAt}`,
    `  ${left}, ${s.recopies} re-copies${s.activatedAt ? `, activated at ${s.activatedAt}` : ''}`,
  ];
  if ('unfinished' in s && s.unfinished)
    lines.push('  unfinished: the record is not final (the clone runs elsewhere, or was interrupted); the destination is incomplete');
  const error = 'error' in s ? s.error : s.reason;
  if (error) lines.push(`  error: ${error}`);
  return lines.join('\n');
}

function sessionStatus(info: SessionInfo): CloneStatus {
  if (info.type !== 'clone') throw new UsageError(`Cannot show session ${info.id} as a clone: it is a ${info.type} session`, { session: info.id });
  return info.progress as unknown as CloneStatus;
}

export function registerClone(program: Command): void {
  const clone = program.command('clone').description('clone a volume with PRECOPY, ACTIVATE and TERMINATE (technique 4)');

  clone
    .command('create <source> <target>')
    .description('CREATE a clone session on a running server (volumes by export name or image path)')
    .requiredOption('--server <socket|host:port>', 'control address of the server that owns both volumes')
    .option('--precopy', 'start the PRECOPY at once')
    .option('--activate', 'ACTIVE COPY: CREATE and ACTIVATE at once')
    .option('--datasets <patterns...>', 'extent mode: only these data sets take part')
    .option('--throttle-mbps <rate>', 'cap the background copy, MB/s for the session')
    .option('--pause-after <m>', 'pause the whole background copy after every M tracks copied')
    .option('--pause-ms <ms>', 'length of that pause')
    .option('--json', 'machine-readable output')
    .action(
      async (
        source: string,
        target: string,
        flags: ServerFlags & { precopy?: boolean; activate?: boolean; datasets?: string[]; throttleMbps?: string; pauseAfter?: string; pauseMs?: string },
      ) => {
        const info = await client(flags.server).startSession({
          type: 'clone',
          volume: exportNameFor(source),
          target: exportNameFor(target),
          ...(flags.precopy ? { precopy: true } : {}),
          ...(flags.activate ? { activate: true } : {}),
          ...(flags.datasets ? { datasets: flags.datasets } : {}),
          ...(flags.throttleMbps ? { throttleMbps: parsePositiveNumber(flags.throttleMbps, '--throttle-mbps') } : {}),
          ...(flags.pauseAfter !== undefined ? { pauseAfter: parseCount(flags.pauseAfter, '--pause-after') } : {}),
          ...(flags.pauseMs !== undefined ? { pauseMs: parseCount(flags.pauseMs, '--pause-ms') } : {}),
        });
        printResult(sessionStatus(info), () => statusText(sessionStatus(info)), flags);
      },
    );

  const verbs = {
    precopy: 'PRECOPY a CREATEd clone: copy in the background before ACTIVATE, re-copying the tracks the host writes meanwhile',
    activate: 'ACTIVATE: the destination is usable at once; the rest is copied in the background',
    terminate: 'TERMINATE a clone whose copy is done',
  } as const;
  for (const command of ['precopy', 'activate', 'terminate'] as const) {
    clone
      .command(`${command} <id>`)
      .description(verbs[command])
      .requiredOption('--server <socket|host:port>', 'control address of the server')
      .option('--json', 'machine-readable output')
      .action(async (id: string, flags: ServerFlags) => {
        const info = await client(flags.server).command(id, command);
        printResult(sessionStatus(info), () => statusText(sessionStatus(info)), flags);
      });
  }

  clone
    .command('status [id]')
    .description('state, tracks left and re-copies: of a live session (--server), or from the record beside a destination (--target)')
    .option('--server <socket|host:port>', 'control address of the server')
    .option('--target <image>', 'read the record beside this destination image instead')
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, flags: { server?: string; target?: string; json?: boolean }) => {
      if (flags.target !== undefined) {
        const stored = readCloneStatus(flags.target);
        printResult(stored, () => statusText(stored), flags);
        return;
      }
      if (flags.server === undefined || id === undefined)
        throw new UsageError('Cannot show a clone: give a session id with --server, or --target <destination image>');
      const status = sessionStatus(await client(flags.server).getSession(id));
      printResult(status, () => statusText(status), flags);
    });

  clone
    .command('list')
    .description('the clone sessions of a running server')
    .requiredOption('--server <socket|host:port>', 'control address of the server')
    .option('--json', 'machine-readable output')
    .action(async (flags: ServerFlags) => {
      const clones = (await client(flags.server).listSessions()).filter((s) => s.type === 'clone').map(sessionStatus);
      printResult({ clones }, () => (clones.length ? clones.map(statusText).join('\n') : 'no clone sessions'), flags);
    });

  clone
    .command('run <source> <target>')
    .description('a one-shot clone in this process: CREATE, PRECOPY, ACTIVATE, wait, TERMINATE')
    .option('--precopy', 'precopy before ACTIVATE (until a pass leaves nothing, or --precopy-seconds)')
    .option('--precopy-seconds <s>', 'precopy for this long')
    .option('--datasets <patterns...>', 'extent mode: only these data sets take part')
    .option('--json', 'machine-readable output')
    .action(async (source: string, target: string, flags: { precopy?: boolean; precopySeconds?: string; datasets?: string[]; json?: boolean }) => {
      const seconds = flags.precopySeconds === undefined ? undefined : parsePositiveNumber(flags.precopySeconds, '--precopy-seconds');
      const bar = phaseProgressBar(flags.json);
      const result = await runClone(source, target, {
        precopy: flags.precopy ?? seconds !== undefined,
        ...(seconds !== undefined ? { precopyMs: seconds * 1000 } : {}),
        ...(flags.datasets ? { datasets: flags.datasets } : {}),
        onProgress: (p) => bar.update(p),
      }).finally(() => bar.stop());
      printResult(
        result,
        () => `${statusText(result.final)}\n  at ACTIVATE ${result.atActivate.tracksLeft} tracks were left; background copy ${result.backgroundCopyMs} ms`,
        flags,
      );
    });

  clone
    .command('resume <target>')
    .description(
      'take up a clone whose process died (kill, crash) from the record and bitmap beside <target>, then finish it here: ' +
        'the precopy goes on, ACTIVATE (if it was not yet), the rest is copied, TERMINATE. Refused when another process wrote ' +
        'the source or the destination meanwhile (start a new clone then). `snaptape serve` with both images resumes by itself',
    )
    .option('--json', 'machine-readable output')
    .action(async (target: string, flags: { json?: boolean }) => {
      const bar = phaseProgressBar(flags.json);
      const result = await resumeClone(target, { onProgress: (p) => bar.update(p) }).finally(() => bar.stop());
      printResult(
        result,
        () =>
          `${statusText(result.final)}\n  resumed: at ACTIVATE ${result.atActivate.tracksLeft} tracks were left; background copy ${result.backgroundCopyMs} ms`,
        flags,
      );
    });
}
