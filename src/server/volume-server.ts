/**
 * The volume server behind `snaptape serve`, in the way qemu-storage-daemon is one: it owns
 * volumes (holding their locks), exports each over NBD by name, and takes control requests that
 * start and steer sessions on them.
 *
 * Life cycle (a state machine, written as a table):
 *
 *   state      | start()            | shutdown()
 *   -----------+--------------------+----------------------------------------------
 *   (none)     | opens, listens     | -
 *   serving    | -                  | sessions → control → NBD → volumes, then closed
 *   closed     | -                  | no-op (returns the first report)
 *
 * Shutdown order and why:
 * 1. the session registry stops starting sessions and cancels every active one that can be
 *    cancelled; a cancelled backup persists its record as "cancelled" with its bitmap, so it is
 *    never reported complete (a session already completing is left to finish); it waits, bounded;
 * 2. the control listener closes (event streams have seen the sessions end);
 * 3. the NBD server stops accepting and drains its connections (queued replies are sent);
 * 4. every volume is synced and closed, which releases its lock; a served tape is closed.
 *
 * A backup tape, or a chain (`tapes`: a full backup, then its incrementals in order), is served as
 * one more export, read-only, under the last tape's name, the instant it holds
 * (techniques/restore/tape-volume-backend.ts); it is no volume: sessions and the control API do
 * not see it.
 */
import { LOG_EVENTS, type EventLogger } from '../base/log.js';
import { markOnOwningThread } from '../base/server-gc.js';
import { randomBytes } from 'node:crypto';
import { NbdServer } from '../export/nbd-server.js';
import { logNbdEvents } from './nbd-event-log.js';
import { SESSION_CREATORS, findClonesToResume, resumeClones, resumeMirrors } from './session-creators.js';
import { SESSION_TYPES, type ServeInfo, type ServeNbdAddress } from '../control-api/control-api-types.js';
import { UsageError } from '../errors/snaptape-error.js';
import { ControlServer } from './control-server.js';
import { checkBindHost, checkNbdAccess, type ControlAddress, type NbdAddress } from './listen-address.js';
import { groupIdOf } from '../base/unix-socket-file.js';
import { readPskFile } from '../export/nbd-tls.js';
import { ServedVolumes } from './served-volumes.js';
import { openTapeExport, type TapeVolumeBackend } from '../techniques/restore/index.js';
import { SessionRegistry } from './session-registry.js';
import { SecondarySplits } from './secondary-splits.js';

/** Random control token size: 24 bytes = 192 bits, printed as 48 hex digits. */
export const TOKEN_BYTES = 24;
/** Environment variable that supplies the TCP control token instead of a random one. */
export const TOKEN_ENV = 'SNAPTAPE_TOKEN';

export interface VolumeServerOptions {
  readonly images: readonly string[];
  /** A backup tape, or a chain (the full backup first, then its incrementals), to export read-only as the volume it holds. */
  readonly tapes?: readonly string[];
  readonly nbd: NbdAddress;
  /** Group allowed on the NBD unix socket (mode 0660); default: owner only (0600). */
  readonly nbdGroup?: string;
  /** psktool key file: TCP clients must STARTTLS with one of its keys. */
  readonly tlsPskFile?: string;
  /** Allows writable exports over plain TCP (prints a warning). */
  readonly insecureTcp?: boolean;
  /** NBD clients idle this long after the handshake are disconnected; default 5 minutes. */
  readonly nbdIdleTimeoutMs?: number;
  readonly control: ControlAddress;
  readonly readOnly?: boolean;
  readonly listenAny?: boolean;
  /** Enables test-only request fields (referenceCopy). */
  readonly testHooks?: boolean;
  /** TCP control token; default: $SNAPTAPE_TOKEN, else random. */
  readonly token?: string;
  /** Logs the start and stop (info), each session's states (info) and progress (debug). */
  readonly log?: EventLogger;
}

export interface ShutdownReport {
  readonly cancelledSessions: readonly string[];
  /** Sessions that had not settled within the shutdown bound (their records say running). */
  readonly unsettledSessions: readonly string[];
}

export function controlToken(fromEnv: string | undefined): string {
  return fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : randomBytes(TOKEN_BYTES).toString('hex');
}

