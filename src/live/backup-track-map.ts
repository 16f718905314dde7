/**
 * The live track map of one tape backup: the session's track-state array, slot table and
 * host-write bitmap (`session.hostWrites`, set by the session's afterWrite). Once the session
 * settles it keeps the final map; a completed backup's map is written beside the tape as
 * `<tape>.map.json` (finished-map.ts), because the session's bitmap is deleted once it completes.
 * A failure to write that file rejects `final` (runBackup reports it); the server ignores it.
 */
import type { TapeBackupSession } from '../techniques/tape-backup/tape-backup-session.js';
import { sessionRecordKey } from '../techniques/tape-backup/session-record.js';
import { sampleTrackMap, type TrackMapSnapshot } from './track-map.js';
import { writeFinishedMap } from './finished-map.js';

export class BackupTrackMap {
  // Set once.
  private readonly session: TapeBackupSession;
  /** Resolves with the final map once the session settled (completed, failed or cancelled). */
  readonly final: Promise<TrackMapSnapshot>;
  // Main thread only.
  private finalMap: TrackMapSnapshot | undefined;

  constructor(session: TapeBackupSession) {
    this.session = session;
    const settle = (completed: boolean): TrackMapSnapshot => {
      const map = this.sample();
      this.finalMap = map;
      if (completed) writeFinishedMap(sessionRecordKey(session.options), map);
      return map;
    };
    this.final = session.done.then(() => settle(true), () => settle(false));
    // Observed here so that a caller that never awaits `final` (the server) cannot crash on it.
    this.final.catch(() => undefined);
  }

  /** The map now (the final one once settled). */
  sample(): TrackMapSnapshot {
    if (this.finalMap) return this.finalMap;
    return sampleTrackMap({
      geometry: this.session.volume.geometry,
      states: this.session.states,
      unitToSlot: this.session.set.slots.unitToSlot,
      hostWritten: this.session.hostWrites.hostWritten,
      hostWrites: this.session.hostWrites.hostWrites,
    });
  }
}
