/**
 * Bytes that lie in one buffer, or in several back to back: an NBD WRITE's payload as the socket's
 * chunks hold it (views of them, no copy), passed down the write chain to one pwritev
 * (file-io.ts `writevFullyAsync`). A step that needs the bytes in one buffer gathers them once
 * (`gatherBytes`); slices and lengths never copy.
 *
 * Invariants: a list is in order and is not changed by whoever holds it; its pieces may be empty.
 */

/** One buffer, or several whose bytes follow each other. */
export type ScatteredBytes = Buffer | readonly Buffer[];

/** The number of bytes. */
export function scatteredLength(bytes: ScatteredBytes): number {
  if (Buffer.isBuffer(bytes)) return bytes.length;
  let total = 0;
  for (const piece of bytes) total += piece.length;
  return total;
}

/** The pieces, in order (one buffer is a list of one). */
export function scatteredPieces(bytes: ScatteredBytes): readonly Buffer[] {
  return Buffer.isBuffer(bytes) ? [bytes] : bytes;
}

/** Bytes [start, end) as views of the same memory: one buffer where one piece holds them, else a list. */
export function sliceScattered(bytes: ScatteredBytes, start: number, end: number): ScatteredBytes {
  if (Buffer.isBuffer(bytes)) return bytes.subarray(start, end);
  const out: Buffer[] = [];
  let at = 0;
  // Bounded by the number of pieces.
  for (const piece of bytes) {
    if (at >= end) break;
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, piece.length);
    if (from < to) out.push(from === 0 && to === piece.length ? piece : piece.subarray(from, to));
    at += piece.length;
  }
  return out.length === 1 ? (out[0] as Buffer) : out;
}

/** The bytes in one buffer: the buffer itself, or (several pieces) one copy of them all. */
export function gatherBytes(bytes: ScatteredBytes): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  return bytes.length === 1 ? (bytes[0] as Buffer) : Buffer.concat(bytes);
}
