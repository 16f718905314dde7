/**
 * Positioned file I/O with one rule for a short read or write: `readSync`/`writeSync` may move
 * fewer bytes than asked, so each call is repeated until the whole buffer is done. A read that
 * meets the end of the file first is an I/O error naming the byte offset (or the error `shortRead`
 * makes); a write that makes no progress is an I/O error. Every positional read and write of
 * image, tape, bitmap and spool bytes goes through here.
 */
import { readSync, writeSync, writevSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import type { SnaptapeError } from '../errors/snaptape-error.js';

export function readFully(
  fd: number,
  into: Uint8Array,
  positionBytes: number,
  path: string,
  what = 'the source',
  shortRead?: (endOffsetBytes: number) => SnaptapeError,
): void {
  let done = 0;
  // Bounded: every pass either reads at least one byte or throws.
  while (done < into.length) {
    let n: number;
    try {
      n = readSync(fd, into, done, into.length - done, positionBytes + done);
    } catch (error) {
      throw translateIoError(error, `read ${what} at byte ${positionBytes + done}`, path);
    }
    if (n === 0) {
      throw (
        shortRead?.(positionBytes + done) ?? translateIoError({ code: 'EIO', message: `${what} ends at byte ${positionBytes + done}` }, `read ${what}`, path)
      );
    }
    done += n;
  }
}

export function writeFully(fd: number, data: Uint8Array, positionBytes: number, path: string, what = 'the target'): void {
  let done = 0;
  // Bounded: every pass either writes at least one byte or throws.
  while (done < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, done, data.length - done, positionBytes + done);
    } catch (error) {
      throw translateIoError(error, `write ${what} at byte ${positionBytes + done}`, path);
    }
    if (n === 0) throw translateIoError({ code: 'EIO', message: `short write at byte ${positionBytes + done}` }, `write ${what}`, path);
    done += n;
  }
}

/** Writes `buffers` back to back from `positionBytes`; after a short writev the rest goes by `writeFully`. */
export function writevFully(fd: number, buffers: readonly Uint8Array[], positionBytes: number, path: string, what = 'the target'): void {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  let written: number;
  try {
    written = writevSync(fd, buffers as Uint8Array[], positionBytes);
  } catch (error) {
    throw translateIoError(error, `write ${what} at byte ${positionBytes}`, path);
  }
  if (written === total) return;
  // Bounded by the buffers: each is finished with writeFully from where the writev stopped.
  let at = 0;
  for (const buffer of buffers) {
    const end = at + buffer.length;
    if (end > written) writeFully(fd, buffer.subarray(Math.max(0, written - at)), positionBytes + Math.max(at, written), path, what);
    at = end;
  }
}