/** The volume server of `snaptape serve`: owns volumes, exports them over NBD and takes control requests. Start it with VolumeServer.start. */
export class VolumeServer {
  // Set once.
  readonly info: ServeInfo;
  private readonly volumes: ServedVolumes;
  private readonly registry: SessionRegistry;
  private readonly nbd: NbdServer;
  private readonly control: ControlServer;
  private readonly tape: TapeVolumeBackend | undefined;
  // Main thread only.
  private stopping: Promise<ShutdownReport> | undefined;
  /** Logs the count of NBD lines the log's last window did not log (nbd-event-log.ts). */
  private endNbdLog: () => void = () => undefined;

  private readonly log: EventLogger;

  private constructor(parts: {
    info: ServeInfo;
    volumes: ServedVolumes;
    registry: SessionRegistry;
    nbd: NbdServer;
    control: ControlServer;
    tape: TapeVolumeBackend | undefined;
    log?: EventLogger;
  }) {
    this.tape = parts.tape;
    this.log = parts.log ?? (() => undefined);
    this.info = parts.info;
    this.volumes = parts.volumes;
    this.registry = parts.registry;
    this.nbd = parts.nbd;
    this.control = parts.control;
  }

  /** Opens and locks the volumes, takes up their mirrors and unfinished clones, and starts listening. Rejects with LockedError when a volume is in use, UsageError for a bad address, IoError when it cannot listen. */
  static async start(options: VolumeServerOptions): Promise<VolumeServer> {
    // Before the first connection: its socket reads would start V8's concurrent marking (base/server-gc.ts).
    markOnOwningThread();
    const listenAny = options.listenAny ?? false;
    if (options.nbdGroup !== undefined && options.nbd.kind !== 'unix') throw new UsageError('Cannot use --nbd-group: NBD does not listen on a unix socket');
    if (options.tlsPskFile !== undefined && options.nbd.kind !== 'tcp')
      throw new UsageError('Cannot use --tls-psk: NBD listens on a unix socket, which is not TLS');
    const tlsKeys = options.tlsPskFile !== undefined ? readPskFile(options.tlsPskFile) : undefined;
    const groupId = options.nbdGroup !== undefined ? groupIdOf(options.nbdGroup) : undefined;
    const warnings = [
      options.nbd.kind === 'tcp' ? checkBindHost(options.nbd.host, 'NBD', listenAny) : undefined,
      options.control.kind === 'tcp' ? checkBindHost(options.control.host, 'control', listenAny) : undefined,
    ].filter((w): w is string => w !== undefined);
    const token = options.control.kind === 'tcp' ? (options.token ?? controlToken(process.env[TOKEN_ENV])) : undefined;
    // Clones outlive the process: their evidence is read before the images are opened (and locked).
    const clonePlans = options.readOnly ? [] : findClonesToResume(options.images, warnings);
    const tapes = options.tapes ?? [];
    if (options.images.length === 0 && tapes.length === 0) throw new UsageError('Cannot serve: give an image or a --tape');
    const volumes = ServedVolumes.open(options.images, { readOnly: options.readOnly ?? false, allowNone: tapes.length > 0 });
    let tape: TapeVolumeBackend | undefined;
    try {
      tape = tapes.length > 0 ? openTapeExport(tapes) : undefined;
      const twin = tape === undefined ? undefined : volumes.list().find((v) => v.name === tape?.name);
      if (twin !== undefined) {
        throw new UsageError(`Cannot serve ${tape?.path}: its export name '${twin.name}' is also the name of ${twin.volume.path}`, { exportName: twin.name });
      }
      const access = { tls: tlsKeys !== undefined, insecureTcp: options.insecureTcp ?? false, allReadOnly: volumes.backends().every((b) => b.readOnly) };
      const warning = checkNbdAccess(options.nbd, access);
      if (warning !== undefined) warnings.push(warning);
    } catch (error) {
      tape?.close();
      volumes.closeAll();
      throw error;
    }
    // Splits taken from the secondary's side outlive the process: held before NBD listens.
    const secondarySplits = new SecondarySplits(volumes);
    const registry = new SessionRegistry(volumes, { testHooks: options.testHooks ?? false, secondarySplits });
    for (const type of SESSION_TYPES) registry.registerType(type, SESSION_CREATORS[type]);
    let nbd: NbdServer | undefined;
    let control: ControlServer | undefined;
    try {
      // Mirrors outlive the process: take up each one whose state file sits beside its primary,
      // before the NBD listener opens, so that no host write goes unmarked.
      warnings.push(...resumeMirrors(registry, volumes));
      warnings.push(...resumeClones(registry, volumes, clonePlans));
      const address = options.nbd;
      nbd = new NbdServer({
        exports: [...volumes.backends(), ...(tape !== undefined ? [tape] : [])],
        allowRemote: listenAny,
        idleTimeoutMs: options.nbdIdleTimeoutMs,
        ...(address.kind === 'tcp' ? { host: address.host, port: address.port } : {}),
        ...(tlsKeys !== undefined ? { tlsKeys } : {}),
      });
      const nbdAddress: ServeNbdAddress =
        address.kind === 'unix'
          ? { kind: 'unix', path: await nbd.listenUnix(address.path, groupId !== undefined ? { groupId } : {}), group: options.nbdGroup ?? null }
          : { kind: 'tcp', ...(await nbd.listen()), tls: tlsKeys !== undefined };
      control = new ControlServer({ address: options.control, volumes, registry, token, secondarySplits });
      const controlAddress = await control.listen();
      const info: ServeInfo = {
        pid: process.pid,
        nbd: {
          ...nbdAddress,
          exports: [
            ...volumes.list().map((v) => ({
              name: v.name,
              path: v.volume.path,
              sizeBytes: v.backend.sizeBytes,
              readOnly: v.backend.readOnly,
              ...(v.volume.geometry.kind === 'ckd' ? { sizeTable: v.volume.sizeTableOrigin } : {}),
            })),
            ...(tape !== undefined ? [{ name: tape.name, path: tape.path, sizeBytes: tape.sizeBytes, readOnly: true }] : []),
          ],
        },
        control: controlAddress.kind === 'unix' ? controlAddress : { ...controlAddress, token: token ?? '' },
        warnings,
      };
      const server = new VolumeServer({ info, volumes, registry, nbd, control, tape, log: options.log });
      if (options.log) {
        server.logSessions(options.log);
        server.endNbdLog = logNbdEvents(nbd, options.log);
      }
      // The token stays out of the log: a log file is read by more people than the server's stdout.
      const controlLogged = { ...info.control, ...('token' in info.control ? { token: '(not logged)' } : {}) };
      options.log?.(LOG_EVENTS.serveStarted, { pid: info.pid, nbd: info.nbd, control: controlLogged, warnings });
      return server;
    } catch (error) {
      await control?.close();
      await nbd?.close();
      tape?.close();
      volumes.closeAll();
      throw error;
    }
  }

