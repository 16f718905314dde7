/**
 * A bounded, incremental reader over a socket: `readExact(n)` resolves with exactly n bytes,
 * however the bytes were split across 'data' events. Both the NBD server and client parse with it.
 *
 * Invariants:
 * - at most one `readExact` is pending at a time (the protocol is parsed by one loop);
 * - `n` never exceeds `maxFrameBytes`;
 * - buffered bytes stay under max(readAheadBytes, the pending request) plus one socket chunk:
 *   the socket is paused at the read-ahead mark and resumed when the parser has consumed below it;
 * - once the socket ends or fails, every pending and later read rejects with a FrameReaderClosed;
 * - a reader over an accepted server socket (`FrameReader.adopting`) has the socket read into
 *   reused slabs (read-slabs.ts) instead of a fresh buffer per read: what `readExact` returns is
 *   then always a copy (the slab is reused at once), and the views `takeBuffered` returns stay as
 *   they are until their `release`.
 */
import type { Socket } from 'node:net';
import { assert, assertInteger } from '../base/assert.js';
import { readsInto } from '../base/socket-reads-into.js';
import type { BufferPool } from './buffer-pool.js';
import { ReadSlabs, type ReadSlab } from './read-slabs.js';

/** Why a read could not complete: the peer closed, the socket failed, or the reader was closed. */
export class FrameReaderClosed extends Error {
  constructor(readonly reason: string) {
    super(`frame reader closed: ${reason}`);
    this.name = 'FrameReaderClosed';
  }
}

interface PendingRead {
  readonly length: number;
  readonly into: Buffer | undefined;
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

export interface FrameReaderOptions {
  readonly readAheadBytes: number;
  readonly maxFrameBytes: number;
  /** Called on every read from the socket (the client was heard). */
  readonly heard?: () => void;
}

/** Bytes taken as views of what the socket read (`takeBuffered`): they stay as they are until `release()`. */
export interface TakenBytes {
  readonly views: Buffer[];
  /** The views are no longer used: their memory may take further reads. Idempotent. */
  release(): void;
}

const releaseNothing = (): void => undefined;

export class FrameReader {
  // Set once.
  private readonly socket: Socket;
  private readonly readAheadBytes: number;
  private readonly maxFrameBytes: number;
  /** The slabs the socket reads into, for a reader made by `adopting`; else undefined (fresh memory per read). */
  private readonly slabs: ReadSlabs | undefined;
  private readonly heard: (() => void) | undefined;
  // Main thread only.
  private chunks: Buffer[] = [];
  /** The slab each chunk lies in (undefined: memory of its own), one per chunk. */
  private chunkSlabs: (ReadSlab | undefined)[] = [];
  private bufferedBytes = 0;
  private pending: PendingRead | undefined;
  private closedReason: string | undefined;
  private paused = false;

  constructor(socket: Socket, options: FrameReaderOptions, slabs?: ReadSlabs) {
    assertInteger(options.readAheadBytes, 'readAheadBytes', 1);
    assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1);
    this.socket = socket;
    this.readAheadBytes = options.readAheadBytes;
    this.maxFrameBytes = options.maxFrameBytes;
    this.heard = options.heard;
    this.slabs = slabs;
    // A socket over slabs reads no 'data' unless its Node ignored `onread` (then they are read as usual).
    socket.on('data', this.listeners.data);
    socket.on('end', this.listeners.end);
    socket.on('close', this.listeners.close);
    socket.on('error', this.listeners.error);
  }

  /**
   * A reader over a connection `accepted` by a server with `pauseOnConnect`, whose reads land in
   * slabs from `pool`, reused (base/socket-reads-into.ts), and the socket to use for it from now
   * on. Where this Node does not allow that, a reader over `accepted` itself, resumed, which reads
   * into fresh memory as usual.
   */
  static adopting(
    accepted: Socket,
    options: FrameReaderOptions & { readonly pool: BufferPool; readonly allowHalfOpen: boolean },
  ): { reader: FrameReader; socket: Socket } {
    const slabs = new ReadSlabs(options.pool);
    // The reader exists only once the socket does: reads come from libuv later, never in between.
    let reader: FrameReader | undefined;
    const socket = readsInto(
      accepted,
      {
        room: () => slabs.room(),
        landed: (length, into) => {
          const read = slabs.landed(length, into);
          assert(reader !== undefined, 'no read lands before the reader exists');
          reader.onData(read.bytes, read.slab);
        },
      },
      { allowHalfOpen: options.allowHalfOpen },
    );
    if (socket === undefined) {
      reader = new FrameReader(accepted, options);
      accepted.resume();
      return { reader, socket: accepted };
    }
    reader = new FrameReader(socket, options, slabs);
    return { reader, socket };
  }

  /** True where the socket reads into reused slabs (see `adopting`). */
  get readsIntoSlabs(): boolean {
    return this.slabs !== undefined;
  }

  private readonly listeners = {
    data: (chunk: Buffer): void => this.onData(chunk, undefined),
    end: (): void => this.close('peer closed the connection'),
    close: (): void => this.close('connection closed'),
    error: (error: Error): void => this.close(`socket error: ${error.message}`),
  };

