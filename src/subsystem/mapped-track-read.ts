/**
 * Reads one virtual track of a mapped volume from its directory entry: an unallocated track is
 * the empty track (HA, R0, EOT) of its own CCHH; an allocated one is its slot's bytes up to the
 * entry's extent, zero after; a relocated one (a data set snapshot placed it at another track)
 * has its home address and the record ids that named the old track rewritten to this track.
 */
import { emptyTrack, encodeTrack } from '../ckd/track-codec.js';
import { relocateTrackImage } from '../ckd/track-relocate.js';
import { cchhOf, type Cchh } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { ENTRY_FLAG_RELOCATED, UNALLOCATED_SLOT } from './subsystem-layouts.js';
import type { DirectoryEntry } from './track-directory.js';
import type { PoolReader } from './track-pool.js';

/** The image of an empty track at `cchh`, as dasdinit writes it. */
export function emptyTrackImage(cchh: Cchh): Buffer {
  return encodeTrack(emptyTrack(cchh));
}

/** The first `lengthBytes` of virtual track `trackIndex`'s slot as the volume shows it. */
export function readMappedTrack(
  reader: PoolReader,
  geometry: CkdGeometry,
  trackIndex: number,
  entry: DirectoryEntry,
  lengthBytes: number,
  path: string,
): Buffer {
  const out = Buffer.alloc(lengthBytes);
  if (entry.slot === UNALLOCATED_SLOT) {
    emptyTrackImage(cchhOf(geometry, trackIndex)).copy(out, 0, 0, Math.min(lengthBytes, geometry.trackSlotBytes));
    return out;
  }
  if ((entry.flags & ENTRY_FLAG_RELOCATED) !== 0) {
    const image = relocateTrackImage(reader.readSlot(entry.slot, entry.extentBytes), cchhOf(geometry, trackIndex), { path, trackIndex });
    image.copy(out, 0, 0, Math.min(lengthBytes, image.length));
    return out;
  }
  const stored = reader.readSlot(entry.slot, Math.min(lengthBytes, entry.extentBytes));
  stored.copy(out, 0);
  return out;
}
