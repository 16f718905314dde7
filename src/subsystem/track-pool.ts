/**
 * The pool of physical track slots of a subsystem folder, and their reference counts
 * (ARCHITECTURE.md, mapped volumes). `pool.slots` holds the slots; `pool.refs` one count per slot.
 *
 * Invariants:
 * - a slot with count 0 is free; the free list is rebuilt from the counts on open;
 * - while a writer holds the pool (`pool.lock`), `pool.refs` says state "open": a process that
 *   ends without closing leaves it so, and the pool is refused for writing until
 *   `subsystem check --repair` rebuilds the counts from the directories. The counts in memory are
 *   exact; the file's counts are written after the pointers they follow, never before;
 * - bytes of a slot past what its directory entry's extent covers are zero, except in a free slot
 *   reused from an earlier session (its old extent is unknown): such a slot is rewritten whole.
 */
import { closeSync, fstatSync, ftruncateSync } from 'node:fs';
import { readAtMost, writeFully } from '../base/file-io.js';
import { join } from 'node:path';
import { assert } from '../base/assert.js';
import { encodeFields, field } from '../base/field-table.js';
import { ImageFormatError, NoSpaceError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { ioSync, openFile, readPoolShape, readRefs, type PoolShape } from './pool-files.js';
import { lockImage, type ImageLock } from '../image/image-lock.js';
import {
  POOL_FILE,
  POOL_HEADER_LAYOUT,
  POOL_LOCK_NAME,
  REFCOUNT_BYTES,
  REFS_FILE,
  REFS_HEADER_LAYOUT,
  REFS_MAGIC,
  REFS_STATE,
  SUBSYSTEM_FORMAT_VERSION,
  UNALLOCATED_SLOT,
} from './subsystem-layouts.js';

/** Slots added to the pool file at a time: one ftruncate and one refs extension per 1024 allocations (a hole costs no disk). */
export const POOL_GROW_SLOTS = 1024;
/** Most slots a pool holds: slot numbers are u32 and 0xFFFFFFFF means "unallocated". */
export const MAX_POOL_SLOTS = UNALLOCATED_SLOT - 1;

export { initSubsystem, ioSync, readPoolShape, readRefs, type PoolShape, type RefsFile } from './pool-files.js';

export interface PoolOptions {
  /**
   * fsync the new slot before its pointer and the pointer before the counts, on every allocation
   * (the durability order of ARCHITECTURE.md). Off only for bulk loads that sync at the end: the
   * order of the writes themselves is kept, so a killed process still loses nothing acknowledged.
   */
  readonly syncEachAllocation?: boolean;
}

/** Reads slots of the pool by number (any process; no lock). */
export class PoolReader {
  // Set once.
  readonly dir: string;
  readonly shape: PoolShape;
  protected readonly poolPath: string;
  // Main thread only.
  protected poolFd: number;

  constructor(dir: string, flags: 'r' | 'r+' = 'r') {
    this.dir = dir;
    this.poolPath = join(dir, POOL_FILE);
    this.poolFd = openFile(this.poolPath, flags);
    try {
      this.shape = readPoolShape(dir, this.poolFd);
    } catch (error) {
      closeSync(this.poolFd);
      throw error;
    }
  }

  get slotCountOnDisk(): number {
    return (fstatSync(this.poolFd).size - POOL_HEADER_LAYOUT.size) / this.shape.slotBytes;
  }

  protected slotOffset(slot: number): number {
    return POOL_HEADER_LAYOUT.size + slot * this.shape.slotBytes;
  }

  /** The first `lengthBytes` of a slot; bytes past the file's end read as zero. */
  readSlot(slot: number, lengthBytes: number): Buffer {
    assert(lengthBytes >= 0 && lengthBytes <= this.shape.slotBytes, 'a slot read stays inside its slot');
    const out = Buffer.alloc(lengthBytes);
    readAtMost(this.poolFd, out, this.slotOffset(slot), this.poolPath, `slot ${slot}`);
    return out;
  }

  close(): void {
    if (this.poolFd < 0) return;
    closeSync(this.poolFd);
    this.poolFd = -1;
  }
}

/** A slot handed out by `allocate`, with how much of it may hold stale bytes to overwrite with zeros. */
export interface AllocatedSlot {
  readonly slot: number;
  readonly staleBytes: number;
}

/** The pool open for writing by this process (one per folder; see subsystem-registry.ts). */
export class TrackPool extends PoolReader {
  // Set once.
  readonly syncEachAllocation: boolean;
  private readonly refsPath: string;
  // Main thread only.
  private refsFd: number;
  private lock: ImageLock | undefined;
  private counts: Uint32Array;
  private slotCount: number;
  private slotsEverUsed: number;
  /** Free slots, lowest on top. */
  private free: number[] = [];
  /** Extents of slots freed in this session (their tail is known). */
  private readonly freedExtent = new Map<number, number>();

  /** Takes the pool lock and marks the counts "open". `allowUnclean` is for the check tool only. */
  static open(dir: string, options: PoolOptions & { allowUnclean?: boolean } = {}): TrackPool {
    const lock = lockImage(join(dir, POOL_LOCK_NAME));
    try {
      return new TrackPool(dir, lock, options);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private constructor(dir: string, lock: ImageLock, options: PoolOptions & { allowUnclean?: boolean }) {
    super(dir, 'r+');
    this.lock = lock;
    this.syncEachAllocation = options.syncEachAllocation ?? true;
    this.refsPath = join(dir, REFS_FILE);
    this.refsFd = -1;
    this.counts = new Uint32Array(0);
    this.slotCount = 0;
    this.slotsEverUsed = 0;
    try {
      this.slotCount = this.slotCountOnDisk;
      const refs = readRefs(dir, this.slotCount);
      if (refs.state !== REFS_STATE.clean && !options.allowUnclean) {
        throw new ImageFormatError(
          `Cannot open the track pool of ${dir} for writing: it was not closed cleanly (pool.refs state ${refs.state}), so its reference counts may be stale; run: snaptape subsystem check ${dir} --repair`,
          { path: this.refsPath, offset: field(REFS_HEADER_LAYOUT, 'state').offset },
        );
      }
      this.counts = refs.counts;
      this.slotsEverUsed = refs.slotsEverUsed;
      this.refsFd = openFile(this.refsPath, 'r+');
      this.rebuildFreeList();
      this.writeRefsHeader(REFS_STATE.open);
      ioSync(this.refsFd, this.refsPath);
    } catch (error) {
      if (this.refsFd >= 0) closeSync(this.refsFd);
      this.refsFd = -1;
      super.close();
      this.lock = undefined;
      throw error;
    }
  }

  private rebuildFreeList(): void {
    this.free = [];
    for (let s = this.slotCount - 1; s >= 0; s--) if (this.counts[s] === 0) this.free.push(s);
  }

  private writeRefsHeader(state: number): void {
    const header = encodeFields(REFS_HEADER_LAYOUT, {
      magic: REFS_MAGIC,
      version: SUBSYSTEM_FORMAT_VERSION,
      slotCount: this.slotCount,
      state,
      slotsEverUsed: this.slotsEverUsed,
    });
    writeFully(this.refsFd, header, 0, this.refsPath, 'the refs header');
  }

  get totalSlots(): number {
    return this.slotCount;
  }

  /** Slots with a count above zero. */
  allocatedSlots(): number {
    let n = 0;
    for (let s = 0; s < this.slotCount; s++) if ((this.counts[s] as number) > 0) n++;
    return n;
  }

  refCount(slot: number): number {
    assert(slot >= 0 && slot < this.slotCount, `slot ${slot} is in the pool`);
    return this.counts[slot] as number;
  }

  private grow(): void {
    const next = Math.min(MAX_POOL_SLOTS, this.slotCount + POOL_GROW_SLOTS);
    if (next === this.slotCount)
      throw new NoSpaceError(`Cannot allocate a track slot in ${this.dir}: the pool holds the most slots a pool can (${MAX_POOL_SLOTS})`, { path: this.dir });
    // The pool file first, then the counts: a count file shorter than the pool reads as zeros.
    try {
      ftruncateSync(this.poolFd, POOL_HEADER_LAYOUT.size + next * this.shape.slotBytes);
    } catch (error) {
      throw translateIoError(error, `grow ${this.poolPath}`, this.poolPath);
    }
    const counts = new Uint32Array(next);
    counts.set(this.counts);
    writeFully(
      this.refsFd,
      Buffer.alloc((next - this.slotCount) * REFCOUNT_BYTES),
      REFS_HEADER_LAYOUT.size + this.slotCount * REFCOUNT_BYTES,
      this.refsPath,
      'new counts',
    );
    for (let s = next - 1; s >= this.slotCount; s--) this.free.push(s);
    this.counts = counts;
    this.slotCount = next;
    this.writeRefsHeader(REFS_STATE.open);
  }

  /** Takes a free slot (count stays 0 until `setRefs`); reuses freed slots before growing. */
  allocate(): AllocatedSlot {
    if (this.free.length === 0) this.grow();
    const slot = this.free.pop() as number;
    assert(this.counts[slot] === 0, `free slot ${slot} has no references`);
    let staleBytes: number;
    if (slot >= this.slotsEverUsed) {
      staleBytes = 0;
      this.slotsEverUsed = slot + 1;
      this.writeRefsHeader(REFS_STATE.open);
    } else {
      staleBytes = this.freedExtent.get(slot) ?? this.shape.slotBytes;
      this.freedExtent.delete(slot);
    }
    return { slot, staleBytes };
  }

  /** Gives back a slot from `allocate` that was never referenced (its write failed). */
  unallocate(allocated: AllocatedSlot, writtenBytes: number): void {
    assert(this.counts[allocated.slot] === 0, 'an unreferenced slot goes back');
    this.freedExtent.set(allocated.slot, Math.max(allocated.staleBytes, writtenBytes));
    this.free.push(allocated.slot);
  }

  writeSlot(slot: number, data: Uint8Array, offsetInSlot = 0): void {
    assert(
      slot >= 0 && slot < this.slotCount && offsetInSlot >= 0 && offsetInSlot + data.length <= this.shape.slotBytes,
      'a slot write stays inside one slot of the pool',
    );
    writeFully(this.poolFd, data, this.slotOffset(slot) + offsetInSlot, this.poolPath, `slot ${slot}`);
  }

  /** Makes slot data durable (before a pointer to it is written). */
  syncSlots(): void {
    ioSync(this.poolFd, this.poolPath);
  }

  /**
   * Changes counts by `delta` and writes them to pool.refs (after the pointers they follow).
   * A slot whose count reaches 0 goes on the free list, with its extent when known.
   */
  adjust(changes: ReadonlyArray<{ slot: number; delta: number; extentBytes?: number }>): void {
    for (const c of changes) {
      assert(c.slot >= 0 && c.slot < this.slotCount, `slot ${c.slot} is in the pool`);
      const next = (this.counts[c.slot] as number) + c.delta;
      assert(next >= 0, `slot ${c.slot} keeps a non-negative count`);
      this.counts[c.slot] = next;
      if (next === 0 && c.delta < 0) {
        this.free.push(c.slot);
        this.freedExtent.set(c.slot, c.extentBytes ?? this.shape.slotBytes);
      }
    }
    if (changes.length > 64) {
      this.writeAllCounts();
      return;
    }
    const entry = Buffer.alloc(REFCOUNT_BYTES);
    for (const c of changes) {
      entry.writeUInt32LE(this.counts[c.slot] as number, 0);
      writeFully(this.refsFd, entry, REFS_HEADER_LAYOUT.size + c.slot * REFCOUNT_BYTES, this.refsPath, `the count of slot ${c.slot}`);
    }
  }

  /**
   * A snapshot's count update: +1 for every slot in `added` (UNALLOCATED_SLOT entries skipped),
   * then -1 for every slot in `removed`; written in one call. No per-slot objects: this runs over
   * every track of the volume and must stay cheap (the snapshot is instant).
   */
  swapReferences(added: Uint32Array, removed: ReadonlyArray<{ slot: number; extentBytes: number }>): void {
    for (let i = 0; i < added.length; i++) {
      const slot = added[i] as number;
      if (slot === UNALLOCATED_SLOT) continue;
      assert(slot < this.slotCount, `slot ${slot} is in the pool`);
      this.counts[slot] = (this.counts[slot] as number) + 1;
    }
    for (const r of removed) {
      const next = (this.counts[r.slot] as number) - 1;
      assert(next >= 0, `slot ${r.slot} keeps a non-negative count`);
      this.counts[r.slot] = next;
      if (next === 0) {
        this.free.push(r.slot);
        this.freedExtent.set(r.slot, r.extentBytes);
      }
    }
    this.writeAllCounts();
  }

  private writeAllCounts(): void {
    const body = Buffer.from(this.counts.buffer, this.counts.byteOffset, this.slotCount * REFCOUNT_BYTES);
    writeFully(this.refsFd, body, REFS_HEADER_LAYOUT.size, this.refsPath, 'the counts');
  }

  /** Replaces every count (the check tool's repair) and makes them durable. */
  replaceCounts(counts: Uint32Array): void {
    assert(counts.length === this.slotCount, 'one count per slot');
    this.counts = counts.slice();
    this.writeAllCounts();
    this.rebuildFreeList();
    this.freedExtent.clear();
    ioSync(this.refsFd, this.refsPath);
  }

  sync(): void {
    ioSync(this.poolFd, this.poolPath);
    ioSync(this.refsFd, this.refsPath);
  }

  /** Writes every count, marks the file clean, and releases the lock. */
  override close(): void {
    if (this.refsFd >= 0) {
      ioSync(this.poolFd, this.poolPath);
      this.writeAllCounts();
      ioSync(this.refsFd, this.refsPath);
      this.writeRefsHeader(REFS_STATE.clean);
      ioSync(this.refsFd, this.refsPath);
    }
    this.release();
  }

  private release(): void {
    if (this.refsFd >= 0) closeSync(this.refsFd);
    this.refsFd = -1;
    super.close();
    this.lock?.release();
    this.lock = undefined;
  }
}
