/**
 * The backend of a mapped volume (ARCHITECTURE.md, mapped volumes): a track directory over the
 * subsystem's pool. Reads follow the pointers. A write to a slot that only this track holds goes
 * in place; any other write (an unallocated track, a slot shared with a snapshot or a pin, a
 * relocated slot) is a copy-on-write:
 *   1. take a free slot, build the track's bytes there (old bytes + the write), write them;
 *   2. make them durable (fsync the pool), then switch the pointer (write + fsync the entry);
 *   3. then change the counts (new slot 1, old slot minus 1).
 * The write path stays Volume → interceptor chain → backend: this class is the last link.
 *
 * Invariants:
 * - bytes of a slot past its entry's extent are zero, so copies read only the extent;
 * - an extent is raised (entry written) before the bytes it covers are written in place;
 * - a slot whose count is above 1 is never written.
 */
import { unlinkSync } from 'node:fs';
import { assert } from '../base/assert.js';
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import { AddressRangeError } from '../errors/snaptape-error.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend, UnitLocation } from '../image/image-backend.js';
import { lockImage, type ImageLock } from '../image/image-lock.js';
import { sizeStorePath } from '../image/size-store-path.js';
import { readMappedTrack } from './mapped-track-read.js';
import { acquirePool, releasePool } from './subsystem-registry.js';
import { ENTRY_FLAG_RELOCATED, UNALLOCATED_SLOT } from './subsystem-layouts.js';
import { TrackDirectory } from './track-directory.js';
import { PoolReader, TrackPool, type PoolOptions } from './track-pool.js';

export interface MappedBackendOptions extends PoolOptions {
  readonly readOnly?: boolean;
}

export class MappedVolumeBackend implements ImageBackend {
  // Set once.
  readonly path: string;
  readonly dir: string;
  readonly geometry: CkdGeometry;
  readonly readOnly: boolean;
  readonly slotBytes: number;
  readonly directory: TrackDirectory;
  // Main thread only.
  private reader: PoolReader | undefined;
  private pool: TrackPool | undefined;
  private lock: ImageLock | undefined;
  private closed = false;
  /** Writes since the last sync (a volume only read, like a snapshot source, needs no fsync). */
  private dirty = false;

  private constructor(path: string, dir: string, directory: TrackDirectory, access: { reader?: PoolReader; pool?: TrackPool; lock?: ImageLock }) {
    this.path = path;
    this.dir = dir;
    this.directory = directory;
    this.geometry = directory.geometry;
    this.readOnly = directory.readOnly;
    this.slotBytes = directory.geometry.trackSlotBytes;
    this.reader = access.reader;
    this.pool = access.pool;
    this.lock = access.lock;
  }

  /** Opens `<dir>/<name>`: read-only without locks, or for writing with the volume and pool locks. */
  static open(path: string, dir: string, options: MappedBackendOptions = {}): MappedVolumeBackend {
    if (options.readOnly) {
      const reader = new PoolReader(dir);
      try {
        return new MappedVolumeBackend(path, dir, TrackDirectory.open(path, reader.shape.family, { readOnly: true }), { reader });
      } catch (error) {
        reader.close();
        throw error;
      }
    }
    const lock = lockImage(path);
    let pool: TrackPool | undefined;
    try {
      pool = acquirePool(dir, options);
      const directory = TrackDirectory.open(path, pool.shape.family, { readOnly: false });
      // The size table's stamp is the directory file's, which in-place writes do not change:
      // a table saved before this open could go stale, so it goes now (Volume.close saves a fresh one).
      try {
        unlinkSync(sizeStorePath(path));
      } catch {
        /* there was none */
      }
      return new MappedVolumeBackend(path, dir, directory, { pool, lock });
    } catch (error) {
      if (pool) releasePool(pool);
      lock.release();
      throw error;
    }
  }

  private get source(): PoolReader {
    const source = this.pool ?? this.reader;
    assert(source !== undefined && !this.closed, `${this.path} is open`);
    return source;
  }

  /** The writable pool (for the snapshot protocol, which runs in the process that holds it). */
  get writablePool(): TrackPool {
    assert(this.pool !== undefined, `${this.path} is open for writing`);
    return this.pool;
  }

