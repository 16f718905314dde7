/**
 * The `backup` session type of the server: a TapeBackupSession on one served volume, started by
 * POST /sessions. `TapeBackupSession.start` runs synchronously inside the request handler, between
 * two NBD requests, so the tape holds the volume as it was when the request was processed.
 *
 * Test hook: with `--test-hooks`, a `referenceCopy` path makes the server copy the image file there
 * synchronously right before the start, so a test holds a reference of the very same instant.
 *
 * Invariants: `settled` resolves once the TapeBackupSession has persisted its final record
 * (completed, failed or cancelled); the wrapper forwards every state change, each progress sample,
 * and one final `end` event.
 */
import { EventEmitter } from 'node:events';
import { copyFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isSnaptapeError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { MAX_COPY_WORKERS } from '../engine/copy-pool.js';
import type { SessionState } from '../engine/session-state.js';
import { TapeBackupSession, type BackupSummary } from '../techniques/tape-backup/tape-backup-session.js';
import { ControlError } from './control-error.js';
import { BackupTrackMap } from '../live/backup-track-map.js';
import type { TrackMapSnapshot } from '../live/track-map.js';
import type { SessionError, SessionEvent, SessionInfo } from '../control-api/control-api-types.js';
import { RequestFields, type JsonObject } from './request-body.js';
import type { ServerSession, SessionEventListener, SessionFactory } from './session-registry.js';

const BACKUP_FIELDS = ['type', 'volume', 'tape', 'datasets', 'workers', 'force', 'pauseAfter', 'pauseMs', 'throttleMbps', 'tapeVolser', 'referenceCopy', 'onCbwError', 'cbwTimeoutMs', 'spool', 'targetMbps'] as const;
const CBW_POLICIES = ['break-backup', 'break-host-write'] as const;
/** Longest copy-before-write wait a request may ask for: ten minutes. */
const MAX_CBW_TIMEOUT_MS = 600_000;
/** Bounds of the pacing fields: a pause longer than a minute per copy is a stuck backup. */
const MAX_PAUSE_AFTER = 1_000_000;
const MAX_PAUSE_MS = 60_000;
const MAX_THROTTLE_MBPS = 100_000;
/** Listeners on one session: the registry, one per SSE stream of this session, and a spare. */
const MAX_SESSION_LISTENERS = 66;

export class BackupServerSession implements ServerSession {
  // Set once.
  readonly id: string;
  readonly type = 'backup' as const;
  readonly volumeName: string;
  readonly settled: Promise<void>;
  private readonly session: TapeBackupSession;
  private readonly tapePath: string;
  private readonly createdAt = new Date().toISOString();
  private readonly events = new EventEmitter();
  private readonly map: BackupTrackMap;
  // Main thread only.
  private summary: BackupSummary | undefined;
  private error: SessionError | undefined;
  private finishedAt: string | undefined;
  /** Progress as it stood when the session settled (elapsed time stops there). */
  private finalProgress: Readonly<Record<string, unknown>> | undefined;

  constructor(options: { id: string; volumeName: string; tapePath: string; session: TapeBackupSession }) {
    this.id = options.id;
    this.volumeName = options.volumeName;
    this.tapePath = options.tapePath;
    this.session = options.session;
    this.map = new BackupTrackMap(options.session);
    this.events.setMaxListeners(MAX_SESSION_LISTENERS);
    this.session.on('state', () => this.emit('state'));
    this.session.on('progress', () => this.emit('progress'));
    this.settled = this.session.done.then(
      (summary) => { this.summary = summary; },
      (error: unknown) => {
        this.error = isSnaptapeError(error)
          ? { code: error.code, message: error.message }
          : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
      },
    ).then(() => {
      this.finishedAt = new Date().toISOString();
      this.finalProgress = { ...this.session.progress() };
      this.emit('end');
    });
  }

  get state(): SessionState {
    return this.session.state;
  }

  info(): SessionInfo {
    return {
      id: this.id,
      type: this.type,
      volume: this.volumeName,
      target: this.tapePath,
      state: this.session.state,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt ?? null,
      progress: this.finalProgress ?? { ...this.session.progress() },
      summary: this.summary ?? null,
      error: this.error ?? null,
    };
  }

  trackMap(): TrackMapSnapshot {
    return this.map.sample();
  }

  pause(): void {
    this.session.pause();
  }

  resume(): void {
    this.session.resume();
  }

  cancel(): void {
    this.session.cancel();
  }

  onEvent(listener: SessionEventListener): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(kind: SessionEvent['kind']): void {
    const event: SessionEvent = { kind, session: this.info() };
    this.events.emit('event', event);
  }
}

function cbwPolicy(text: string | undefined): (typeof CBW_POLICIES)[number] | undefined {
  if (text === undefined) return undefined;
  const policy = CBW_POLICIES.find((p) => p === text);
  if (!policy) throw new ControlError('BAD_REQUEST', `Cannot use onCbwError "${text}": expected break-backup or break-host-write`, { field: 'onCbwError' });
  return policy;
}

function optionalPath(text: string | undefined): string | undefined {
  return text === undefined ? undefined : resolve(text);
}

/** Validates a backup request, takes the optional reference copy, and starts the backup. */
export const startBackupSession: SessionFactory = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(BACKUP_FIELDS);
  const served = context.volumes.get(fields.string('volume'));
  const tapePath = resolve(fields.string('tape'));
  const referenceCopy = fields.optionalString('referenceCopy');
  if (referenceCopy !== undefined && !context.testHooks) {
    throw new ControlError('BAD_REQUEST', 'Cannot accept field "referenceCopy": the server was not started with --test-hooks', { field: 'referenceCopy' });
  }
  const options = {
    tapePath,
    datasets: fields.optionalStringList('datasets'),
    workers: fields.optionalInteger('workers', { min: 1, max: MAX_COPY_WORKERS }),
    force: fields.optionalBoolean('force'),
    pauseAfter: fields.optionalInteger('pauseAfter', { min: 0, max: MAX_PAUSE_AFTER }),
    pauseMs: fields.optionalInteger('pauseMs', { min: 0, max: MAX_PAUSE_MS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0, max: MAX_THROTTLE_MBPS }),
    tapeVolser: fields.optionalString('tapeVolser'),
    onCbwError: cbwPolicy(fields.optionalString('onCbwError')),
    cbwTimeoutMs: fields.optionalInteger('cbwTimeoutMs', { min: 1, max: MAX_CBW_TIMEOUT_MS }),
    spoolPath: optionalPath(fields.optionalString('spool')),
    targetMbps: fields.optionalNumber('targetMbps', { min: 0.001, max: MAX_THROTTLE_MBPS }),
  };
  // From here to the interceptor's registration nothing yields: this is the start instant.
  if (referenceCopy !== undefined) {
    try {
      copyFileSync(served.volume.path, resolve(referenceCopy));
    } catch (error) {
      throw translateIoError(error, 'copy the reference image', referenceCopy);
    }
  }
  const session = TapeBackupSession.start(served.volume, options);
  return new BackupServerSession({ id: context.id, volumeName: served.name, tapePath, session });
};
