/**
 * The CCKD image backend: a base file and zero or more shadow files behind the `ImageBackend`
 * contract. Each track is presented as an uncompressed slot (its image, HA through EOT, then zeros):
 * reads decompress, writes compress. A read takes the newest file that holds the track; a write
 * always goes to the newest file (Hercules shadow files, cckddasd.html "Shadow files").
 *
 * Bytes past a track's end-of-track marker are not stored (as in Hercules, which keeps the image
 * through EOT): they read back as zeros. A slot that does not decode as a track is stored whole.
 *
 * Copies by worker threads cannot read a compressed file by offset, so `location()` says `main-thread`:
 * the tape backup copies such volumes on the main thread (main-thread-copy.ts), where host writes
 * also run, so reads of the tables never race a write.
 *
 * Invariant: the cache holds the presented slot of a track exactly as the files say it is; a write
 * replaces the cached slot and the stored image together.
 */
import { assert } from '../base/assert.js';
import { AddressRangeError } from '../errors/snaptape-error.js';
import { trackUsedBytes } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend, UnitLocation } from './image-backend.js';
import type { ImageLock } from './image-lock.js';
import type { CckdFile } from './cckd-file.js';

/** Decompressed slots kept: a few cylinders, so a format write after its read does not decompress twice (~1.7 MB for 3390). */
export const TRACK_CACHE_TRACKS = 32;

export class CckdBackend implements ImageBackend {
  // Set once.
  readonly path: string;
  readonly geometry: CkdGeometry;
  readonly readOnly: boolean;
  readonly slotBytes: number;
  /** Base first, newest shadow last. */
  readonly files: readonly CckdFile[];
  // Main thread only.
  private readonly cache = new Map<number, Buffer>();
  private locks: readonly ImageLock[];
  private closed = false;

  constructor(files: readonly CckdFile[], options: { readOnly: boolean; locks: readonly ImageLock[] }) {
    assert(files.length > 0, 'a CCKD volume has a base file');
    const base = files[0] as CckdFile;
    this.files = files;
    // The writable (newest) file names the volume: its size table and messages follow it.
    this.path = (files[files.length - 1] as CckdFile).path;
    this.geometry = base.geometry;
    this.readOnly = options.readOnly;
    this.slotBytes = base.geometry.trackSlotBytes;
    this.locks = options.locks;
  }

  private get top(): CckdFile {
    return this.files[this.files.length - 1] as CckdFile;
  }

  private checkUnits(firstUnit: number, count: number): void {
    if (!Number.isInteger(firstUnit) || firstUnit < 0 || count < 0 || firstUnit + count > this.geometry.trackCount) {
      throw new AddressRangeError(
        `Cannot address track ${firstUnit}${count > 1 ? `-${firstUnit + count - 1}` : ''} on ${this.path}: the volume has tracks 0-${this.geometry.trackCount - 1}`,
        { path: this.path, track: firstUnit },
      );
    }
  }

  /** The stored image of track t (HA through EOT), from the newest file that holds it. */
  trackImage(trackIndex: number): Buffer {
    for (let i = this.files.length - 1; i >= 0; i--) {
      const image = (this.files[i] as CckdFile).readTrack(trackIndex);
      if (image) return image;
    }
    assert(false, 'the base file holds every track');
  }

  private slot(trackIndex: number): Buffer {
    const cached = this.cache.get(trackIndex);
    if (cached) {
      this.cache.delete(trackIndex);
      this.cache.set(trackIndex, cached);
      return cached;
    }
    const slot = Buffer.alloc(this.slotBytes);
    this.trackImage(trackIndex).copy(slot);
    this.remember(trackIndex, slot);
    return slot;
  }

  private remember(trackIndex: number, slot: Buffer): void {
    this.cache.set(trackIndex, slot);
    if (this.cache.size > TRACK_CACHE_TRACKS) {
      const oldest = this.cache.keys().next().value as number;
      this.cache.delete(oldest);
    }
  }

  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.checkUnits(unitIndex, 1);
    assert(lengthBytes >= 0 && lengthBytes <= this.slotBytes, 'a unit read stays inside its slot');
    return Buffer.from(this.slot(unitIndex).subarray(0, lengthBytes));
  }

  readUnits(firstUnit: number, count: number): Buffer {
    this.checkUnits(firstUnit, count);
    const out = Buffer.alloc(count * this.slotBytes);
    for (let i = 0; i < count; i++) this.slot(firstUnit + i).copy(out, i * this.slotBytes);
    return out;
  }

  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot = 0): void {
    assert(!this.readOnly && !this.closed, `${this.path} is open for writing`);
    this.checkUnits(unitIndex, 1);
    assert(offsetInSlot >= 0 && offsetInSlot + data.length <= this.slotBytes, 'a unit write stays inside its slot');
    const slot = Buffer.from(this.slot(unitIndex));
    slot.set(data, offsetInSlot);
    const image = slot.subarray(0, this.storedLength(unitIndex, slot));
    this.top.writeTrack(unitIndex, Buffer.from(image));
    // What a read now presents: the image and zeros after it.
    const presented = Buffer.alloc(this.slotBytes);
    image.copy(presented);
    this.remember(unitIndex, presented);
  }

  /** Through the EOT marker when the slot decodes as its track, else the whole slot. */
  private storedLength(trackIndex: number, slot: Buffer): number {
    try {
      return trackUsedBytes(slot, cchhOf(this.geometry, trackIndex), { path: this.path, trackIndex });
    } catch {
      return this.slotBytes;
    }
  }

  sync(): void {
    if (this.readOnly) return;
    this.top.sync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const file of this.files) file.close();
    } finally {
      for (const lock of this.locks) lock.release();
      this.locks = [];
      this.cache.clear();
    }
  }

  location(): UnitLocation {
    return { kind: 'main-thread', path: this.path, reason: "a compressed CCKD image's tracks are found through its L1/L2 tables and must be decompressed" };
  }
}
