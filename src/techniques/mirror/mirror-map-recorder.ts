/**
 * What a mirror session records for its live track map (mirror-track-map.ts), beyond the
 * track-status table it keeps anyway: the primary's host writes since the session started (a
 * HostWriteRecorder, from beforeWrite) and, per secondary, how each track of the current episode
 * became valid again: resent by the background copy, or by a host write through normal mirroring.
 * All of it is set on the owning thread, O(units written or copied); the link worker never sees it.
 *
 * An episode is what followed the secondary's last link-state change other than the end of a copy
 * (a split, a rejoin, a link lost or regained, the initial copy): `startEpisode` clears the
 * secondary's marks then, so the map of a split shows only what changed since the split, and the
 * map after a resync shows what that resync sent.
 */
import { assert } from '../../base/assert.js';
import { HostWriteRecorder } from '../../session/host-write-recorder.js';
import type { VolumeGeometry } from '../../geometry/volume-geometry.js';
import type { WriteRange } from '../../volume/write-interceptor.js';
import type { LinkState } from './mirror-link-state.js';
import type { TrackStatusTable } from './track-status-table.js';

/** How a track of the current episode became valid on a secondary. */
export const RESYNC_MARK = { none: 0, copied: 1, sentByWrite: 2 } as const;

export class MirrorMapRecorder {
  // Set once.
  readonly hostWrites: HostWriteRecorder;
  // Main thread only.
  private readonly marks = new Map<number, Uint8Array>();

  constructor(unitCount: number, mirrors: readonly number[]) {
    this.hostWrites = new HostWriteRecorder(unitCount);
    for (const mirror of mirrors) this.marks.set(mirror, new Uint8Array(unitCount));
  }

  hostWrite(range: WriteRange): void {
    this.hostWrites.record(range);
  }

  startEpisode(mirror: number): void {
    this.marksOf(mirror).fill(RESYNC_MARK.none);
  }

  /** The background copy sent these units to the mirror. */
  copied(mirror: number, units: readonly number[]): void {
    const marks = this.marksOf(mirror);
    for (const u of units) marks[u] = RESYNC_MARK.copied;
  }

  /** A host write sent an invalid unit to the mirror before the copy reached it. */
  sentByWrite(mirror: number, unit: number): void {
    this.marksOf(mirror)[unit] = RESYNC_MARK.sentByWrite;
  }

  marksOf(mirror: number): Uint8Array {
    const marks = this.marks.get(mirror);
    assert(marks !== undefined, `mirror M${mirror} has map marks`);
    return marks;
  }
}

/** One secondary of a mirror session as its map reads it (MirrorSession.mapView). */
export interface MirrorMapView {
  readonly volumeName: string;
  readonly geometry: VolumeGeometry;
  /** M2..M4. */
  readonly name: string;
  readonly mirror: number;
  readonly linkState: LinkState;
  readonly table: TrackStatusTable;
  readonly marks: Uint8Array;
  readonly hostWrites: HostWriteRecorder;
}
