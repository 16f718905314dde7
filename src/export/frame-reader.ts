/**
 * A bounded, incremental reader over a socket: `readExact(n)` resolves with exactly n bytes,
 * however the bytes were split across 'data' events. Both the NBD server and client parse with it.
 *
 * Invariants:
 * - at most one `readExact` is pending at a time (the protocol is parsed by one loop);
 * - `n` never exceeds `maxFrameBytes`;
 * - buffered bytes stay under max(readAheadBytes, the pending request) plus one socket chunk:
 *   the socket is paused at the read-ahead mark and resumed when the parser has consumed below it;
 * - once the socket ends or fails, every pending and later read rejects with a FrameReaderClosed.
 */
import type { Socket } from 'node:net';
import { assert, assertInteger } from '../base/assert.js';

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
}

export class FrameReader {
  // Set once.
  private readonly socket: Socket;
  private readonly readAheadBytes: number;
  private readonly maxFrameBytes: number;
  // Main thread only.
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private pending: PendingRead | undefined;
  private closedReason: string | undefined;
  private paused = false;

  constructor(socket: Socket, options: FrameReaderOptions) {
    assertInteger(options.readAheadBytes, 'readAheadBytes', 1);
    assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1);
    this.socket = socket;
    this.readAheadBytes = options.readAheadBytes;
    this.maxFrameBytes = options.maxFrameBytes;
    socket.on('data', this.listeners.data);
    socket.on('end', this.listeners.end);
    socket.on('close', this.listeners.close);
    socket.on('error', this.listeners.error);
  }

  private readonly listeners = {
    data: (chunk: Buffer): void => this.onData(chunk),
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
    this.socket.off('data', this.listeners.data);
    this.socket.off('end', this.listeners.end);
    this.socket.off('close', this.listeners.close);
    this.socket.off('error', this.listeners.error);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
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
   * Exactly `length` bytes. They are a view of what the socket gave when one chunk holds them all;
   * else they are gathered into `into` when given (a buffer of at least `length` bytes the caller
   * reuses, so a large frame costs no allocation), or into a new buffer.
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
   * order, no copy): for a payload that is written where it lies (an NBD WRITE's, by pwritev). No
   * read may be pending.
   */
  takeBuffered(length: number): Buffer[] {
    assertInteger(length, 'take length', 0, this.maxFrameBytes);
    assert(this.pending === undefined, 'one read at a time');
    assert(length <= this.bufferedBytes, 'take only what is buffered');
    const views: Buffer[] = [];
    let left = length;
    // Bounded by the number of buffered chunks.
    while (left > 0) {
      const chunk = this.chunks[0];
      assert(chunk !== undefined, 'buffered chunks cover the take');
      if (chunk.length <= left) {
        views.push(chunk);
        this.chunks.shift();
        left -= chunk.length;
      } else {
        views.push(chunk.subarray(0, left));
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.bufferedBytes -= length;
    this.updateFlow();
    return views;
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

  private onData(chunk: Buffer): void {
    if (this.closedReason !== undefined) return;
    this.chunks.push(chunk);
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
    const views = this.takeBuffered(length);
    // One chunk held them: a view of it, no copy.
    if (views.length === 1) return views[0] as Buffer;
    const out = into === undefined ? Buffer.allocUnsafe(length) : into.subarray(0, length);
    let filled = 0;
    // Bounded by the number of views.
    for (const view of views) filled += view.copy(out, filled);
    return out;
  }
}