  private checkUnits(firstUnit: number, count: number): void {
    const total = this.geometry.trackCount;
    if (!Number.isInteger(firstUnit) || firstUnit < 0 || count < 0 || firstUnit + count > total) {
      throw new AddressRangeError(
        `Cannot address track ${firstUnit}${count > 1 ? `-${firstUnit + count - 1}` : ''} on ${this.path}: the volume has tracks 0-${total - 1}`,
        { path: this.path, track: firstUnit },
      );
    }
  }

  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.checkUnits(unitIndex, 1);
    assert(lengthBytes >= 0 && lengthBytes <= this.slotBytes, 'a unit read stays inside its slot');
    return readMappedTrack(this.source, this.geometry, unitIndex, this.directory.entry(unitIndex), lengthBytes, this.path);
  }

  readUnits(firstUnit: number, unitCount: number): Buffer {
    this.checkUnits(firstUnit, unitCount);
    const out = Buffer.alloc(unitCount * this.slotBytes);
    for (let i = 0; i < unitCount; i++) this.readUnit(firstUnit + i, this.slotBytes).copy(out, i * this.slotBytes);
    return out;
  }

  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot = 0): void {
    assert(!this.readOnly, `${this.path} is open for writing`);
    this.checkUnits(unitIndex, 1);
    const end = offsetInSlot + data.length;
    assert(offsetInSlot >= 0 && end <= this.slotBytes, 'a unit write stays inside its slot');
    const pool = this.writablePool;
    this.dirty = true;
    const entry = this.directory.entry(unitIndex);
    const inPlace = entry.slot !== UNALLOCATED_SLOT && (entry.flags & ENTRY_FLAG_RELOCATED) === 0 && pool.refCount(entry.slot) === 1;
    if (inPlace) {
      if (end > entry.extentBytes) this.directory.set(unitIndex, { ...entry, extentBytes: end });
      pool.writeSlot(entry.slot, data, offsetInSlot);
      return;
    }
    this.copyOnWrite(unitIndex, data, offsetInSlot);
  }

  private copyOnWrite(trackIndex: number, data: Uint8Array, offsetInSlot: number): void {
    const pool = this.writablePool;
    const old = this.directory.entry(trackIndex);
    const baseBytes = old.slot === UNALLOCATED_SLOT ? EMPTY_TRACK_BYTES : old.extentBytes;
    const base = this.readUnit(trackIndex, baseBytes);
    const lengthBytes = Math.max(baseBytes, offsetInSlot + data.length);
    const allocated = pool.allocate();
    const image = Buffer.alloc(Math.max(lengthBytes, allocated.staleBytes));
    base.copy(image, 0, 0, baseBytes);
    image.set(data, offsetInSlot);
    try {
      pool.writeSlot(allocated.slot, image);
      if (pool.syncEachAllocation) pool.syncSlots();
    } catch (error) {
      pool.unallocate(allocated, image.length);
      throw error;
    }
    this.directory.set(trackIndex, { slot: allocated.slot, extentBytes: lengthBytes, flags: 0 });
    if (pool.syncEachAllocation) this.directory.sync();
    const changes: Array<{ slot: number; delta: number; extentBytes?: number }> = [{ slot: allocated.slot, delta: 1 }];
    if (old.slot !== UNALLOCATED_SLOT) changes.push({ slot: old.slot, delta: -1, extentBytes: old.extentBytes });
    pool.adjust(changes);
  }

  /** Marks the directory written by someone else (a snapshot's pointer copy): the next sync runs. */
  markWritten(): void {
    this.dirty = true;
  }

  sync(): void {
    if (this.readOnly || this.closed || !this.dirty) return;
    this.dirty = false;
    this.writablePool.syncSlots();
    this.directory.sync();
    this.writablePool.sync();
  }

  close(): void {
    if (this.closed) return;
    try {
      if (!this.readOnly) this.sync();
    } finally {
      this.closed = true;
      this.directory.close();
      this.reader?.close();
      if (this.pool) releasePool(this.pool);
      this.pool = undefined;
      this.lock?.release();
      this.lock = undefined;
    }
  }

  location(): UnitLocation {
    return { kind: 'main-thread', path: this.path, reason: "a mapped volume's tracks are found through its directory, not at fixed offsets of one file" };
  }
}
