/**
 * What a volume is stored in. A backend stores fixed-size unit slots (a CKD track slot or an FBA
 * block) and knows nothing about records or data sets: `Volume` builds on it. Backends are
 * synchronous on purpose: a host write and its copy-before-write run to completion on the thread
 * that owns the volume (ARCHITECTURE.md, the copy-before-write protocol).
 */
import type { ScatteredBytes } from '../base/scattered-bytes.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';

/** How a worker thread can read the same units on its own file descriptor. */
export interface FileUnitLocation {
  readonly kind: 'file';
  readonly path: string;
  /** Byte offset of unit 0 in the file. */
  readonly dataOffsetBytes: number;
  readonly slotBytes: number;
}

/**
 * A backend whose units do not sit at fixed offsets of one file (a mapped volume: a track
 * directory over a shared pool; a compressed CCKD image; a multi-file CKD volume). Copies read such a backend through `readUnit` on the thread that
 * owns the volume, never by path from a worker.
 */
export interface MainThreadUnitLocation {
  readonly kind: 'main-thread';
  readonly path: string;
  readonly reason: string;
}

export type UnitLocation = FileUnitLocation | MainThreadUnitLocation;

export interface ImageBackend {
  readonly path: string;
  readonly geometry: VolumeGeometry;
  readonly readOnly: boolean;
  /** Bytes of one unit's slot. */
  readonly slotBytes: number;
  /** Reads the first `lengthBytes` bytes of one unit's slot. */
  readUnit(unitIndex: number, lengthBytes: number): Buffer;
  /** Reads the whole slots of `unitCount` consecutive units, in as few calls as the store allows. */
  readUnits(firstUnit: number, unitCount: number): Buffer;
  /**
   * Reads consecutive slots from `offsetInSlot` (default 0) of `firstUnit` on into `into` (whole
   * slots, or any span of the flat view that starts there), in one call where the store has them
   * in one file: a caller that reuses `into` spares the page faults of a fresh buffer per read
   * (absent elsewhere: a caller then uses `readUnits` or `readUnit`).
   */
  readUnitsInto?(firstUnit: number, into: Buffer, offsetInSlot?: number): void;
  /**
   * `readUnitsInto` on the libuv thread pool, where the store has the slots in one file: the
   * owning thread goes on (the NBD server answers other requests) while the disk works.
   */
  readUnitsIntoAsync?(firstUnit: number, into: Buffer, offsetInSlot?: number): Promise<void>;
  /** Writes `data` into one unit's slot starting at `offsetInSlot`. */
  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot?: number): void;
  /**
   * Writes consecutive slots from `offsetInSlot` (default 0) of `firstUnit` on in one call, where
   * the store has them at fixed offsets of one file (absent elsewhere: a caller then writes unit by
   * unit).
   */
  writeUnits?(firstUnit: number, data: Uint8Array, offsetInSlot?: number): void;
  /**
   * `writeUnits` on the libuv thread pool, where the store has the slots at fixed offsets of one
   * file: the promise settles once the bytes are written (rejects with the write's failure). The
   * caller keeps `data` unchanged and the backend open until then, and orders overlapping writes
   * itself (`Volume.writeFlatDeferred`). `data` may lie in several buffers (an NBD WRITE's socket
   * chunks): they land back to back, in one pwritev, without being gathered.
   */
  writeUnitsAsync?(firstUnit: number, data: ScatteredBytes, offsetInSlot?: number): Promise<void>;
  /** Makes every write so far durable. */
  sync(): void;
  close(): void;
  /**
   * Where a worker thread finds the units, for read-only copying in parallel; `main-thread` when the
   * units are not at fixed offsets of one file (mapped, compressed CCKD or multi-file images):
   * copies of such a backend read through `readUnit` on the thread that owns it.
   */
  location(): UnitLocation;
}