  private logSessions(log: EventLogger): void {
    this.registry.subscribe((event) => {
      const s = event.session;
      const about = { session: s.id, type: s.type, volume: s.volume };
      if (event.kind === 'progress') log(LOG_EVENTS.sessionProgress, { ...about, progress: s.progress }, 'debug');
      else log(LOG_EVENTS.sessionState, { ...about, state: s.state, ...(s.error ? { error: s.error } : {}) });
    });
  }

  /** Shuts down in the order of the module comment. Idempotent. */
  shutdown(): Promise<ShutdownReport> {
    this.stopping ??= this.shutdownNow();
    return this.stopping;
  }

  /**
   * For an exit that cannot wait (a second signal): syncs, closes and unlocks every volume now,
   * without waiting for sessions or clients. Never throws; the process exits right after.
   */
  releaseVolumesNow(): void {
    try {
      this.volumes.closeAll();
    } catch {
      // The exit goes ahead: a volume that failed to close keeps its lock, which is stale once we are gone.
    }
  }

  private async shutdownNow(): Promise<ShutdownReport> {
    const cancelled = this.registry.active().map((s) => s.id);
    const unsettled = await this.registry.shutdown();
    await this.control.close();
    await this.nbd.close();
    this.endNbdLog();
    this.tape?.close();
    this.volumes.closeAll();
    this.log(LOG_EVENTS.serveStopped, { cancelledSessions: cancelled, unsettledSessions: unsettled });
    return { cancelledSessions: cancelled, unsettledSessions: unsettled };
  }
}
