/**
 * The size table V (ARCHITECTURE.md, tape layout): the used bytes of every track of a CKD volume,
 * from the home address through the end-of-track marker. Copies read only this prefix of a slot,
 * which is what makes copying a sparse volume cheap (PERF-NOTES: skip the bytes a track does not use).
 *
 * Built by one scan that reads a short prefix of each track and the whole slot only for tracks whose
 * records run past it. A track that does not decode counts as its whole slot, so it is still
 * copied byte for byte.
 */
import { trackUsedBytes } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend } from '../image/image-backend.js';

/** Prefix read per track while scanning: one page holds every track with a few small records. */
const SCAN_PREFIX_BYTES = 4096;

export class TrackSizeTable {
  // Set once; main thread only.
  private readonly usedBytes: Uint32Array;

  constructor(usedBytes: Uint32Array) {
    this.usedBytes = usedBytes;
  }

  static scan(backend: ImageBackend, geometry: CkdGeometry): TrackSizeTable {
    const table = new TrackSizeTable(new Uint32Array(geometry.trackCount));
    for (let t = 0; t < geometry.trackCount; t++) table.refresh(backend, geometry, t);
    return table;
  }

  /** A table where every track has the same used length (a new image: every track empty). */
  static uniform(trackCount: number, bytes: number): TrackSizeTable {
    return new TrackSizeTable(new Uint32Array(trackCount).fill(bytes));
  }

  /** Re-reads track t's used length from the backend. */
  refresh(backend: ImageBackend, geometry: CkdGeometry, trackIndex: number): void {
    const cchh = cchhOf(geometry, trackIndex);
    const source = { path: backend.path, trackIndex };
    const prefix = backend.readUnit(trackIndex, Math.min(SCAN_PREFIX_BYTES, backend.slotBytes));
    try {
      this.usedBytes[trackIndex] = trackUsedBytes(prefix, cchh, source);
      return;
    } catch {
      // The records may simply run past the prefix: decide on the whole slot.
    }
    try {
      this.usedBytes[trackIndex] = trackUsedBytes(backend.readUnit(trackIndex, backend.slotBytes), cchh, source);
    } catch {
      this.usedBytes[trackIndex] = backend.slotBytes;
    }
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