  /**
   * Stops reading from the socket (a STARTTLS upgrade hands it to TLS) and returns the bytes read
   * but not consumed. No read may be pending; the reader is closed afterwards.
   */
  detach(): Buffer {
    assert(this.pending === undefined, 'no read is pending at a detach');
    assert(this.slabs === undefined, 'a reader over slabs is not detached');
    this.socket.off('data', this.listeners.data);
    this.socket.off('end', this.listeners.end);
    this.socket.off('close', this.listeners.close);
    this.socket.off('error', this.listeners.error);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.chunkSlabs = [];
    this.bufferedBytes = 0;
    this.close('handed over to TLS');
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    return rest;
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  /**
   * Exactly `length` bytes. They are a view of what the socket gave when one chunk holds them all
   * (never for a reader over slabs, whose memory takes further reads); else they are gathered into
   * `into` when given (a buffer of at least `length` bytes the caller reuses, so a large frame
   * costs no allocation), or into a new buffer.
   */
  readExact(length: number, into?: Buffer): Promise<Buffer> {
    assertInteger(length, 'read length', 0, this.maxFrameBytes);
    assert(this.pending === undefined, 'one read at a time');
    assert(into === undefined || into.length >= length, 'the buffer holds the frame');
    if (this.bufferedBytes >= length) return Promise.resolve(this.take(length, into));
    if (this.closedReason !== undefined) return Promise.reject(new FrameReaderClosed(this.closedReason));
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { length, into, resolve, reject };
      this.updateFlow();
    });
  }

  /**
   * The next `length` bytes, all already buffered, as views of the chunks the socket gave (in
   * order, no copy): for a payload that is written where it lies (an NBD WRITE's, by pwritev). They
   * stay as they are until `release()` (call it once they are no longer used). No read may be pending.
   */
  takeBuffered(length: number): TakenBytes {
    assertInteger(length, 'take length', 0, this.maxFrameBytes);
    assert(this.pending === undefined, 'one read at a time');
    assert(length <= this.bufferedBytes, 'take only what is buffered');
    const views: Buffer[] = [];
    // The slabs the views lie in, with their bytes (consecutive views of one slab counted together).
    const held: ReadSlab[] = [];
    const heldBytes: number[] = [];
    let left = length;
    // Bounded by the number of buffered chunks.
    while (left > 0) {
      const chunk = this.chunks[0];
      const slab = this.chunkSlabs[0];
      assert(chunk !== undefined, 'buffered chunks cover the take');
      const step = Math.min(chunk.length, left);
      if (chunk.length <= left) {
        views.push(chunk);
        this.chunks.shift();
        this.chunkSlabs.shift();
      } else {
        views.push(chunk.subarray(0, left));
        this.chunks[0] = chunk.subarray(left);
      }
      left -= step;
      if (slab === undefined) continue;
      const last = held.length - 1;
      if (held[last] === slab) heldBytes[last] = (heldBytes[last] as number) + step;
      else {
        held.push(slab);
        heldBytes.push(step);
      }
    }
    this.bufferedBytes -= length;
    this.updateFlow();
    return { views, release: held.length === 0 ? releaseNothing : this.releaser(held, heldBytes) };
  }

  /** Releases `bytes[i]` of `held[i]` for each i, once, however often it is called. */
  private releaser(held: readonly ReadSlab[], bytes: readonly number[]): () => void {
    const slabs = this.slabs;
    assert(slabs !== undefined, 'only a reader over slabs holds bytes');
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.forEach((slab, i) => slabs.release(slab, bytes[i] as number));
    };
  }

  /**
   * A copy of the buffered bytes [at, at + length), without consuming them; undefined where fewer
   * are buffered. For a parser that looks at the next frame before it decides to read it.
   */
  peek(at: number, length: number): Buffer | undefined {
    assertInteger(at, 'peek start', 0);
    assertInteger(length, 'peek length', 0, this.maxFrameBytes);
    if (this.bufferedBytes < at + length) return undefined;
    const out = Buffer.allocUnsafe(length);
    let skip = at;
    let filled = 0;
    // Bounded by the number of buffered chunks.
    for (const chunk of this.chunks) {
      if (filled === length) break;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const step = Math.min(chunk.length - skip, length - filled);
      chunk.copy(out, filled, skip, skip + step);
      filled += step;
      skip = 0;
    }
    return out;
  }

  /** Stops reading; a pending read rejects. Idempotent. */
  close(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) pending.reject(new FrameReaderClosed(reason));
  }

  private onData(chunk: Buffer, slab: ReadSlab | undefined): void {
    this.heard?.();
    if (this.closedReason !== undefined) {
      if (slab !== undefined) this.slabs?.release(slab, chunk.length);
      return;
    }
    this.chunks.push(chunk);
    this.chunkSlabs.push(slab);
    this.bufferedBytes += chunk.length;
    const pending = this.pending;
    if (pending !== undefined && this.bufferedBytes >= pending.length) {
      this.pending = undefined;
      pending.resolve(this.take(pending.length, pending.into));
    }
    this.updateFlow();
  }

  /** Pauses at the read-ahead mark unless a pending read still needs more bytes. */
  private updateFlow(): void {
    const wanted = this.pending?.length ?? 0;
    const shouldPause = this.bufferedBytes >= Math.max(this.readAheadBytes, wanted);
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private take(length: number, into: Buffer | undefined): Buffer {
    const taken = this.takeBuffered(length);
    const views = taken.views;
    // One chunk of memory of its own held them: a view of it, no copy.
    if (views.length === 1 && this.slabs === undefined) return views[0] as Buffer;
    const out = into === undefined ? Buffer.allocUnsafe(length) : into.subarray(0, length);
    let filled = 0;
    // Bounded by the number of views.
    for (const view of views) filled += view.copy(out, filled);
    taken.release();
    return out;
  }
}
