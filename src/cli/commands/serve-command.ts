/**
 * `snaptape serve <image>...`: the volume server (src/server/volume-server.ts), running until
 * SIGINT or SIGTERM. Also the small clients of its control API:
 * `snaptape sessions --server S` and `snaptape session show|wait|pause|resume|cancel ID --server S`.
 *
 * Signals: the first SIGINT/SIGTERM shuts down in order (running sessions are cancelled and
 * persisted as cancelled, NBD connections drained, volumes synced and unlocked, the socket file
 * removed) and exits 0; a second signal during that releases the volumes (synced, closed,
 * unlocked) and exits at once with status 1.
 */
import type { Command } from 'commander';
import {
  createEventLogger,
  ControlClient,
  parseControlEndpoint,
  type ServeNbdAddress,
  type SessionInfo,
  DEFAULT_NBD_SOCKET_SUFFIX,
  parseControlAddress,
  parseNbdAddress,
  VolumeServer,
  MAX_IDLE_TIMEOUT_MS,
} from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { printInfo, printResult } from '../cli-output.js';

/** After a clean shutdown, anything still holding the event loop gets this long before exit. */
const EXIT_GRACE_MS = 2_000;

interface ServeFlags {
  tape?: string[];
  nbd?: string;
  nbdGroup?: string;
  tlsPsk?: string;
  insecureTcp?: boolean;
  nbdIdleTimeout?: string;
  control?: string;
  readOnly?: boolean;
  listenAny?: boolean;
  testHooks?: boolean;
  json?: boolean;
  logLevel?: string;
  logFile?: string;
}

/** The NBD URI a client (qemu, libnbd) uses, with <export> for the export name. */
function nbdUri(nbd: ServeNbdAddress): string {
  if (nbd.kind === 'unix') return `nbd+unix:///<export>?socket=${nbd.path}${nbd.group !== null ? ` (group ${nbd.group})` : ''}`;
  const host = nbd.host.includes(':') ? `[${nbd.host}]` : nbd.host;
  return nbd.tls ? `nbds://${host}:${nbd.port}/<export> (TLS-PSK)` : `nbd://${host}:${nbd.port}/<export>`;
}

