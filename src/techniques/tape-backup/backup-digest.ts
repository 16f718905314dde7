/**
 * SHA-256 of a whole tape file, in large sequential reads. (Each element's own digest is made by
 * the copy, block by block, and folded at the finish: element-digest.ts, finish-tape-task.ts.)
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFully } from '../../base/file-io.js';
import { translateIoError } from '../../errors/io-error.js';

/** Bytes read per call while hashing: large sequential reads, bounded memory. */
const HASH_READ_BYTES = 8 * 1024 * 1024;

/**
 * SHA-256 of a whole tape: `lengthBytes` from `baseOffsetBytes` (the file's size when omitted). An
 * incremental tape names its base by it (the base tape's labels and data alike).
 */
export function digestWholeTape(tapePath: string, baseOffsetBytes = 0, lengthBytes?: number): string {
  let fd: number;
  try {
    fd = openSync(tapePath, 'r');
  } catch (error) {
    throw translateIoError(error, 'open the tape to hash it', tapePath);
  }
  try {
    const end = baseOffsetBytes + (lengthBytes ?? fstatSync(fd).size - baseOffsetBytes);
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, Math.max(1, end - baseOffsetBytes)));
    for (let at = baseOffsetBytes; at < end;) {
      const take = Math.min(buffer.length, end - at);
      readFully(fd, buffer.subarray(0, take), at, tapePath, 'the tape');
      hash.update(buffer.subarray(0, take));
      at += take;
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}
