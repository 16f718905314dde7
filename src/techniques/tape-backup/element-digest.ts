/**
 * An element's data digest (UTL1), in either of the constructions a tape may name
 * (native-layout/backup-tape-labels.md):
 *   BLKSHA256=<hex>  SHA-256 of the concatenation of each data block's own SHA-256 (32 raw bytes
 *                    of its payload, the chunk header excluded), in tape order. A backup writes it:
 *                    the digest pass hashes each block from the tape beside the copy
 *                    (block-digest-pass.ts), on several threads once the copy is done, and the
 *                    backup only folds 32 bytes per block at its finish.
 *   SHA256=<hex>     SHA-256 of the element's block payloads in tape order, one stream: the
 *                    construction of tapes written before; still verified and restored.
 * Both are read back the same way: `ElementHasher` is told each block's payload, whole, in order.
 */
import { createHash, type Hash } from 'node:crypto';

export type ElementDigestKind = 'BLKSHA256' | 'SHA256';

/** The construction a new backup writes. */
export const NEW_ELEMENT_DIGEST: ElementDigestKind = 'BLKSHA256';

/** Bytes of one block's digest (a SHA-256) in the digest pass's record (block-digest-pass.ts). */
export const BLOCK_DIGEST_BYTES = 32;

/** An element's recorded digest: its construction and its hex value. */
export interface ElementDigest {
  readonly kind: ElementDigestKind;
  readonly hex: string;
}

/** Hashes an element's blocks, one whole payload per `update`, in tape order, as `kind` says. */
export class ElementHasher {
  readonly kind: ElementDigestKind;
  private readonly outer: Hash = createHash('sha256');

  constructor(kind: ElementDigestKind) {
    this.kind = kind;
  }

  /** One data block's payload (all of it: a block split in two calls would be two blocks). */
  update(payload: Uint8Array): void {
    this.outer.update(this.kind === 'SHA256' ? payload : createHash('sha256').update(payload).digest());
  }

  digest(): Buffer {
    return this.outer.digest();
  }
}

/**
 * BLKSHA256 of `count` blocks whose own digests lie end to end in `blockDigests` from block
 * `first` (BLOCK_DIGEST_BYTES each, in tape order).
 */
export function foldBlockDigests(blockDigests: Uint8Array, first: number, count: number): string {
  return createHash('sha256')
    .update(blockDigests.subarray(first * BLOCK_DIGEST_BYTES, (first + count) * BLOCK_DIGEST_BYTES))
    .digest('hex');
}
