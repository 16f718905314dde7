/**
 * One positioned read that fills its buffer: `readSync` may return fewer bytes than asked, so it is
 * called until the buffer is full. A file that ends first is an I/O error naming the byte offset,
 * or the error `shortRead` makes (a CCKD file that ends inside its own tables is damaged, not an
 * I/O failure). Used wherever image or tape bytes are read by position (the copy workers included).
 */
import { readSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import type { SnaptapeError } from '../errors/snaptape-error.js';

export function readFully(
  fd: number,
  into: Buffer,
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
      throw shortRead?.(positionBytes + done)
        ?? translateIoError({ code: 'EIO', message: `${what} ends at byte ${positionBytes + done}` }, `read ${what}`, path);
    }
    done += n;
  }
}
