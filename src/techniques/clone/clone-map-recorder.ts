/**
 * What a clone session records for its live track map (clone-track-map.ts), beyond the
 * bits it keeps anyway: the source's host writes since CREATE (a HostWriteRecorder) and one
 * "re-copied" byte per track, set when a precopy reopens a copied track that the host wrote (the
 * same moment `recopies` is counted). Both are set on the owning thread from the session's own
 * afterWrite hook, O(units written) per write; the copy loop and the workers never touch them.
 *
 * Invariant: the recopied byte of a track is set iff the session reopened it at least once; it is
 * never cleared, so a re-copied track stays marked once copied again.
 */
import { assert } from '../../base/assert.js';
import { HostWriteRecorder } from '../../session/host-write-recorder.js';
import type { BitColumns } from '../../engine/bit-columns.js';
import type { TrackStateArray } from '../../engine/track-state.js';
import type { VolumeGeometry } from '../../geometry/volume-geometry.js';
import type { WriteRange } from '../../volume/write-interceptor.js';

export class CloneMapRecorder {
  // Set once.
  readonly hostWrites: HostWriteRecorder;
  // Main thread only.
  readonly recopied: Uint8Array;

  constructor(unitCount: number) {
    this.hostWrites = new HostWriteRecorder(unitCount);
    this.recopied = new Uint8Array(unitCount);
  }

  /** A host write reached the source (any phase). */
  hostWrite(range: WriteRange): void {
    this.hostWrites.record(range);
  }

  /** The precopy reopened this copied track: it will be copied again. */
  reopened(unit: number): void {
    assert(unit >= 0 && unit < this.recopied.length, `track ${unit} is on the source`);
    this.recopied[unit] = 1;
  }
}

/** A clone session's state as its map reads it (CloneSession.mapView); nothing here is copied. */
export interface CloneMapView {
  readonly id: string;
  readonly geometry: VolumeGeometry;
  /** 1 for a track that takes part in the clone (every track, or the chosen data sets' extents). */
  readonly included: Uint8Array;
  readonly states: TrackStateArray;
  /** The destination's IND column: set while the track's data is still only at the source. */
  readonly ind: BitColumns;
  readonly indColumn: number;
  readonly recorder: CloneMapRecorder;
}
