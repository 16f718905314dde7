/**
 * The memory an NBD server connection reads its socket into: slabs from the connection's buffer
 * pool, each filled from its start by one socket read after another, and reused once every byte
 * read into it has been consumed and released. A socket that reads into fresh memory instead (what
 * Node does for an accepted connection) allocates a 64 KiB ArrayBuffer per read: about 43,000 for
 * one `nbdcopy` of a 2.85 GB export, which V8 counts as external memory and answers with a major
 * collection every 64 MiB or so.
 *
 * Invariants:
 * - `room()` is where the next read lands: the unfilled tail of the current slab, never a byte that
 *   holds data not yet released;
 * - bytes read (`landed`) are held until `release`d; a slab goes back to the pool only once nothing
 *   in it is held and it is no longer the current one, and the current one starts again from its
 *   start only when nothing in it is held. So bytes taken as views (a WRITE payload on its way to
 *   the disk) stay as they were until released, however many reads come after them;
 * - a hold never released only keeps its slab from reuse (the garbage collector takes it): it can
 *   never let a read overwrite bytes in use;
 * - slabs in use are bounded by the bytes held (the connection's read-ahead and its WRITEs in
 *   flight), each slab at most READ_SLAB_BYTES; retained free ones by the pool's bound;
 * - the first slab is small (FIRST_SLAB_BYTES): a connection whose reads are consumed at once (a
 *   handshake, READ requests, an idle client) keeps only that; the first read still held when the
 *   next comes moves it to full slabs. So a flood of connections that send little holds little.
 */
import { assert, assertInteger } from '../base/assert.js';
import type { BufferPool } from './buffer-pool.js';

/** One slab; a read never spans two, so the socket reads at most this much at once. */
export const READ_SLAB_BYTES = 1024 * 1024;
/** A current slab with less room than this is left for a fresh one (a read of less would cost syscalls). */
export const MIN_READ_ROOM_BYTES = 128 * 1024;
/** The slab a connection starts with. */
export const FIRST_SLAB_BYTES = MIN_READ_ROOM_BYTES;

/** One slab of read memory: filled from its start, bytes held until released. */
export class ReadSlab {
  // Main thread only.
  /** Bytes from the start that reads have filled. */
  filled = 0;
  /** Bytes read into it and not yet released. */
  held = 0;

  constructor(readonly bytes: Buffer) {}
}

export class ReadSlabs {
  // Set once.
  private readonly pool: BufferPool;
  // Main thread only.
  private current: ReadSlab;

  constructor(pool: BufferPool) {
    this.pool = pool;
    this.current = new ReadSlab(pool.take(FIRST_SLAB_BYTES));
  }

  /** Where the next read lands: at least MIN_READ_ROOM_BYTES that hold nothing in use. */
  room(): Buffer {
    const slab = this.current;
    if (slab.held === 0) slab.filled = 0;
    else if (slab.bytes.length - slab.filled < MIN_READ_ROOM_BYTES) this.current = new ReadSlab(this.pool.take(READ_SLAB_BYTES));
    return this.current.bytes.subarray(this.current.filled);
  }

  /**
   * Records a read of `length` bytes into `into`, the last `room()`: they are held from now on.
   * Returns them (a view) and their slab, to release them by.
   */
  landed(length: number, into: Uint8Array): { readonly bytes: Buffer; readonly slab: ReadSlab } {
    const slab = this.current;
    assertInteger(length, 'bytes read', 1, slab.bytes.length - slab.filled);
    assert(into.buffer === slab.bytes.buffer && into.byteOffset === slab.bytes.byteOffset + slab.filled, 'a read lands in the last room given');
    const bytes = slab.bytes.subarray(slab.filled, slab.filled + length);
    slab.filled += length;
    slab.held += length;
    return { bytes, slab };
  }

  /** Ends the hold on `length` bytes of `slab`; a slab no longer current and holding nothing goes back to the pool. */
  release(slab: ReadSlab, length: number): void {
    assertInteger(length, 'bytes released', 0, slab.held);
    slab.held -= length;
    if (slab.held === 0 && slab !== this.current) this.pool.give(slab.bytes);
  }
}
