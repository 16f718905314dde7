/**
 * The shared memory between a restore's owning thread and its hash worker (hash-worker.ts):
 * Int32 words in host byte order, touched only through Atomics, then the digest and a failure's
 * text (native-layout/restore-hash-channel.md). The tape is read into two shared windows in turn;
 * the owning thread posts the byte ranges of each window's blocks, in order, and the worker hashes
 * them while the owning thread writes those blocks and reads the next window.
 */

export const HASH_WORD = {
  /** Messages of ranges in window 0 not yet hashed: raised by the owning thread as it posts one, lowered by the worker. */
  WINDOW0_BUSY: 0,
  /** The same for window 1. */
  WINDOW1_BUSY: 1,
  /** Raised by the worker each time it has put a digest in the digest bytes. */
  DIGEST_SEQ: 2,
  /** Writebacks (an fdatasync of the target) in flight: 0 or 1. */
  WRITEBACK_BUSY: 3,
  /** Bytes of the worker's failure text; nonzero once it failed (it then hashes nothing more). */
  FAILURE_BYTES: 4,
} as const;

export const HASH_CONTROL_WORDS = 8;
/** The digest: 32 bytes after the control words. */
export const DIGEST_OFFSET_BYTES = HASH_CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT;
export const DIGEST_BYTES = 32;
/** A failure's text (UTF-8, cut to fit) after the digest. */
export const FAILURE_OFFSET_BYTES = DIGEST_OFFSET_BYTES + DIGEST_BYTES;
export const FAILURE_MAX_BYTES = 512;
export const HASH_CONTROL_BYTES = FAILURE_OFFSET_BYTES + FAILURE_MAX_BYTES;

/** What the worker is started with. */
export interface HashWorkerData {
  readonly control: SharedArrayBuffer;
  readonly windows: readonly [SharedArrayBuffer, SharedArrayBuffer];
}

/** Messages the owning thread posts to the worker; the worker handles them in order. */
export type ToHashWorker =
  /** Hash the bytes of `window` at the (offset, length) pairs of `ranges`, then lower its BUSY word. */
  | { readonly kind: 'ranges'; readonly window: 0 | 1; readonly ranges: Uint32Array }
  /** Hash these bytes (a block not read into a shared window: decompressed, or joined from chunks). */
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  /** Put the digest of everything hashed since the last one, and start a new one. */
  | { readonly kind: 'digest' }
  /** Start an fdatasync of `path` (the restore's target), then lower WRITEBACK_BUSY. */
  | { readonly kind: 'writeback'; readonly path: string };
