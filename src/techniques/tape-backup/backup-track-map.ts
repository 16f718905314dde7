/**
 * The track map of one tape backup (its `view()`): the session's track-state array, slot table and
 * host-write bitmap (`session.hostWrites`, set by the session's afterWrite), sampled with one
 * Atomics load per slot-bearing unit, off the copy loop, so nothing runs per track on the hot path.
 * Once the session settles it keeps the final map; a completed backup's map is written beside the
 * tape as `<tape>.map.json` (session/finished-map.ts), because the session's bitmap is deleted once
 * it completes: by the session at its finish (`writeCompleted`), before it says it completed. A
 * failure to write that file rejects `final` (runBackup reports it); the server ignores it.
 */
import { assert } from '../../base/assert.js';
import { UNIT_STATE, type TrackStateArray } from '../../engine/track-state.js';
import type { VolumeGeometry } from '../../geometry/volume-geometry.js';
import { writeFinishedMap } from '../../session/finished-map.js';
import { buildTrackMap, mapShape, type TrackCode, type TrackMapSnapshot } from '../../session/session-view.js';
import type { TapeBackupSession } from './tape-backup-session.js';
import { sessionRecordKey } from './session-record.js';

export interface TrackMapSource {
  readonly geometry: VolumeGeometry;
  readonly states: TrackStateArray;
  /** Slot of each volume unit, -1 when the unit is not in the session. */
  readonly unitToSlot: Int32Array;
  readonly hostWritten: Uint8Array;
  readonly hostWrites: number;
}

const STATE_CODE: Readonly<Record<number, TrackCode>> = {
  [UNIT_STATE.PENDING]: 'p',
  [UNIT_STATE.CLAIMED]: 'p',
  [UNIT_STATE.COPIED]: 'i',
  [UNIT_STATE.COPIED_OOO]: 'o',
  [UNIT_STATE.EXCLUDED]: 'x',
};

/** A backup's map now: one Atomics load per slot-bearing unit, on the sampling thread. */
export function sampleTrackMap(source: TrackMapSource): TrackMapSnapshot {
  assert(source.unitToSlot.length === mapShape(source.geometry).unitCount, 'the slot table covers the volume');
  return buildTrackMap({
    kind: 'backup',
    geometry: source.geometry,
    hostWritten: source.hostWritten,
    hostWrites: source.hostWrites,
    codeOf: (u) => {
      const slot = source.unitToSlot[u] as number;
      return slot < 0 ? 'x' : (STATE_CODE[source.states.state(slot)] ?? 'x');
    },
  });
}

export class BackupTrackMap {
  // Set once.
  private readonly session: TapeBackupSession;
  /** Resolves with the final map once the session settled (completed, failed or cancelled). */
  readonly final: Promise<TrackMapSnapshot>;
  // Main thread only.
  private finalMap: TrackMapSnapshot | undefined;
  /** The completed backup's map file being written (`writeCompleted`). */
  private written: Promise<void> | undefined;

  constructor(session: TapeBackupSession) {
    this.session = session;
    this.final = session.done.then(
      async () => {
        await (this.written ?? this.writeCompleted());
        return this.finalMap as TrackMapSnapshot;
      },
      () => {
        this.finalMap = this.sample();
        return this.finalMap;
      },
    );
    // Observed here so that a caller that never awaits `final` (the server) cannot crash on it.
    this.final.catch(() => undefined);
  }

  /**
   * Keeps the completed backup's map and writes it beside the tape, with the fsyncs off the owning
   * thread. The session calls it at its finish, once no slot state or host write can change any
   * more and before it says it finished, so that the file is there when its end is heard. A
   * failure rejects `final`.
   */
  writeCompleted(): Promise<void> {
    this.finalMap = sampleBackupMap(this.session);
    this.written = writeFinishedMap(sessionRecordKey(this.session.options), this.finalMap);
    return this.written;
  }

  /** The map now (the final one once settled). */
  sample(): TrackMapSnapshot {
    return this.finalMap ?? sampleBackupMap(this.session);
  }
}

/** A backup session's map now, from its slot states and host-write bitmap (kept after it settles). */
export function sampleBackupMap(session: TapeBackupSession): TrackMapSnapshot {
  return sampleTrackMap({
    geometry: session.volume.geometry,
    states: session.states,
    unitToSlot: session.set.slots.unitToSlot,
    hostWritten: session.hostWrites.hostWritten,
    hostWrites: session.hostWrites.hostWrites,
  });
}
