/**
 * Reusable buffers of one NBD server connection: the READ replies (header room, then the data
 * read straight into it) and the WRITE payloads. A fresh buffer per request costs its page faults
 * and garbage collection, which at disk speed is a good part of the server's time.
 *
 * Invariants:
 * - a buffer is handed out by `take` and comes back by `give` at most once, after its last use (a
 *   reply's buffer when the socket has written it, a payload's when the backend's write returned);
 * - buffers come in size classes of BUFFER_CLASS_BYTES, so requests of one size reuse each other's;
 * - at most `maxRetainedBytes` are kept for reuse; a buffer beyond that (or larger than it) is left to
 *   the garbage collector, so a client's odd sizes cannot grow what the connection holds.
 */
import { assertInteger } from '../base/assert.js';

/** Size classes: a buffer is the request rounded up to a multiple of this. */
export const BUFFER_CLASS_BYTES = 64 * 1024;

export class BufferPool {
  // Set once.
  private readonly maxRetainedBytes: number;
  // Main thread only.
  private readonly free = new Map<number, Buffer[]>();
  private retainedBytes = 0;

  constructor(maxRetainedBytes: number) {
    assertInteger(maxRetainedBytes, 'maxRetainedBytes', 0);
    this.maxRetainedBytes = maxRetainedBytes;
  }

  /** A buffer of at least `length` bytes (its contents are whatever it held last). */
  take(length: number): Buffer {
    assertInteger(length, 'buffer length', 0);
    const size = Math.max(1, Math.ceil(length / BUFFER_CLASS_BYTES)) * BUFFER_CLASS_BYTES;
    const reused = this.free.get(size)?.pop();
    if (reused === undefined) return Buffer.allocUnsafeSlow(size);
    this.retainedBytes -= size;
    return reused;
  }

  /** Takes back a buffer from `take` that nobody uses any more. */
  give(buffer: Buffer): void {
    if (this.retainedBytes + buffer.length > this.maxRetainedBytes) return;
    const list = this.free.get(buffer.length);
    if (list === undefined) this.free.set(buffer.length, [buffer]);
    else list.push(buffer);
    this.retainedBytes += buffer.length;
  }

  /** Bytes kept for reuse. */
  get retained(): number {
    return this.retainedBytes;
  }
}
