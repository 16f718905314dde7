/**
 * The size table V (ARCHITECTURE.md, tape layout): the used bytes of every track of a CKD volume,
 * from the home address through the end-of-track marker. Copies read only this prefix of a slot,
 * which is what makes copying a sparse volume cheap (the bytes a track does not use are never read or written).
 *
 * Invariant: every byte of a slot past V is zero, so a copy of the prefix is the whole slot.
 * Snaptape's own writes keep it from the bytes they write, never reading a track back (volume.ts); a scan (first open, or after a crash or another tool
 * wrote the image) restores it by reading every slot a cylinder at a time and taking, for each
 * track, the larger of its decoded length (HA through EOT) and the end of its last non-zero
 * 4 KiB stretch — raw writes (NBD) may leave bytes past the end marker. A track that does not
 * decode counts as far as its last non-zero byte reaches.
 */
import { trackUsedBytes } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend } from '../image/image-backend.js';
import { TRACKS_PER_CYLINDER } from '../geometry/device-types.js';

/** Granule of the zero test from a slot's end: compared natively, a page at a time. */
const ZERO_TEST_BYTES = 4096;
const ZERO_PAGE = Buffer.alloc(ZERO_TEST_BYTES);

/** Offset just past the last non-zero byte of `slot` (0 for an all-zero slot). */
export function nonZeroExtent(slot: Buffer): number {
  let end = slot.length;
  // Whole zero pages from the end are skipped with a native compare.
  while (end > 0) {
    const start = Math.max(0, end - ZERO_TEST_BYTES);
    if (!slot.subarray(start, end).equals(ZERO_PAGE.subarray(0, end - start))) break;
    end = start;
  }
  while (end > 0 && slot[end - 1] === 0) end--;
  return end;
}

/** Tracks read per call while scanning: a cylinder (one system call per cylinder, not per track). */
const SCAN_BATCH_TRACKS = TRACKS_PER_CYLINDER;

export class TrackSizeTable {
  // Set once; main thread only.
  private readonly usedBytes: Uint32Array;

  constructor(usedBytes: Uint32Array) {
    this.usedBytes = usedBytes;
  }

  static scan(backend: ImageBackend, geometry: CkdGeometry): TrackSizeTable {
    const table = new TrackSizeTable(new Uint32Array(geometry.trackCount));
    const slotBytes = backend.slotBytes;
    for (let first = 0; first < geometry.trackCount; first += SCAN_BATCH_TRACKS) {
      const count = Math.min(SCAN_BATCH_TRACKS, geometry.trackCount - first);
      const slots = backend.readUnits(first, count);
      for (let k = 0; k < count; k++) {
        const t = first + k;
        const slot = slots.subarray(k * slotBytes, (k + 1) * slotBytes);
        let decoded = 0;
        try {
          decoded = trackUsedBytes(slot, cchhOf(geometry, t), { path: backend.path, trackIndex: t });
        } catch {
          decoded = 0; // not a track: its non-zero bytes are what counts
        }
        table.usedBytes[t] = Math.max(decoded, nonZeroExtent(slot));
      }
    }
    return table;
  }

  /** A table where every track has the same used length (a new image: every track empty). */
  static uniform(trackCount: number, bytes: number): TrackSizeTable {
    return new TrackSizeTable(new Uint32Array(trackCount).fill(bytes));
  }

  get(trackIndex: number): number {
    return this.usedBytes[trackIndex] as number;
  }

  set(trackIndex: number, bytes: number): void {
    this.usedBytes[trackIndex] = bytes;
  }

  get trackCount(): number {
    return this.usedBytes.length;
  }

  /** The table itself, for persisting (read-only use). */
  get raw(): Uint32Array {
    return this.usedBytes;
  }

  /** A copy of the table, as the backup takes it at its start instant. */
  snapshot(): Uint32Array {
    return this.usedBytes.slice();
  }
}