function serveText(server: VolumeServer): string {
  const { nbd, control, warnings } = server.info;
  const lines = [
    `snaptape serve: pid ${server.info.pid}`,
    `NBD:     ${nbdUri(nbd)}`,
    ...nbd.exports.map((e) => `  export ${e.name}: ${e.path} (${e.sizeBytes} bytes${e.readOnly ? ', read-only' : ''})`),
    control.kind === 'unix' ? `control: unix socket ${control.path}` : `control: http://${control.host}:${control.port} (token ${control.token})`,
    ...warnings.map((w) => `warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** `--nbd-idle-timeout SECONDS`: a positive number of seconds (fractions allowed), as milliseconds. */
function parseIdleTimeout(text: string): number {
  const seconds = Number(text);
  const ms = Math.round(seconds * 1000);
  if (!/^\d+(\.\d+)?$/.test(text) || ms < 1 || ms > MAX_IDLE_TIMEOUT_MS) {
    throw new UsageError(`Cannot parse --nbd-idle-timeout: "${text}" is not a number of seconds from 0.001 to ${Math.floor(MAX_IDLE_TIMEOUT_MS / 1000)}`, {
      value: text,
    });
  }
  return ms;
}

/**
 * Resolves on the first SIGINT/SIGTERM; a second one runs `beforeExit` (which must not throw and
 * must not wait) and exits at once with status 1.
 */
function firstSignal(beforeExit: () => void): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    const exitNow = (): void => {
      beforeExit();
      process.exit(1);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once('SIGINT', exitNow);
      process.once('SIGTERM', exitNow);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function serve(images: string[], flags: ServeFlags): Promise<void> {
  const tapes = flags.tape ?? [];
  if (images.length === 0 && tapes.length === 0) throw new UsageError('Cannot serve: give an image or a --tape');
  // A server of a tape alone puts its sockets beside the tape.
  const first = images[0] ?? tapes[0] ?? 'snaptape';
  const nbd = parseNbdAddress(flags.nbd ?? `unix:${first}${DEFAULT_NBD_SOCKET_SUFFIX}`);
  const nbdIdleTimeoutMs = flags.nbdIdleTimeout === undefined ? undefined : parseIdleTimeout(flags.nbdIdleTimeout);
  const control = parseControlAddress(flags.control ?? `${first}.sock`);
  // Handlers first: a signal that arrives while starting, or the instant the start line is out
  // (stdout to a pipe is synchronous), still shuts down in order.
  const logs = createEventLogger({ level: flags.logLevel, file: flags.logFile });
  let started: VolumeServer | undefined;
  const signalled = firstSignal(() => started?.releaseVolumesNow());
  const server = await VolumeServer.start({
    images,
    tapes,
    nbd,
    nbdIdleTimeoutMs,
    control,
    readOnly: flags.readOnly,
    listenAny: flags.listenAny,
    testHooks: flags.testHooks,
    nbdGroup: flags.nbdGroup,
    tlsPskFile: flags.tlsPsk,
    insecureTcp: flags.insecureTcp,
    log: logs.log,
  });
  started = server;
  for (const warning of server.info.warnings) process.stderr.write(`snaptape: warning: ${warning}\n`);
  process.stdout.write(flags.json ? `${JSON.stringify(server.info)}\n` : serveText(server));
  const signal = await signalled;
  const report = await server.shutdown();
  logs.flush();
  printInfo(
    `snaptape serve: ${signal}: stopped; cancelled sessions: ${report.cancelledSessions.join(', ') || 'none'}${report.unsettledSessions.length ? `; unsettled: ${report.unsettledSessions.join(', ')}` : ''}`,
  );
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
}

function sessionLine(s: SessionInfo): string {
  const p = s.progress as { bytesCopied?: number; bytesTotal?: number } | null;
  const share = p?.bytesTotal ? ` ${Math.floor((100 * (p.bytesCopied ?? 0)) / p.bytesTotal)}%` : '';
  return `${s.id}  ${s.type}  ${s.volume}  ${s.state}${share}  ${s.target}${s.error ? `  (${s.error.message})` : ''}`;
}

export function registerServe(program: Command): void {
  program
    .command('serve [images...]')
    .description(
      'own volumes, export them over NBD, and take control requests (JSON over HTTP); at start it takes up the mirrors and the unfinished clones (killed with a server) of the images it serves',
    )
    .option(
      '--tape <tapes...>',
      'also export the volume a whole-volume backup tape, or a chain (the full backup, then its incrementals in order), holds, read-only, with no restore (export name: the last tape file name without its extension)',
    )
    .option(
      '--nbd <unix:path|host:port>',
      `NBD listen address: a unix socket (mode 0600; default: the first image's path + ${DEFAULT_NBD_SOCKET_SUFFIX}), or TCP (needs --tls-psk, or --insecure-tcp, unless every volume is read-only)`,
    )
    .option('--nbd-group <group>', 'let this group use the NBD unix socket too (mode 0660)')
    .option('--tls-psk <file>', 'NBD over TCP requires TLS (NBD_OPT_STARTTLS) with a key from this psktool file (username:hexkey lines)')
    .option('--insecure-tcp', 'allow writable volumes over NBD on TCP without TLS: every local account can write them (prints a warning)')
    .option(
      '--nbd-idle-timeout <seconds>',
      'disconnect an NBD client that sends no request (or reads no reply) for this long after the handshake (default 300)',
    )
    .option('--control <socket|host:port>', 'control API: a unix socket path, or a loopback TCP address (needs a token; $SNAPTAPE_TOKEN or printed)')
    .option('--read-only', 'open the volumes read-only (no locks, no writes, no backups)')
    .option('--listen-any', 'allow non-loopback listen addresses (prints a warning)')
    .option('--test-hooks', 'enable test-only request fields (referenceCopy)')
    .option(
      '--log-level <level>',
      'log (JSON lines, pino) at this level: debug (with session progress), info (start, stop, session states), warn, error; to stderr unless --log-file',
    )
    .option('--log-file <path>', 'log to this file (at info unless --log-level)')
    .option('--json', 'print the start line as JSON')
    .action((images: string[], flags: ServeFlags) => serve(images, flags));

  program
    .command('sessions')
    .description('list the sessions of a running snaptape server')
    .requiredOption('--server <socket|host:port>', 'control address of the server')
    .option('--json', 'machine-readable output')
    .action(async (flags: { server: string; json?: boolean }) => {
      const sessions = await new ControlClient(parseControlEndpoint(flags.server)).listSessions();
      printResult({ sessions }, () => (sessions.length ? sessions.map(sessionLine).join('\n') : 'no sessions'), flags);
    });

  program
    .command('session <verb> <id>')
    .description('show, wait for, pause, resume or cancel a session of a running snaptape server')
    .requiredOption('--server <socket|host:port>', 'control address of the server')
    .option('--json', 'machine-readable output')
    .action(async (verb: string, id: string, flags: { server: string; json?: boolean }) => {
      const client = new ControlClient(parseControlEndpoint(flags.server));
      const actions: Record<string, () => Promise<SessionInfo>> = {
        show: () => client.getSession(id),
        wait: () => client.waitForSession(id),
        pause: () => client.pause(id),
        resume: () => client.resume(id),
        cancel: () => client.cancel(id),
      };
      const action = actions[verb];
      if (!action) throw new UsageError(`Cannot run session ${verb}: choose one of ${Object.keys(actions).join(', ')}`);
      const session = await action();
      printResult(session, () => sessionLine(session), flags);
    });
}
