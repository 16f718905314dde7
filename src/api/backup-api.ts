/**
 * The library API for the tape backup: runs a session on an open volume, optionally under a
 * synthetic host load, with progress callbacks and the event log. The CLI and drills call this.
 */
import { LOG_EVENTS, type EventLogger } from '../base/log.js';
import type { CbwErrorStatus } from '../techniques/tape-backup/backup-types.js';
import { SnaptapeError } from '../errors/snaptape-error.js';
import type { Volume } from '../volume/volume.js';
import { HostLoad, type HostLoadSpec, type HostLoadStats } from '../workload/host-load.js';
import type { TrackMapSnapshot } from '../session/session-view.js';
import { TapeBackupSession, type BackupProgress, type BackupSummary, type TapeBackupOptions } from '../techniques/tape-backup/tape-backup-session.js';

export interface RunBackupOptions extends TapeBackupOptions {
  readonly load?: HostLoadSpec;
  readonly loadSeed?: number;
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Called right before the session registers: the start instant (drills take their reference here). */
  readonly onStartInstant?: () => void;
  readonly log?: EventLogger;
  /** Continue an interrupted backup to the same tape and point in time. */
  readonly resume?: boolean;
  /** Called with the session once it runs (the CLI cancels it on SIGINT). */
  readonly onSession?: (session: TapeBackupSession) => void;
  /** Called with the final track map once the session settled (also kept as `<tape>.map.json`). */
  readonly onTrackMap?: (map: TrackMapSnapshot) => void;
}

export interface BackupRun {
  readonly summary: BackupSummary;
  readonly load: HostLoadStats | null;
}

/** Backs up an open volume to a virtual tape at one point in time (copy-before-write keeps host writes during the copy out of the backup), optionally under a synthetic host load, and returns the summary and track map. Throws UsageError for bad options, TargetExistsError when the tape exists, SessionError when a resume finds no session to resume. */
export async function runBackup(volume: Volume, options: RunBackupOptions): Promise<BackupRun> {
  const log = options.log ?? (() => undefined);
  const load = options.load ? new HostLoad(volume, options.load, options.loadSeed ?? 1) : undefined;
  options.onStartInstant?.();
  const session = options.resume ? TapeBackupSession.resume(volume, options) : TapeBackupSession.start(volume, options);
  const trackMap = session.trackMap();
  options.onSession?.(session);
  log(LOG_EVENTS.backupStarted, { tape: options.tapePath, source: volume.path, elements: session.set.elements.length, slots: session.states.unitCount });
  session.on('progress', (p: BackupProgress) => options.onProgress?.(p));
  session.on('state', (state: string) => log(LOG_EVENTS.sessionState, { session: session.name, state }));
  session.on('cbw-error', (status: CbwErrorStatus) => log(LOG_EVENTS.cbwError, { policy: status.policy, reason: status.reason }));
  load?.start();
  try {
    const summary = await session.done;
    options.onTrackMap?.(await trackMap.final);
    const stats = load ? load.stop() : null;
    if (stats) log(LOG_EVENTS.hostLoadStopped, { ...stats });
    log(LOG_EVENTS.backupCompleted, {
      seconds: summary.seconds,
      bytes: summary.bytes,
      copiedInOrder: summary.copiedInOrder,
      copiedOutOfOrder: summary.copiedOutOfOrder,
      sha256: summary.elements.map((e) => e.sha256),
    });
    return { summary, load: stats };
  } catch (error) {
    load?.stop();
    log(LOG_EVENTS.backupFailed, {
      reason: error instanceof Error ? error.message : String(error),
      code: error instanceof SnaptapeError ? error.code : 'INTERNAL',
    });
    throw error;
  }
}
