/**
 * The channel between a restore's owning thread and its hash worker (hash-worker.ts): Int32 words
 * in host byte order, touched only through Atomics, then the digest and a failure's text, in one
 * SharedArrayBuffer (native-layout/restore-hash-channel.md). The tape is read into two windows in
 * turn, plain ArrayBuffers that travel: the owning thread transfers a window to the worker with the
 * byte ranges of its blocks once it has written them, and reads the next window into the other one
 * while the worker hashes; the worker sends the window back (on a MessagePort the owning thread
 * reads synchronously) before it lowers the window's BUSY word. A plain buffer, not a shared one:
 * V8 copies and hashes out of a SharedArrayBuffer markedly slower.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ElementDigestKind } from '../tape-backup/element-digest.js';

export const HASH_WORD = {
  /** 1 while window 0 is with the worker: raised by the owning thread as it posts it, lowered by the worker once it sent it back. */
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
  /** Where the worker sends each window back, once hashed. */
  readonly windowsBack: MessagePort;
}

/** In `ranges`, an offset that stands for the next of `copies`, in its turn (its length is 0). */
export const COPY_MARK = 0xffffffff;

/** Messages the owning thread posts to the worker; the worker handles them in order. */
export type ToHashWorker =
  /** Start an element's digest in construction `digest` (tape-backup/element-digest.ts). */
  | { readonly kind: 'begin'; readonly digest: ElementDigestKind }
  /**
   * Hash the bytes of `buffer` (window `window`) at the (offset, length) pairs of `ranges`, one pair
   * per block (the construction hashes each block whole), a pair
   * whose offset is COPY_MARK standing for the next of `copies` (a block that was not a view into
   * the window: joined from chunks, or decompressed); then send the window back and lower its BUSY word.
   */
  | { readonly kind: 'window'; readonly window: 0 | 1; readonly buffer: ArrayBuffer; readonly ranges: Uint32Array; readonly copies: readonly Uint8Array[] }
  /** Hash these bytes (one block read outside the windows: a span too big for one). */
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  /** Put the digest of everything hashed since the last `begin`. */
  | { readonly kind: 'digest' }
  /** Start an fdatasync of `path` (the restore's target), then lower WRITEBACK_BUSY. */
  | { readonly kind: 'writeback'; readonly path: string };

/** What the worker sends back on `windowsBack`. */
export interface WindowBack {
  readonly window: 0 | 1;
  readonly buffer: ArrayBuffer;
}
